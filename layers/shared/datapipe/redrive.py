"""Replay what the pipeline parked, after the cause is fixed: the same tool offline and on AWS.

Every asynchronous hop of the template ends in an SQS parking place (README "Parking places").
``parking_places`` finds them in a deployed stack's (SAM-expanded) template, with what parks in
each; ``Redrive.run`` replays each parked message to where it was going, chosen by its shape:

- a Lambda on-failure record (``requestContext`` + ``requestPayload``): the payload is invoked
  again, asynchronously, on the function that failed (its retries and destination apply again);
- an EventBridge dead letter (``RULE_ARN``/``TARGET_ARN`` attributes): the body, which is what the
  target was to receive, goes to that target (Lambda asynchronously, Step Functions StartExecution
  named after the message, SNS Publish, SQS SendMessage);
- a message SQS moved after ``maxReceiveCount``, or a raw SNS delivery to an SQS subscriber: back
  to the source queue;
- an SNS delivery to a Lambda subscriber: the SNS event, rebuilt, invoked asynchronously.

Kept, never replayed (listed with the reason): stream on-failure records (they point at a batch in
the DynamoDB stream; README says how to reprocess it) and deliveries to e-mail or SMS subscribers
(SNS cannot deliver to one subscription alone: republishing would notify every subscriber again).

Safe to run twice: a message is received with a visibility timeout (no concurrent run takes it),
replayed, and deleted only after the replay was accepted; a message seen twice in one run is
replayed once; a Step Functions replay is named after the parked message, so a repeated start is
refused by Step Functions itself. The replayed work is made idempotent by its consumer.

On AWS: ``python -m datapipe.redrive --stack retail-datapipe-dev [--dry-run] [--queue LogicalId]``.
For a queue whose only source is an SQS redrive, ``aws sqs start-message-move-task --source-arn
<dlq arn>`` does the same move natively.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3

SQS_LIMIT = 10
VISIBILITY_S = 300

# the message kinds (what the report counts)
LAMBDA_FAILURE = "lambda-on-failure"
EVENTBRIDGE = "eventbridge-dead-letter"
SQS_REDRIVE = "sqs-redrive"
SNS_DELIVERY = "sns-delivery"
STREAM_BATCH = "stream-batch"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Source:
    """One thing that parks messages in a queue (``kind``: eventbridge, lambda-async, sqs, sns, stream)."""

    kind: str
    origin: str  # logical id of the rule / function / queue / subscription / mapping
    target: str = ""  # sqs: the source queue URL; sns: the subscription endpoint; stream: function
    protocol: str = ""  # sns only
    raw: bool = False  # sns only: RawMessageDelivery


@dataclass
class ParkingPlace:
    logical_id: str
    queue_url: str
    sources: list[Source] = field(default_factory=list)


@dataclass
class Parked:
    """One parked message as the report shows it (no payload: it may hold ids)."""

    queue: str
    message_id: str
    kind: str
    destination: str
    detail: str


@dataclass
class QueueReport:
    queue: str
    replayed: int = 0
    kept: list[Parked] = field(default_factory=list)
    failed: list[Parked] = field(default_factory=list)
    seen: list[Parked] = field(default_factory=list)


def _ref(value: Any) -> str | None:
    """The logical id an intrinsic names (Ref X, GetAtt [X, Arn], Fn::GetAtt X.Arn)."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        att = value.get("Fn::GetAtt")
        if isinstance(att, list):
            return str(att[0])
        if isinstance(att, str):
            return att.split(".")[0]
    return None


