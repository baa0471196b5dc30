"""Fault injection: make any AWS call fail with a real AWS error, once, N times or for good.

A rule names a service (the boto3 client name: ``s3``, ``sns``, ``events``, ``dynamodb``,
``stepfunctions`` …), an operation (``PutObject``, ``*``), an error code (``InternalError``,
``ThrottlingException``, ``ConditionalCheckFailedException`` …) and optionally the call's
parameters it must match (values may be globs: ``{"Key": "manifests/*"}``) or the function it must
be made from (``function="IngestFunction"``: only calls made while that function runs).

The failure is raised by botocore itself, from a ``before-call`` hook: the caller gets the same
``ClientError`` subclass (``client.exceptions.ConditionalCheckFailedException`` …) with the same
``Error.Code`` and HTTP status AWS would send, after the SDK's own retries (the hook fires once per
API call as the application sees it). Calls made by AWS services on the application's behalf go
through the same hook here (EventBridge publishing to SNS, Step Functions calling DynamoDB), so a
fault in them behaves as on AWS: the service retries, then parks the event.

CLI / Makefile form (``--fault`` / ``FAULTS=``, comma separated):
``s3:PutObject:InternalError`` (once), ``sns:PublishBatch:InternalError:3`` (three times),
``events:PutEvents:InternalError:always``, optionally ``@Key=manifests/*`` and ``@function=IngestFunction``.
"""

from __future__ import annotations

import fnmatch
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders

from offline_runtime.emulator.patches import hook_every_session

# HTTP status AWS returns for the usual codes (anything else: 400 for client errors)
_STATUS = {
    "InternalError": 500,
    "InternalFailure": 500,
    "InternalServerError": 500,
    "InternalServiceError": 500,
    "ServiceUnavailable": 503,
    "ServiceUnavailableException": 503,
    "SlowDown": 503,
    "ThrottlingException": 400,
    "Throttling": 400,
    "TooManyRequestsException": 429,
    "ProvisionedThroughputExceededException": 400,
    "RequestLimitExceeded": 400,
    "AccessDenied": 403,
    "AccessDeniedException": 403,
    "KMSAccessDeniedException": 400,
    "KMS.AccessDeniedException": 400,
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
    "ResourceNotFoundException": 400,
}

_CONTEXT_KEY = "offline_runtime_fault"


def current_function() -> str | None:
    """Logical id of the function the current thread is running (set by the Lambda runtime)."""
    return getattr(_invocation, "logical_id", None)


_invocation = threading.local()


def set_current_function(logical_id: str | None) -> None:
    _invocation.logical_id = logical_id


@dataclass
class FaultRule:
    service: str
    operation: str
    error_code: str
    times: int | None = 1  # None: every matching call fails
    match: dict[str, Any] = field(default_factory=dict)
    function: str | None = None
    message: str = ""
    status_code: int | None = None
    injected: int = 0  # how many calls this rule failed so far
    seen: list[dict[str, Any]] = field(default_factory=list)  # the parameters of those calls

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.injected >= self.times

    def matches(self, service: str, operation: str, params: dict[str, Any]) -> bool:
        if self.exhausted or service != self.service:
            return False
        if self.operation not in ("*", operation):
            return False
        if self.function is not None and current_function() != self.function:
            return False
        return all(_value_matches(params.get(k), v) for k, v in self.match.items())

    def response(self, operation: str) -> tuple[AWSResponse, dict[str, Any]]:
        status = self.status_code or _STATUS.get(self.error_code, 400)
        message = self.message or f"offline fault injected into {self.service}.{operation}"
        parsed = {
            "Error": {"Code": self.error_code, "Message": message},
            "ResponseMetadata": _metadata(status),
        }
        return AWSResponse("https://offline.invalid/", status, HTTPHeaders(), _EmptyBody()), parsed


def _metadata(status: int) -> dict[str, Any]:
    """What every AWS response carries (callers read RequestId: Step Functions puts it in a cause)."""
    request_id = str(uuid.uuid4())
    return {
        "RequestId": request_id,
        "HTTPStatusCode": status,
        "HTTPHeaders": {"x-amzn-requestid": request_id},
        "RetryAttempts": 0,
    }


