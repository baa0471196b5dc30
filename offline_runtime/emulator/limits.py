"""AWS payload limits, enforced with AWS's own error codes (moto checks few of them, differently).

- Lambda ``Invoke``: request payload 6 MB synchronous (``RequestEntityTooLargeException``, 413),
  256 KB asynchronous (``InvocationType=Event``); the 6 MB response limit is the runtime's.
- SNS ``Publish``: message + attributes 256 KiB (``InvalidParameter``: "Message too long");
  ``PublishBatch``: the whole batch 256 KiB (``BatchRequestTooLong``).
- SQS ``SendMessage``: body + attributes up to the queue's ``MaximumMessageSize`` (AWS default
  256 KiB; moto defaults to 1 MiB and ignores the attribute) — ``InvalidParameterValue``;
  ``SendMessageBatch``: the batch total likewise (``BatchRequestTooLong``).
- EventBridge ``PutEvents``: the entries' total size, computed as AWS documents it (Time 14 bytes,
  Source, DetailType, Detail and Resources as UTF-8), under 256 KB (``ValidationException``).
- Step Functions ``StartExecution``: input 256 KiB (``InvalidExecutionInput``).

Checked in the same botocore hooks as faults, so handlers get the exception class and code a
real SDK call would raise. Sizes are bytes of the UTF-8 encoding, as AWS counts them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from offline_runtime.emulator.patches import hook_every_session

KB256 = 256 * 1024
SYNC_INVOKE = 6 * 1024 * 1024
_CONTEXT_KEY = "offline_runtime_limit"


class LimitExceeded:
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.status = status

    def response(self) -> tuple[AWSResponse, dict[str, Any]]:
        from offline_runtime.emulator.faults import _EmptyBody, _metadata

        parsed = {
            "Error": {"Code": self.code, "Message": self.message},
            "ResponseMetadata": _metadata(self.status),
        }
        return AWSResponse("https://offline.invalid/", self.status, HTTPHeaders(), _EmptyBody()), parsed


def _utf8(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bytes | bytearray):
        return len(value)
    return len(str(value).encode("utf-8"))


def _attributes_size(attributes: dict[str, Any] | None) -> int:
    total = 0
    for name, attr in (attributes or {}).items():
        total += _utf8(name) + _utf8(attr.get("DataType"))
        total += _utf8(attr.get("StringValue")) + _utf8(attr.get("BinaryValue"))
    return total


def _lambda_invoke(params: dict[str, Any]) -> LimitExceeded | None:
    size = _utf8(params.get("Payload"))
    if params.get("InvocationType") == "Event" and size > KB256:
        return LimitExceeded(
            "RequestEntityTooLargeException",
            f"{size} byte payload is too large for the Event invocation type (limit {KB256} bytes)",
            413,
        )
    if size > SYNC_INVOKE:
        return LimitExceeded(
            "RequestEntityTooLargeException",
            f"Request must be smaller than {SYNC_INVOKE} bytes for the InvokeFunction operation",
            413,
        )
    return None


def _sns_publish(params: dict[str, Any]) -> LimitExceeded | None:
    size = _utf8(params.get("Message")) + _attributes_size(params.get("MessageAttributes"))
    if size > KB256:
        return LimitExceeded("InvalidParameter", "Invalid parameter: Message too long")
    return None


def _sns_publish_batch(params: dict[str, Any]) -> LimitExceeded | None:
    entries = params.get("PublishBatchRequestEntries") or []
    size = sum(_utf8(e.get("Message")) + _attributes_size(e.get("MessageAttributes")) for e in entries)
    if size > KB256:
        return LimitExceeded(
            "BatchRequestTooLong",
            f"The length of all the messages put together is more than the limit ({size} bytes)",
        )
    return None


def _queue_limit(params: dict[str, Any]) -> int:
    from moto.sqs.models import sqs_backends

    url = str(params.get("QueueUrl", ""))
    name = url.rstrip("/").rsplit("/", 1)[-1]
    for account in list(sqs_backends):
        for region in list(sqs_backends[account]):
            queue = sqs_backends[account][region].queues.get(name)
            if queue is not None:
                return int(queue.maximum_message_size)  # type: ignore[attr-defined]  # set from attributes
    return KB256


def _sqs_send(params: dict[str, Any]) -> LimitExceeded | None:
    size = _utf8(params.get("MessageBody")) + _attributes_size(params.get("MessageAttributes"))
    limit = _queue_limit(params)
    if size > limit:
        return LimitExceeded(
            "InvalidParameterValue",
            f"One or more parameters are invalid. Reason: Message must be shorter than {limit} bytes.",
        )
    return None


def _sqs_send_batch(params: dict[str, Any]) -> LimitExceeded | None:
    entries = params.get("Entries") or []
    size = sum(_utf8(e.get("MessageBody")) + _attributes_size(e.get("MessageAttributes")) for e in entries)
    limit = _queue_limit(params)
    if size > limit:
        return LimitExceeded(
            "BatchRequestTooLong",
            f"Batch requests cannot be longer than {limit} bytes. You have sent {size} bytes.",
        )
    return None


def entry_size(entry: dict[str, Any]) -> int:
    """PutEventsRequestEntry size as EventBridge computes it."""
    size = 14 if entry.get("Time") is not None else 0
    size += _utf8(entry.get("Source")) + _utf8(entry.get("DetailType")) + _utf8(entry.get("Detail"))
    size += sum(_utf8(r) for r in entry.get("Resources") or [])
    return size


def _put_events(params: dict[str, Any]) -> LimitExceeded | None:
    total = sum(entry_size(e) for e in params.get("Entries") or [])
    if total > KB256:
        return LimitExceeded(
            "ValidationException", "Total size of the entries in the request is over the limit."
        )
    return None


def _start_execution(params: dict[str, Any]) -> LimitExceeded | None:
    size = _utf8(params.get("input"))
    if size > KB256:
        return LimitExceeded(
            "InvalidExecutionInput", f"input of {size} bytes exceeds the maximum of {KB256} bytes"
        )
    return None


CHECKS: dict[tuple[str, str], Callable[[dict[str, Any]], LimitExceeded | None]] = {
    ("lambda", "Invoke"): _lambda_invoke,
    ("sns", "Publish"): _sns_publish,
    ("sns", "PublishBatch"): _sns_publish_batch,
    ("sqs", "SendMessage"): _sqs_send,
    ("sqs", "SendMessageBatch"): _sqs_send_batch,
    ("events", "PutEvents"): _put_events,
    ("stepfunctions", "StartExecution"): _start_execution,
}


class Limits:
    enabled = False  # on while an offline stack is deployed


def _check(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
    if not Limits.enabled:
        return
    check = CHECKS.get((model.service_model.service_name, model.name))
    if check is not None:
        exceeded = check(params)
        if exceeded is not None:
            context[_CONTEXT_KEY] = exceeded


def _short_circuit(context: dict[str, Any], **_: Any) -> Any:
    exceeded = context.pop(_CONTEXT_KEY, None)
    return exceeded.response() if exceeded is not None else None


_registered = False


def register() -> None:
    global _registered
    if _registered:
        return
    hook_every_session([("before-parameter-build", _check), ("before-call", _short_circuit)])
    _registered = True