def parking_places(template: dict[str, Any], physical: dict[str, str]) -> list[ParkingPlace]:
    """The queues that park failed deliveries, from a processed (SAM-expanded) template.

    ``physical``: logical id -> physical id (a queue's is its URL, as CloudFormation's Ref)."""
    resources: dict[str, Any] = template.get("Resources", {})
    places: dict[str, ParkingPlace] = {}

    def park(queue_ref: Any, source: Source) -> None:
        logical = _ref(queue_ref)
        if logical is None or logical not in physical or source.origin not in physical:
            return  # not deployed (a Condition left it out)
        place = places.setdefault(logical, ParkingPlace(logical, physical[logical]))
        if source not in place.sources:
            place.sources.append(source)

    for logical, res in resources.items():
        props = res.get("Properties") or {}
        kind = res.get("Type")
        if kind == "AWS::Lambda::EventInvokeConfig":
            dest = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            park(dest, Source("lambda-async", _ref(props.get("FunctionName")) or logical))
        elif kind == "AWS::Events::Rule":
            for target in props.get("Targets") or []:
                park((target.get("DeadLetterConfig") or {}).get("Arn"), Source("eventbridge", logical))
        elif kind == "AWS::SQS::Queue":
            policy = props.get("RedrivePolicy") or {}
            if isinstance(policy, dict) and logical in physical:
                park(policy.get("deadLetterTargetArn"), Source("sqs", logical, physical[logical]))
        elif kind == "AWS::SNS::Subscription":
            policy = props.get("RedrivePolicy") or {}
            if isinstance(policy, dict):
                endpoint = props.get("Endpoint")
                endpoint_ref = _ref(endpoint)
                target = physical.get(endpoint_ref, "") if endpoint_ref else str(endpoint or "")
                raw = str(props.get("RawMessageDelivery", "false")).lower() == "true"
                park(
                    policy.get("deadLetterTargetArn"),
                    Source("sns", logical, target, str(props.get("Protocol", "")), raw),
                )
        elif kind == "AWS::Lambda::EventSourceMapping":
            dest = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            park(dest, Source("stream", logical, _ref(props.get("FunctionName")) or ""))
    return sorted(places.values(), key=lambda p: p.logical_id)


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _attr(message: dict[str, Any], name: str) -> str | None:
    value = (message.get("MessageAttributes") or {}).get(name) or {}
    return value.get("StringValue")


def _unqualified(function_arn: str) -> str:
    """arn:...:function:name[:qualifier] -> arn:...:function:name ($LATEST is what failed)."""
    parts = function_arn.split(":")
    return ":".join(parts[:7]) if len(parts) > 7 else function_arn


