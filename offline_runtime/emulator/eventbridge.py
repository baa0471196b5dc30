"""Delivers EventBridge rule targets that moto does not (Lambda, Step Functions, SNS), asynchronously.

Matching stays moto's (``rule.event_pattern``); moto keeps delivering the targets it supports.
Events are shaped as AWS delivers them (ISO time, no ingestion-time, S3 "etag"), and S3 events
reach only default-bus rules, as on AWS. Lambda targets are invoked the way AWS invokes
asynchronously: retried on function error, then sent to the function's on-failure destination.
"""

from __future__ import annotations

import copy
import json
import queue
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from moto.awslambda.utils import get_backend as lambda_backend
from moto.events.models import Rule
from moto.events.utils import EventTemplateParser
from moto.utilities.arns import parse_arn

OFFLINE_TARGETS = ("lambda", "states", "sns")  # moto 5.2.5 raises NotImplementedError for sns


@dataclass
class Delivery:
    rule: str
    target_arn: str
    payload: Any
    attempts: int = 0


@dataclass
class AsyncFailure:
    function: str
    error: str
    payload: dict[str, Any]


@dataclass
class DeliveryLog:
    delivered: int = 0
    failures: list[AsyncFailure] = field(default_factory=list)


def send_to_queue(region: str, queue_arn: str, record: dict[str, Any]) -> None:
    """An on-failure destination (SQS) receiving AWS's failure record."""
    sqs = boto3.client("sqs", region_name=region)
    url = sqs.get_queue_url(QueueName=queue_arn.rsplit(":", 1)[1])["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record, default=str))


def aws_shape(event: dict[str, Any]) -> dict[str, Any]:
    """moto's internal event -> what a target receives on AWS."""
    shaped = copy.deepcopy(event)
    shaped.pop("ingestion-time", None)
    t = shaped.get("time")
    if isinstance(t, (int, float)):
        shaped["time"] = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if shaped.get("source") == "aws.s3":
        obj = shaped.get("detail", {}).get("object", {})
        if "eTag" in obj:
            obj["etag"] = obj.pop("eTag")
        if obj.get("version-id") is None:
            obj.pop("version-id", None)
    return shaped


def _json_path(event: dict[str, Any], path: str) -> Any:
    value: Any = event
    for part in [p for p in path.lstrip("$").split(".") if p]:
        value = value[part]
    return value


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        return _json_path(event, target["InputPath"])
    transformer = target.get("InputTransformer")
    if transformer:
        rendered = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            # moto's parser also offers the predefined <aws.events.event.ingestion-time>
            event={**event, "ingestion-time": event.get("ingestion-time", event.get("time"))},
        )
        return rendered
    return event


class EventBridgeDelivery:
    def __init__(
        self, region: str, on_failure: dict[str, str] | None = None, max_async_retries: int = 2
    ) -> None:
        self.region = region
        self.on_failure = on_failure or {}  # function name -> SQS queue ARN
        self.max_async_retries = max_async_retries
        self.log = DeliveryLog()
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._busy = threading.Event()
        self._original: Any = None
        self._worker: threading.Thread | None = None

    # -- installation -------------------------------------------------------------------
    def install(self) -> None:
        delivery = self
        original = Rule.send_to_targets
        self._original = original

        def send_to_targets(rule: Rule, event: Any, transform_input: bool = True) -> None:
            if rule.state != "ENABLED" or rule.scheduled_expression:
                return  # scheduled rules fire on their schedule only (offline: offline_runtime.cli.schedule)
            if event.get("source") == "aws.s3" and rule.event_bus_name != "default":
                return  # AWS sends S3 notifications to the default bus only
            native = [t for t in rule.targets if parse_arn(t["Arn"]).service not in OFFLINE_TARGETS]
            if native:
                view = copy.copy(rule)
                view.targets = native
                original(view, event, transform_input)
            if len(native) == len(rule.targets) or not rule.event_pattern.matches_event(event):
                return
            shaped = aws_shape(event)
            for target in rule.targets:
                if parse_arn(target["Arn"]).service in OFFLINE_TARGETS:
                    delivery.enqueue(Delivery(rule.name, target["Arn"], target_input(target, shaped)))

        Rule.send_to_targets = send_to_targets  # type: ignore[method-assign]
        self._worker = threading.Thread(target=self._run, name="eventbridge-delivery", daemon=True)
        self._worker.start()

    def uninstall(self) -> None:
        if self._original is not None:
            Rule.send_to_targets = self._original  # type: ignore[method-assign]
            self._original = None
        if self._worker is not None:
            while True:  # whatever is still queued dies with the offline account
                try:
                    self._queue.get_nowait()
                    self._queue.task_done()
                except queue.Empty:
                    break
            self._queue.put(None)
            self._worker.join(timeout=30)
            self._worker = None

    # -- delivery -----------------------------------------------------------------------
    def enqueue(self, delivery: Delivery) -> None:
        self._queue.put(delivery)

    @property
    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deliver(item)
            except Exception:  # a delivery bug must not kill the worker
                traceback.print_exc()
            finally:
                self._queue.task_done()

    def _deliver(self, item: Delivery) -> None:
        arn = parse_arn(item.target_arn)
        if arn.service == "sns":
            message = item.payload if isinstance(item.payload, str) else json.dumps(item.payload)
            boto3.client("sns", region_name=self.region).publish(TopicArn=item.target_arn, Message=message)
            self.log.delivered += 1
            return
        if arn.service == "states":
            boto3.client("stepfunctions", region_name=self.region).start_execution(
                stateMachineArn=item.target_arn,
                name=f"{item.rule[:40]}-{uuid.uuid4().hex[:20]}",
                input=json.dumps(item.payload),
            )
            self.log.delivered += 1
            return
        fn = lambda_backend(arn.account, arn.region).get_function(item.target_arn)
        payload_text, errored, _logs = fn._invoke_lambda(event=item.payload)
        self.log.delivered += 1
        if not errored:
            return
        if item.attempts < self.max_async_retries:
            item.attempts += 1
            time.sleep(0.05 * item.attempts)
            self.enqueue(item)
            return
        self.log.failures.append(AsyncFailure(fn.function_name, payload_text, item.payload))
        destination = self.on_failure.get(fn.function_name)
        if destination:
            send_to_queue(
                self.region,
                destination,
                {
                    "version": "1.0",
                    "timestamp": datetime.now(UTC).isoformat(),
                    "requestContext": {
                        "functionArn": fn.function_arn,
                        "condition": "RetriesExhausted",
                        "approximateInvokeCount": item.attempts + 1,
                    },
                    "requestPayload": item.payload,
                    "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
                    "responsePayload": json.loads(payload_text),
                },
            )
