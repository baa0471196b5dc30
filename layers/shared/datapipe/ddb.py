"""DynamoDB's error answers, read the same way by every adapter: a failed condition is an answer
(another run holds the id, the version moved on), anything else is a failure to raise."""

from __future__ import annotations

CONDITION_FAILED = "ConditionalCheckFailedException"


def error_code(exc: BaseException) -> str:
    """The service's error code of a botocore ClientError ("" for any other exception)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def condition_failed(exc: BaseException) -> bool:
    return error_code(exc) == CONDITION_FAILED