class Redrive:
    """Replays parked messages (see the module docstring); ``clients`` makes boto3 clients."""

    def __init__(self, region: str, clients: Callable[[str], Any] | None = None) -> None:
        make: Any = boto3.client  # the service name is data here
        self._client = clients or (lambda service: make(service, region_name=region))
        self._cache: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._cache:
            self._cache[service] = self._client(service)
        return self._cache[service]

    # -- what a message is and where it goes ---------------------------------------------
    def classify(self, place: ParkingPlace, message: dict[str, Any]) -> tuple[str, str, str]:
        """(kind, destination, detail) of a parked message."""
        body = _json(message["Body"])
        if isinstance(body, dict) and "requestContext" in body:
            ctx = body["requestContext"] or {}
            if "DDBStreamBatchInfo" in body:
                info = body["DDBStreamBatchInfo"]
                return (
                    STREAM_BATCH,
                    _unqualified(str(ctx.get("functionArn", ""))),
                    f"shard {info.get('shardId')} sequence {info.get('startSequenceNumber')}.."
                    f"{info.get('endSequenceNumber')} ({info.get('batchSize')} records): not replayable "
                    "from the queue; reprocess from the stream (README: Redrive)",
                )
            if "requestPayload" in body:
                return (
                    LAMBDA_FAILURE,
                    _unqualified(str(ctx.get("functionArn", ""))),
                    f"{ctx.get('condition')} after {ctx.get('approximateInvokeCount')} attempts",
                )
        target = _attr(message, "TARGET_ARN")
        if target:
            return EVENTBRIDGE, target, f"{_attr(message, 'ERROR_CODE')} from {_attr(message, 'RULE_ARN')}"
        for source in place.sources:
            if source.kind == "sqs":
                return SQS_REDRIVE, source.target, f"moved here by {source.origin}'s redrive policy"
        for source in place.sources:
            if source.kind == "sns":
                if source.protocol in ("lambda", "sqs"):
                    return SNS_DELIVERY, source.target, f"{source.protocol} subscription {source.origin}"
                return (
                    SNS_DELIVERY,
                    "",
                    f"{source.protocol} subscription {source.origin}: not replayable (SNS cannot deliver "
                    "to one subscription alone); read it and fix the endpoint",
                )
        return UNKNOWN, "", "no known source for this message: kept"

    def replay(self, place: ParkingPlace, message: dict[str, Any], kind: str, destination: str) -> bool:
        """Send one parked message on; True when the replay was accepted (then it may be deleted)."""
        body_text: str = message["Body"]
        if not destination:
            return False
        if kind == LAMBDA_FAILURE:
            payload = json.loads(body_text)["requestPayload"]
            return self._invoke_async(destination, payload)
        if kind == EVENTBRIDGE:
            return self._to_target(destination, body_text, message["MessageId"])
        if kind == SQS_REDRIVE:
            return self._send(destination, body_text, message)
        if kind == SNS_DELIVERY:
            source = next(s for s in place.sources if s.kind == "sns" and s.target == destination)
            if source.protocol == "sqs":
                return self._send(self._queue_url(destination), self._sns_body(body_text, source), message)
            return self._invoke_async(destination, self._sns_event(body_text, source))
        return False

    def _invoke_async(self, function: str, payload: Any) -> bool:
        resp = self.client("lambda").invoke(
            FunctionName=function, InvocationType="Event", Payload=json.dumps(payload).encode()
        )
        return int(resp.get("StatusCode", 0)) == 202

    def _to_target(self, arn: str, body: str, message_id: str) -> bool:
        service = arn.split(":")[2]
        if service == "lambda":
            return self._invoke_async(arn, _json(body) if _json(body) is not None else body)
        if service == "states":
            sfn = self.client("stepfunctions")
            try:
                sfn.start_execution(stateMachineArn=arn, name=f"redrive-{message_id}"[:80], input=body)
            except sfn.exceptions.ExecutionAlreadyExists:
                return True  # replayed by an earlier run whose delete did not happen
            return True
        if service == "sns":
            self.client("sns").publish(TopicArn=arn, Message=body)
            return True
        if service == "sqs":
            return self._send(self._queue_url(arn), body, None)
        return False

    def _queue_url(self, arn_or_url: str) -> str:
        if not arn_or_url.startswith("arn:"):
            return arn_or_url
        parts = arn_or_url.split(":")
        return str(
            self.client("sqs").get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        )

    def _send(self, queue_url: str, body: str, message: dict[str, Any] | None) -> bool:
        kwargs: dict[str, Any] = {"QueueUrl": queue_url, "MessageBody": body}
        attributes = (message or {}).get("MessageAttributes")
        if attributes:
            kwargs["MessageAttributes"] = {
                k: {kk: vv for kk, vv in v.items() if kk in ("DataType", "StringValue", "BinaryValue")}
                for k, v in attributes.items()
            }
        self.client("sqs").send_message(**kwargs)
        return True

    @staticmethod
    def _envelope(body: str) -> dict[str, Any] | None:
        parsed = _json(body)
        if isinstance(parsed, dict) and parsed.get("Type") == "Notification" and "Message" in parsed:
            return parsed
        return None

    def _sns_body(self, body: str, source: Source) -> str:
        envelope = self._envelope(body)
        if source.raw and envelope is not None:
            return str(envelope["Message"])
        return body

    def _sns_event(self, body: str, source: Source) -> dict[str, Any]:
        """The event SNS gives a Lambda subscriber, from a parked envelope (or a bare message)."""
        envelope = self._envelope(body) or {"Type": "Notification", "Message": body, "MessageAttributes": {}}
        return {
            "Records": [
                {
                    "EventVersion": "1.0",
                    "EventSource": "aws:sns",
                    "EventSubscriptionArn": source.origin,
                    "Sns": {"MessageAttributes": {}, **envelope},
                }
            ]
        }

    # -- running ----------------------------------------------------------------------------
    def _receive(self, place: ParkingPlace, visibility: int) -> list[dict[str, Any]]:
        resp = self.client("sqs").receive_message(
            QueueUrl=place.queue_url,
            MaxNumberOfMessages=SQS_LIMIT,
            VisibilityTimeout=visibility,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        return list(resp.get("Messages", []))

    def _parked_count(self, place: ParkingPlace) -> int:
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=place.queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attrs.get("ApproximateNumberOfMessages", 0))

    def run(self, places: Iterable[ParkingPlace], dry_run: bool = False) -> list[QueueReport]:
        reports = []
        for place in places:
            report = QueueReport(place.logical_id)
            handled: set[str] = set()
            kept: list[dict[str, Any]] = []
            # only what was parked when the run began: a replay that fails again parks a new
            # message, which the next run (after the next fix) replays, never this one in a loop
            budget = self._parked_count(place)
            while len(handled) < budget:
                batch = [m for m in self._receive(place, VISIBILITY_S) if m["MessageId"] not in handled]
                if not batch:
                    break
                for message in batch[: budget - len(handled)]:
                    handled.add(message["MessageId"])
                    kind, destination, detail = self.classify(place, message)
                    parked = Parked(place.logical_id, message["MessageId"], kind, destination, detail)
                    report.seen.append(parked)
                    replayable = kind in (LAMBDA_FAILURE, EVENTBRIDGE, SQS_REDRIVE, SNS_DELIVERY) and bool(
                        destination
                    )
                    if dry_run or not replayable:
                        if not replayable:
                            report.kept.append(parked)
                        kept.append(message)
                        continue
                    try:
                        accepted = self.replay(place, message, kind, destination)
                    except Exception as exc:  # reported; the message stays parked
                        parked.detail += f"; replay refused: {type(exc).__name__}: {exc}"
                        accepted = False
                    if accepted:
                        report.replayed += 1
                        try:
                            self.client("sqs").delete_message(
                                QueueUrl=place.queue_url, ReceiptHandle=message["ReceiptHandle"]
                            )
                        except Exception as exc:  # replayed but still parked: the next run replays it
                            parked.detail += f"; replayed, not deleted: {type(exc).__name__}"
                            report.failed.append(parked)
                            kept.append(message)
                    else:
                        report.failed.append(parked)
                        kept.append(message)
            for message in kept:  # visible again at once: the next run (or a reader) sees them
                self.client("sqs").change_message_visibility(
                    QueueUrl=place.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            reports.append(report)
        return reports


def describe(reports: list[QueueReport], dry_run: bool) -> str:
    lines = []
    for r in reports:
        if not r.seen:
            lines.append(f"{r.queue}: empty")
            continue
        verb = "parked" if dry_run else f"replayed {r.replayed}, kept {len(r.kept)}, failed {len(r.failed)}"
        lines.append(f"{r.queue}: {len(r.seen)} {verb}")
        for p in r.seen:
            lines.append(f"  {p.message_id} {p.kind} -> {p.destination or '-'}: {p.detail}")
    return "\n".join(lines)


def stack_parking_places(stack_name: str, region: str) -> list[ParkingPlace]:
    """A deployed CloudFormation stack's parking places (its processed template + physical ids)."""
    cfn = boto3.client("cloudformation", region_name=region)
    body = cfn.get_template(StackName=stack_name, TemplateStage="Processed")["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    physical: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for res in page["StackResourceSummaries"]:
            if res.get("PhysicalResourceId"):
                physical[res["LogicalResourceId"]] = res["PhysicalResourceId"]
    return parking_places(template, physical)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay what a deployed stack parked (see the module doc).")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--region", default=None)
    parser.add_argument("--queue", action="append", default=[], help="logical id of a parking place")
    parser.add_argument("--dry-run", action="store_true", help="list what is parked, replay nothing")
    args = parser.parse_args(argv)
    region = args.region or boto3.session.Session().region_name or "us-east-1"
    places = [
        p for p in stack_parking_places(args.stack, region) if not args.queue or p.logical_id in args.queue
    ]
    reports = Redrive(region).run(places, dry_run=args.dry_run)
    print(describe(reports, args.dry_run))
    return 1 if any(r.failed for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
