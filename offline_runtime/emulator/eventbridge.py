"""EventBridge rule targets delivered as AWS delivers them, with retries and dead-letter queues.

moto matches events to rules (its pattern engine is kept) but delivers only to SQS, CloudWatch
Logs, archives, other buses and API destinations, and ignores a target's ``Input``/``InputPath``
for SQS, its ``RetryPolicy`` and its ``DeadLetterConfig``. Here, for Lambda, Step Functions, SNS
and SQS targets:

- the event is shaped as a target receives it on AWS (ISO time, no ingestion-time, S3 ``etag``);
  ``Input``, ``InputPath`` and ``InputTransformer`` are honoured;
- a Lambda target is invoked asynchronously (Lambda's own retries and destinations then apply);
- a delivery that fails (the target API call raises: a throttled StartExecution, an SNS topic whose
  KMS key EventBridge cannot use, a fault injected into it) is retried with backoff within the
  target's ``RetryPolicy`` (``MaximumRetryAttempts`` default 185, ``MaximumEventAgeInSeconds``
  default 24 h), then sent to the target's ``DeadLetterConfig`` queue with AWS's ``RULE_ARN``,
  ``TARGET_ARN``, ``ERROR_CODE`` and ``ERROR_MESSAGE`` attributes — or only recorded
  (``failures``) when the target has none, as on AWS where the event is then dropped;
- S3 notifications reach only rules of the default bus (moto offers them to every bus).
"""

from __future__ import annotations

import copy
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from moto.awslambda.utils import get_backend as lambda_backend
from moto.events.models import Rule
from moto.events.utils import EventTemplateParser
from moto.utilities.arns import parse_arn

from offline_runtime.emulator import clients
from offline_runtime.emulator.clock import Clock
from offline_runtime.emulator.dispatcher import Dispatcher
from offline_runtime.emulator.invoker import AsyncInvoker, send_to_destination
from offline_runtime.emulator.patches import AttributePatch, Patch

DELIVERED_HERE = ("lambda", "states", "sns", "sqs")
DEFAULT_MAX_ATTEMPTS = 185
DEFAULT_MAX_AGE_S = 86_400


@dataclass
class TargetFailure:
    rule_arn: str
    target_arn: str
    error_code: str
    error_message: str
    attempts: int
    event: Any
    dead_letter_queue: str | None


@dataclass
class DeliveryLog:
    delivered: int = 0
    retried: int = 0
    failures: list[TargetFailure] = field(default_factory=list)


@dataclass
class _Delivery:
    rule_arn: str
    rule_name: str
    target: dict[str, Any]
    payload: Any
    first_seen: float
    attempts: int = 0


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


def _with_ingestion_time(event: dict[str, Any]) -> Any:
    return {**event, "ingestion-time": event.get("ingestion-time", event.get("time"))}


def target_input(target: dict[str, Any], event: dict[str, Any]) -> Any:
    if "Input" in target:
        return json.loads(target["Input"])
    if "InputPath" in target:
        return _json_path(event, target["InputPath"])
    transformer = target.get("InputTransformer")
    if transformer:
        return EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            # moto's parser also offers the predefined <aws.events.event.ingestion-time>
            event=_with_ingestion_time(event),
        )
    return event