class _EmptyBody:
    """The raw body of an injected error response (some botocore handlers read it)."""

    def stream(self, **_: Any) -> Any:
        return iter([b""])

    def read(self, *_: Any) -> bytes:
        return b""


def _value_matches(actual: Any, wanted: Any) -> bool:
    if isinstance(wanted, str) and isinstance(actual, str):
        return fnmatch.fnmatchcase(actual, wanted)
    if callable(wanted):
        return bool(wanted(actual))
    return bool(actual == wanted)


class FaultInjector:
    """The active fault rules of the process (one offline account at a time)."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def fail(
        self,
        service: str,
        operation: str = "*",
        error_code: str = "InternalError",
        times: int | None = 1,
        match: dict[str, Any] | None = None,
        function: str | None = None,
        message: str = "",
        status_code: int | None = None,
    ) -> FaultRule:
        """Make matching calls fail; ``times=None`` fails them permanently (until :meth:`clear`)."""
        rule = FaultRule(service, operation, error_code, times, match or {}, function, message, status_code)
        with self._lock:
            self.rules.append(rule)
        return rule

    def heal(self, rule: FaultRule | None = None) -> None:
        """Remove one rule (the fault heals), or all of them."""
        with self._lock:
            if rule is None:
                self.rules.clear()
            elif rule in self.rules:
                self.rules.remove(rule)

    clear = heal

    def parse(self, spec: str) -> list[FaultRule]:
        """Rules from the CLI form (see the module docstring)."""
        return [self.fail(**parse_rule(part)) for part in split_specs(spec)]

    # -- botocore hooks -------------------------------------------------------------------
    def decide(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        """``before-parameter-build``: the API parameters are known here; pick a rule."""
        if not self.rules:
            return
        service = model.service_model.service_name
        with self._lock:
            for rule in self.rules:
                if rule.matches(service, model.name, params):
                    rule.injected += 1
                    rule.seen.append(dict(params))
                    context[_CONTEXT_KEY] = rule
                    return

    def short_circuit(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        """``before-call``: answer with the error instead of sending the request."""
        rule = context.pop(_CONTEXT_KEY, None)
        if rule is None:
            return None
        return rule.response(model.name)


def split_specs(spec: str) -> list[str]:
    return [p.strip() for p in spec.split(",") if p.strip()]


def parse_rule(part: str) -> dict[str, Any]:
    head, *conditions = part.split("@")
    fields_ = head.split(":")
    if len(fields_) < 2:
        raise ValueError(f"fault {part!r}: expected service:Operation[:ErrorCode[:times|always]]")
    service, operation = fields_[0], fields_[1]
    code = fields_[2] if len(fields_) > 2 and fields_[2] else "InternalError"
    times: int | None = 1
    if len(fields_) > 3:
        times = None if fields_[3] in ("always", "permanent", "forever") else int(fields_[3])
    match: dict[str, Any] = {}
    function = None
    for cond in conditions:
        key, _, value = cond.partition("=")
        if key == "function":
            function = value
        else:
            match[key] = value
    return {
        "service": service,
        "operation": operation,
        "error_code": code,
        "times": times,
        "match": match,
        "function": function,
    }


INJECTOR = FaultInjector()
_registered = False


def register() -> None:
    """Hook the process-wide injector into every botocore session made from now on (once).

    Registered the way moto registers its own stubber (``BUILTIN_HANDLERS``): sessions created
    afterwards get it, whoever creates them (handlers, awswrangler, the Step Functions
    interpreter). With no rule active the hooks return at once.
    """
    global _registered
    if _registered:
        return
    hook_every_session([("before-parameter-build", _decide), ("before-call", _short_circuit)])
    _registered = True


def _decide(**kwargs: Any) -> None:
    INJECTOR.decide(**kwargs)


def _short_circuit(**kwargs: Any) -> Any:
    return INJECTOR.short_circuit(**kwargs)


Hook = Callable[..., Any]
