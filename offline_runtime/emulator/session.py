"""Helpers for tests, the demo and the CLI on a deployed offline stack (any template).

``offline_aws()`` without a template deploys ``$OFFLINE_TEMPLATE`` or ``./template.yaml``, as the
SAM CLI does.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.emulator.stack import offline_aws as _offline_aws

EXAMPLE_NAME = re.compile(r"\b[a-z0-9-]+?-([a-z0-9]+)-example\b")


def default_template() -> Path:
    return Path(os.environ.get("OFFLINE_TEMPLATE", "template.yaml"))


@contextlib.contextmanager
def offline_aws(
    template: Path | None = None,
    parameters: dict[str, str] | None = None,
    echo_logs: bool = False,
    concurrency: int = 1,
    stack_name: str = "offline",
    only: list[str] | None = None,
) -> Iterator[OfflineStack]:
    with _offline_aws(
        template or default_template(),
        parameters=parameters,
        echo_logs=echo_logs,
        concurrency=concurrency,
        stack_name=stack_name,
        only=only,
    ) as stack:
        yield stack


def localise(stack: OfflineStack, event: Any) -> Any:
    """Example physical names in sample events (``<stack>-<logical id lowercased>-example``, the
    shape CloudFormation gives generated names) -> this offline stack's physical names."""
    by_lower = {logical.lower(): physical for logical, physical in stack.physical.items()}

    def swap(match: re.Match[str]) -> str:
        return by_lower.get(match.group(1), match.group(0))

    return json.loads(EXAMPLE_NAME.sub(swap, json.dumps(event)))


def disable_rules(stack: OfflineStack) -> None:
    """Like `sam local invoke`: only the function asked for runs. Events it emits are accepted by
    the bus, messages by topics and queues, but no rule, Lambda subscription or event-source
    mapping of the template delivers them (observers a test adds afterwards still receive)."""
    events = stack.client("events")
    for bus in events.list_event_buses()["EventBuses"]:
        for rule in events.list_rules(EventBusName=bus["Name"])["Rules"]:
            events.disable_rule(Name=rule["Name"], EventBusName=bus["Name"])
    sns = stack.client("sns")
    for sub in sns.list_subscriptions()["Subscriptions"]:
        if sub["Protocol"] == "lambda":
            sns.unsubscribe(SubscriptionArn=sub["SubscriptionArn"])
    lam = stack.client("lambda")
    for esm in lam.list_event_source_mappings()["EventSourceMappings"]:
        lam.update_event_source_mapping(UUID=esm["UUID"], Enabled=False)


def invoke(stack: OfflineStack, logical_id: str, event: Any) -> tuple[Any, bool, str]:
    """Synchronous invoke through moto's Lambda API (and so through the in-process runtime)."""
    return stack.invoke(logical_id, event)


def run_state_machine(
    stack: OfflineStack, logical_id: str, execution_input: Any, timeout_s: float = 120
) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    arn = stack.start_execution(logical_id, execution_input)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING":
            return dict(desc)
        time.sleep(0.05)
    raise TimeoutError(f"execution {arn} still running after {timeout_s}s")


def state_path(execution_arn: str, stack: OfflineStack) -> list[str]:
    """Names of the states an execution entered, in order."""
    history = stack.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def queue_arn(stack: OfflineStack, url: str) -> str:
    return str(
        stack.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    )


def _observer_queue(stack: OfflineStack, name: str) -> str:
    """A test observer's queue keeps messages 14 days (SQS's maximum): firing next Sunday's schedule
    moves the emulated clock days ahead, past SQS's default retention of 4 days."""
    attributes = {"MessageRetentionPeriod": "1209600"}
    return str(stack.client("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])


def observe_bus(stack: OfflineStack, name: str, bus: str, pattern: dict[str, Any] | None = None) -> str:
    """An SQS queue receiving a bus's events (everything, or what ``pattern`` matches)."""
    url = _observer_queue(stack, name)
    events = stack.client("events")
    events.put_rule(
        Name=name, EventBusName=bus, EventPattern=json.dumps(pattern or {"account": [stack.account]})
    )
    events.put_targets(
        Rule=name, EventBusName=bus, Targets=[{"Id": "observer", "Arn": queue_arn(stack, url)}]
    )
    return url


def observe_topic(stack: OfflineStack, topic_arn: str, name: str) -> str:
    """An SQS queue subscribed to an SNS topic (moto's own delivery, filter policies included)."""
    url = _observer_queue(stack, name)
    stack.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(stack, url))
    return url


def drain(stack: OfflineStack, url: str, settle: bool = True) -> list[dict[str, Any]]:
    """Every message of a queue (bodies parsed as JSON), deleted; test observers only.

    ``settle``: first wait until everything already set off has been delivered (EventBridge
    delivers to its targets asynchronously, as on AWS); a progress loop passes False."""
    if settle:
        stack.wait_idle()
    sqs = stack.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        out += [json.loads(m["Body"]) for m in msgs]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)],
        )


