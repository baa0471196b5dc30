"""Asynchronous invocation as Lambda does it: queued, retried, then sent to a destination.

Used for ``Invoke`` with ``InvocationType=Event`` and by every service that invokes
asynchronously (EventBridge rules, SNS subscriptions, S3 notifications, Scheduler).

- A function error is retried ``MaximumRetryAttempts`` times (default 2), one minute before the
  first retry and two before the second (AWS's delays, in emulated time: no wall time spent).
- An event older than ``MaximumEventAgeInSeconds`` (default 6 h) is not retried any more.
- Throttles (reserved concurrency exhausted) are retried without counting as attempts.
- After the last attempt the AWS failure record goes to the ``OnFailure`` destination (SQS, SNS,
  Lambda or an event bus) of the function's EventInvokeConfig, else to its legacy dead-letter
  queue (``DeadLetterConfig``), else it is only recorded (``failures``) — as on AWS, where it is
  then lost, which is why the template must give every async function a parking place.
- A success goes to the ``OnSuccess`` destination when one is configured.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.models import LambdaFunction
from moto.utilities.arns import parse_arn

from offline_runtime.emulator import clients
from offline_runtime.emulator.clock import Clock
from offline_runtime.emulator.dispatcher import Dispatcher
from offline_runtime.emulator.lambda_runtime import LambdaRuntime, Throttled
from offline_runtime.emulator.patches import AttributePatch, Patch

DEFAULT_MAX_RETRIES = 2
DEFAULT_MAX_AGE_S = 21_600
RETRY_DELAYS_S = (60.0, 120.0)
THROTTLE_DELAY_S = 1.0


@dataclass
class AsyncFailure:
    function: str
    logical_id: str
    condition: str  # RetriesExhausted | EventAgeExceeded
    attempts: int
    response: dict[str, Any]
    request: Any
    destination: str | None


@dataclass
class _Pending:
    fn: LambdaFunction
    event: Any
    request_id: str
    first_seen: float
    attempts: int = 0


@dataclass
class InvokerLog:
    invoked: int = 0
    succeeded: int = 0
    failures: list[AsyncFailure] = field(default_factory=list)
    destination_errors: list[str] = field(default_factory=list)


class AsyncInvoker:
    def __init__(self, runtime: LambdaRuntime, dispatcher: Dispatcher, clock: Clock, region: str) -> None:
        self.runtime = runtime
        self.dispatcher = dispatcher
        self.clock = clock
        self.region = region
        self.log = InvokerLog()
        self._lock = threading.Lock()

    # -- moto seam: Invoke with InvocationType=Event ----------------------------------------
    def patches(self) -> list[Patch]:
        invoker = self
        original = LambdaFunction.invoke

        def invoke(fn: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> Any:
            kind = (request_headers or {}).get("x-amz-invocation-type") or (request_headers or {}).get(
                "X-Amz-Invocation-Type"
            )
            if kind == "Event":
                invoker.invoke_async(fn, json.loads(body) if body else {})
                return ""
            return original(fn, body, request_headers, response_headers)

        return [
            AttributePatch(
                LambdaFunction,
                "invoke",
                invoke,
                "moto runs InvocationType=Event synchronously; AWS queues it and retries",
            )
        ]

    # -- asynchronous invocation ----------------------------------------------------------
    def invoke_async(self, fn: LambdaFunction, event: Any) -> str:
        pending = _Pending(fn, event, str(uuid.uuid4()), self.clock.now())
        with self._lock:
            self.log.invoked += 1
        self.dispatcher.submit(lambda: self._attempt(pending), name=f"async:{fn.function_name}")
        return pending.request_id

    def _config(self, fn: LambdaFunction) -> dict[str, Any]:
        configs = getattr(fn, "event_invoke_config", None) or []
        return dict(configs[0].config) if configs else {}

    def _attempt(self, pending: _Pending) -> None:
        fn = pending.fn
        try:
            payload, errored, _logs = self.runtime.invoke(fn, pending.event, "Event")
        except Throttled:
            self.dispatcher.submit(
                lambda: self._attempt(pending),
                delay=THROTTLE_DELAY_S,
                name=f"async-throttled:{fn.function_name}",
            )
            return
        pending.attempts += 1
        config = self._config(fn)
        if not errored:
            with self._lock:
                self.log.succeeded += 1
            dest = (config.get("DestinationConfig") or {}).get("OnSuccess", {}).get("Destination")
            if dest:
                self._send(dest, self._record(fn, pending, "Success", payload, errored=False))
            return
        max_retries = int(config.get("MaximumRetryAttempts", DEFAULT_MAX_RETRIES))
        max_age = float(config.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE_S))
        retries_done = pending.attempts - 1
        if retries_done < max_retries:
            delay = RETRY_DELAYS_S[min(retries_done, len(RETRY_DELAYS_S) - 1)]
            if self.clock.now() + delay - pending.first_seen <= max_age:
                self.dispatcher.submit(
                    lambda: self._attempt(pending), delay=delay, name=f"async-retry:{fn.function_name}"
                )
                return
            condition = "EventAgeExceeded"
        else:
            condition = "RetriesExhausted"
        self._fail(fn, pending, condition, payload, config)

    def _fail(
        self, fn: LambdaFunction, pending: _Pending, condition: str, payload: str, config: dict[str, Any]
    ) -> None:
        dest = (config.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
        legacy = (getattr(fn, "dead_letter_config", None) or {}).get("TargetArn")
        record = self._record(fn, pending, condition, payload, errored=True)
        source = self.runtime.sources.get(fn.function_name)
        with self._lock:
            self.log.failures.append(
                AsyncFailure(
                    fn.function_name,
                    source.logical_id if source else fn.function_name,
                    condition,
                    pending.attempts,
                    _json(payload),
                    pending.event,
                    dest or legacy,
                )
            )
        if dest:
            self._send(dest, record)
        elif legacy:
            response = _json(payload)
            self._send(
                legacy,
                pending.event,
                attributes={
                    "RequestID": pending.request_id,
                    "ErrorCode": "200",
                    "ErrorMessage": str(response.get("errorMessage", ""))[:1000],
                },
            )

    def _record(
        self, fn: LambdaFunction, pending: _Pending, condition: str, payload: str, errored: bool
    ) -> dict[str, Any]:
        response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
        if errored:
            response_context["functionError"] = "Unhandled"
        return {
            "version": "1.0",
            "timestamp": datetime.fromtimestamp(self.clock.now(), UTC).isoformat(),
            "requestContext": {
                "requestId": pending.request_id,
                "functionArn": f"{fn.function_arn}:$LATEST",
                "condition": condition,
                "approximateInvokeCount": pending.attempts,
            },
            "requestPayload": pending.event,
            "responseContext": response_context,
            "responsePayload": _json(payload),
        }

    def _send(self, arn: str, body: Any, attributes: dict[str, str] | None = None) -> None:
        """Deliver a destination record (through the AWS APIs, so limits and faults apply)."""
        try:
            send_to_destination(self.region, arn, body, attributes, invoker=self)
        except Exception as exc:  # AWS drops a record it cannot deliver; offline it is recorded
            with self._lock:
                self.log.destination_errors.append(f"{arn}: {exc}")


def send_to_destination(
    region: str,
    arn: str,
    body: Any,
    attributes: dict[str, str] | None = None,
    invoker: AsyncInvoker | None = None,
) -> None:
    """SQS / SNS / Lambda / EventBridge destination of a failure or success record."""
    parsed = parse_arn(arn)
    text = body if isinstance(body, str) else json.dumps(body, default=str)
    attrs: dict[str, Any] = {
        k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()
    }
    if parsed.service == "sqs":
        sqs = clients.client("sqs", region)
        url = sqs.get_queue_url(QueueName=parsed.resource_id, QueueOwnerAWSAccountId=parsed.account)[
            "QueueUrl"
        ]
        sqs.send_message(QueueUrl=url, MessageBody=text, MessageAttributes=attrs)
    elif parsed.service == "sns":
        clients.client("sns", region).publish(TopicArn=arn, Message=text, MessageAttributes=attrs)
    elif parsed.service == "lambda":
        clients.client("lambda", region).invoke(
            FunctionName=arn, InvocationType="Event", Payload=text.encode()
        )
    elif parsed.service == "events":
        clients.client("events", region).put_events(
            Entries=[
                {
                    "EventBusName": arn,
                    "Source": "lambda",
                    "DetailType": "Lambda Function Invocation Result - Failure",
                    "Detail": text,
                }
            ]
        )
    else:
        raise ValueError(f"unsupported destination {arn}")


def _json(payload: str) -> dict[str, Any]:
    try:
        value = json.loads(payload) if payload else None
    except ValueError:
        return {"raw": payload}
    return value if isinstance(value, dict) else {"value": value}