class EventBridgeDelivery:
    def __init__(self, invoker: AsyncInvoker, dispatcher: Dispatcher, clock: Clock, region: str) -> None:
        self.invoker = invoker
        self.dispatcher = dispatcher
        self.clock = clock
        self.region = region
        self.log = DeliveryLog()
        self._lock = threading.Lock()

    def patches(self) -> list[Patch]:
        delivery = self
        original = Rule.send_to_targets

        def send_to_targets(rule: Rule, event: Any, transform_input: bool = True) -> None:
            if rule.state != "ENABLED" or rule.scheduled_expression:
                return  # scheduled rules fire on their schedule only (emulator.schedules)
            if event.get("source") == "aws.s3" and rule.event_bus_name != "default":
                return  # AWS sends S3 notifications to the default bus only
            native = [t for t in rule.targets if parse_arn(t["Arn"]).service not in DELIVERED_HERE]
            if native:
                view = copy.copy(rule)
                view.targets = native
                original(view, event, transform_input)
            if len(native) == len(rule.targets) or not rule.event_pattern.matches_event(event):
                return
            shaped = aws_shape(event)
            for target in rule.targets:
                if parse_arn(target["Arn"]).service in DELIVERED_HERE:
                    delivery.deliver(rule.arn, rule.name, target, target_input(target, shaped))

        return [
            AttributePatch(
                Rule,
                "send_to_targets",
                send_to_targets,
                "moto delivers no Lambda/Step Functions/SNS targets and ignores RetryPolicy/DLQs",
            )
        ]

    def deliver(self, rule_arn: str, rule_name: str, target: dict[str, Any], payload: Any) -> None:
        item = _Delivery(rule_arn, rule_name, target, payload, self.clock.now())
        self.dispatcher.submit(lambda: self._attempt(item), name=f"events:{rule_name}")

    def _attempt(self, item: _Delivery) -> None:
        item.attempts += 1
        try:
            self._send(item)
        except ClientError as exc:
            self._retry_or_park(item, exc.response["Error"].get("Code", "ClientError"), str(exc))
            return
        except LookupError as exc:  # the target does not exist (any more)
            self._retry_or_park(item, "ResourceNotFoundException", str(exc))
            return
        with self._lock:
            self.log.delivered += 1

    def _send(self, item: _Delivery) -> None:
        arn = item.target["Arn"]
        parsed = parse_arn(arn)
        if parsed.service == "lambda":
            try:
                fn = lambda_backend(parsed.account, parsed.region).get_function(arn)
            except Exception as exc:
                raise LookupError(f"function {arn} not found") from exc
            self.invoker.invoke_async(fn, item.payload)
        elif parsed.service == "states":
            clients.client("stepfunctions", self.region).start_execution(
                stateMachineArn=arn,
                name=f"{item.rule_name[:40]}-{uuid.uuid4().hex[:20]}",
                input=json.dumps(item.payload),
            )
        elif parsed.service == "sns":
            message = item.payload if isinstance(item.payload, str) else json.dumps(item.payload)
            clients.client("sns", self.region).publish(TopicArn=arn, Message=message)
        elif parsed.service == "sqs":
            body = item.payload if isinstance(item.payload, str) else json.dumps(item.payload)
            sqs = clients.client("sqs", self.region)
            url = sqs.get_queue_url(QueueName=parsed.resource_id, QueueOwnerAWSAccountId=parsed.account)[
                "QueueUrl"
            ]
            kwargs: dict[str, Any] = {}
            group = (item.target.get("SqsParameters") or {}).get("MessageGroupId")
            if group:
                kwargs["MessageGroupId"] = group
            sqs.send_message(QueueUrl=url, MessageBody=body, **kwargs)

    def _retry_or_park(self, item: _Delivery, code: str, message: str) -> None:
        policy = item.target.get("RetryPolicy") or {}
        max_attempts = int(policy.get("MaximumRetryAttempts", DEFAULT_MAX_ATTEMPTS)) + 1
        max_age = float(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S))
        delay = min(2.0 ** (item.attempts - 1), 300.0)  # exponential backoff, as EventBridge's
        if item.attempts < max_attempts and self.clock.now() + delay - item.first_seen <= max_age:
            with self._lock:
                self.log.retried += 1
            self.dispatcher.submit(
                lambda: self._attempt(item), delay=delay, name=f"events-retry:{item.rule_name}"
            )
            return
        dlq = (item.target.get("DeadLetterConfig") or {}).get("Arn")
        with self._lock:
            self.log.failures.append(
                TargetFailure(
                    item.rule_arn, item.target["Arn"], code, message, item.attempts, item.payload, dlq
                )
            )
        if dlq:
            send_to_destination(
                self.region,
                dlq,
                item.payload,
                attributes={
                    "RULE_ARN": item.rule_arn,
                    "TARGET_ARN": item.target["Arn"],
                    "ERROR_CODE": code,
                    "ERROR_MESSAGE": message[:1000],
                },
            )