# -- what an event refers to -------------------------------------------------------------
def s3_references(event: Any) -> list[dict[str, Any]]:
    """The S3 objects an event names: ``{bucket, key, version_id, etag}``."""
    refs: list[dict[str, Any]] = []
    if not isinstance(event, dict):
        return refs
    detail = event.get("detail")
    if event.get("source") == "aws.s3" and isinstance(detail, dict):
        obj, bucket = detail.get("object") or {}, detail.get("bucket") or {}
        if isinstance(obj, dict) and isinstance(bucket, dict) and obj.get("key") and bucket.get("name"):
            refs.append(
                {
                    "bucket": bucket["name"],
                    "key": obj["key"],
                    "version_id": obj.get("version-id"),
                    "etag": obj.get("etag"),
                }
            )
    for record in event.get("Records") or []:
        s3 = record.get("s3") if isinstance(record, dict) else None
        if isinstance(s3, dict) and isinstance(s3.get("object"), dict) and isinstance(s3.get("bucket"), dict):
            obj = s3["object"]
            refs.append(
                {
                    "bucket": s3["bucket"].get("name"),
                    "key": obj.get("key"),
                    "version_id": obj.get("versionId"),
                    "etag": obj.get("eTag"),
                }
            )
    return [r for r in refs if r["bucket"] and r["key"]]


def set_version_id(stack: OfflineStack, bucket: str, key: str, current: str, wanted: str) -> None:
    """Give the local object the version id the event names (moto invents its own on put)."""
    from moto.s3.models import s3_backends

    backend = s3_backends[stack.account]["aws"]
    for version in backend.get_bucket(bucket).keys.getlist(key):
        if version.version_id == current:
            version._version_id = wanted
            return


def put_event_objects(
    stack: OfflineStack, event: Any, data: Path | None, data_dir: Path | None, say: Callable[[str], None]
) -> None:
    s3 = stack.client("s3")
    for ref in s3_references(event):
        bucket, key = ref["bucket"], ref["key"]
        body: bytes | None = None
        if data is not None:
            body, origin = data.read_bytes(), str(data)
        else:
            version = {"VersionId": ref["version_id"]} if ref["version_id"] else {}
            try:
                s3.head_object(Bucket=bucket, Key=key, **version)
                continue  # the bucket has it already (a test or a hook put it there)
            except s3.exceptions.ClientError:
                pass
            candidate = data_dir / Path(key).name if data_dir else None
            if candidate is not None and candidate.exists():
                body, origin = candidate.read_bytes(), str(candidate)
        if body is None:
            say(
                f"no local data for s3://{bucket}/{key}: the handler will not find it "
                "(pass --data FILE / DATA=FILE to upload a file under this key)"
            )
            continue
        try:
            put = s3.put_object(Bucket=bucket, Key=key, Body=body)
        except s3.exceptions.NoSuchBucket:
            say(f"bucket {bucket} is not in this template's stack: s3://{bucket}/{key} not created")
            continue
        etag = str(put["ETag"]).strip('"')
        said = f"put {origin} at s3://{bucket}/{key}"
        if ref["version_id"] and put.get("VersionId"):
            set_version_id(stack, bucket, key, put["VersionId"], ref["version_id"])
            said += f" as version {ref['version_id']} (the event's)"
        elif ref["version_id"]:
            said += (
                f"; the bucket is not versioned, so the event's version {ref['version_id']} cannot resolve"
            )
        if ref["etag"] and ref["etag"].strip('"') != etag:
            said += (
                f"; its ETag is {etag}, the event says {ref['etag']} (a handler comparing them sees a change)"
            )
        say(said)
