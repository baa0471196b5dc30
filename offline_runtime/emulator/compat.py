"""Small, named corrections where moto (or running many functions in one process) differs from AWS.

Each is a patch with its reason, installed with the stack and removed with it, and pinned by a test
in tests/emulator/test_divergences.py so a moto or Powertools upgrade that changes the behaviour
is noticed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.sqs.models import Queue

from offline_runtime.emulator.clock import Clock
from offline_runtime.emulator.patches import AttributePatch, Patch

SQS_DEFAULT_MAX_MESSAGE = 262_144


def patches(clock: Clock) -> list[Patch]:
    return [
        *_atomic_dynamodb_writes(),
        AttributePatch(
            DynamoDBBackend,
            "transact_write_items",
            _transact_write_items,
            "moto deep-copies whole tables per TransactWriteItems item and streams cancelled writes",
        ),
        _sqs_default_size(),
        _lambda_response_size(),
        *_powertools_metrics(),
        *_stepfunctions_time(clock),
        _stepfunctions_events_errors(),
    ]


# -- Step Functions: an events:putEvents API error is a task failure ----------------------------
def _stepfunctions_events_errors() -> Patch:
    """moto's optimised ``events:putEvents`` integration has no ClientError branch (its SNS one has),
    so an EventBridge API error (throttling, an internal error) ends the task as ``States.Runtime``,
    which no Retry on ``States.TaskFailed`` matches. On AWS the task fails with
    ``EventBridge.<Code>Exception``, a TaskFailed the state's Retry and Catch see. Named as moto names
    SNS's errors."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_events as events_task,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    original = events_task.StateTaskServiceEvents._from_error

    def _from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        code = ex.response["Error"]["Code"]
        name = f"EventBridge.{code if code.endswith('Exception') else code + 'Exception'}"
        meta = ex.response.get("ResponseMetadata", {})
        cause = (
            f"{ex.response['Error'].get('Message', '')} (Service: AmazonEventBridge; "
            f"Status Code: {meta.get('HTTPStatusCode')}; Error Code: {code}; "
            f"Request ID: {meta.get('RequestId')}; Proxy: null)"
        )
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error_name=name),
            event_type=HistoryEventType.TaskFailed,
            event_details=EventDetails(  # type: ignore[typeddict-item]  # moto builds it so
                taskFailedEventDetails=TaskFailedEventDetails(
                    error=name,
                    cause=cause,
                    resource=self._get_sfn_resource(),
                    resourceType=self._get_sfn_resource_type(),
                )
            ),
        )

    return AttributePatch(
        events_task.StateTaskServiceEvents,
        "_from_error",
        _from_error,
        "moto ends an events:putEvents task on an API error as States.Runtime; AWS: a TaskFailed",
    )


# -- SQS: AWS's default MaximumMessageSize ------------------------------------------------------
def _sqs_default_size() -> Patch:
    original = Queue.__init__

    def queue_init(queue: Queue, name: str, region: str, account_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("MaximumMessageSize", SQS_DEFAULT_MAX_MESSAGE)
        original(queue, name, region, account_id, **kwargs)

    return AttributePatch(
        Queue, "__init__", queue_init, "AWS's default MaximumMessageSize is 256 KiB; moto's 1 MiB"
    )


# -- Lambda: the synchronous response limit ---------------------------------------------------
class _NoSizeCheck:
    """``sys`` as moto's Lambda responses see it: its ``getsizeof(payload) > 6000000`` test (Python
    object size against 6,000,000) is left to the runtime, which checks the payload's bytes against
    AWS's 6 MB (6,291,456 bytes)."""

    @staticmethod
    def getsizeof(_: Any) -> int:
        return 0

    def __getattr__(self, name: str) -> Any:
        import sys

        return getattr(sys, name)


def _lambda_response_size() -> Patch:
    from moto.awslambda import responses

    return AttributePatch(responses, "sys", _NoSizeCheck(), "moto's response size check is not AWS's limit")


# -- Powertools Metrics: one metric set per execution environment ----------------------------------
class PerEnvironmentDict(MutableMapping[str, Any]):
    """A dict per execution environment (the current thread's, see lambda_runtime).

    Powertools ``Metrics`` keeps its metric, dimension and metadata sets in class attributes shared
    by every instance in the process. On AWS each execution environment is a process of its own, so
    those sets are per function; in one process, concurrent invocations of different functions would
    add to, and flush, each other's metrics."""

    def __init__(self, shared: dict[str, Any]) -> None:
        self._shared = shared  # outside any execution environment (tests importing a handler)
        self._per_env: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _current(self) -> dict[str, Any]:
        from offline_runtime.emulator.lambda_runtime import current_environment_key

        key = current_environment_key()
        if key is None:
            return self._shared
        with self._lock:
            return self._per_env.setdefault(key, {})

    def __getitem__(self, key: str) -> Any:
        return self._current()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._current()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())

    def copy(self) -> dict[str, Any]:
        return dict(self._current())


def _powertools_metrics() -> list[Patch]:
    from aws_lambda_powertools.metrics.metrics import Metrics

    reason = "Powertools shares its metric sets across all functions of a process; AWS: one process each"
    return [
        AttributePatch(Metrics, name, PerEnvironmentDict(getattr(Metrics, name)), reason)
        for name in ("_metrics", "_dimensions", "_metadata", "_default_dimensions")
    ]


# -- Step Functions: retries and Wait states in emulated time ---------------------------------------
class _EmulatedSleep:
    """The ``time`` module as moto's retrier sees it: ``sleep`` advances the emulator's clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.clock.advance(float(seconds))

    def __getattr__(self, name: str) -> Any:
        import time

        return getattr(time, name)


def _stepfunctions_time(clock: Clock) -> list[Patch]:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    def _wait_interval(self: Any, env: Any, wait_seconds: int) -> None:
        if wait_seconds > 0:
            clock.advance(float(wait_seconds))

    reason = "Step Functions Retry intervals and Wait states elapse in emulated time, not wall time"
    return [
        AttributePatch(retrier_decl, "time", _EmulatedSleep(clock), reason),
        AttributePatch(WaitFunction, "_wait_interval", _wait_interval, reason),
    ]


# -- DynamoDB: TransactWriteItems ---------------------------------------------------------------
def _transaction_key(table: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        return dict(op["Key"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


# -- DynamoDB: a conditional write is atomic ------------------------------------------------------
_DYNAMODB_WRITES = threading.RLock()


def _atomic_dynamodb_writes() -> list[Patch]:
    """moto reads the current item, then parses and evaluates the ConditionExpression, then writes,
    with no lock: two threads' conditional writes on one key can both succeed (two publishes both
    holding a run's lease, seen with concurrency 4). DynamoDB makes every conditional write atomic.
    One lock around moto's single-item writes (and our TransactWriteItems) restores that; it is
    wider than AWS's per-item isolation, which only serialises writes that were concurrent."""
    out: list[Patch] = []
    for name in ("put_item", "update_item", "delete_item"):
        original = getattr(DynamoDBBackend, name)

        def write(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with _DYNAMODB_WRITES:
                return _original(self, *args, **kwargs)

        out.append(AttributePatch(DynamoDBBackend, name, write, "moto's conditional writes are not atomic"))
    return out


def _condition_failure(backend: Any, op: dict[str, Any], key: dict[str, Any]) -> tuple[Any, Any, Any] | None:
    """The CancellationReason of an item whose condition fails (None: it holds, or there is none)."""
    condition = op.get("ConditionExpression")
    if condition is None:
        return None
    from moto.dynamodb.comparisons import get_filter_expression as filter_expression

    current = backend.get_item(op["TableName"], key)
    expr = filter_expression(
        condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
    )
    if expr.expr(current):
        return None
    old = None
    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
        old = current.to_json()["Attributes"]
    return ("ConditionalCheckFailed", "The conditional request failed", old)


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """TransactWriteItems as AWS runs it: all conditions first, then all writes, or nothing.

    moto 5.2.5 writes item by item and, to roll back, deep-copies every table a transaction
    touches, once per item: cost grows with the table (minutes for a store chain's inventory),
    and the writes of a cancelled transaction have already produced stream records. Checking
    every condition before writing anything gives AWS's outcome, and the same
    CancellationReasons, without copies.
    """
    from moto.dynamodb.exceptions import TooManyTransactionsException

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _DYNAMODB_WRITES:
        _transact_locked(self, transact_items)


def _transact_locked(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    seen: set[tuple[str, str]] = set()
    plan: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    errors: list[tuple[Any, Any, Any]] = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            errors.append(("ValidationError", "Unsupported transaction operation", None))
            continue
        key = _transaction_key(self.get_table(op["TableName"]), op_type, op)
        marker = (str(op["TableName"]), str(dict(sorted(key.items()))))
        if marker in seen:
            raise MultipleTransactionsException()
        seen.add(marker)
        failure = _condition_failure(self, op, key)
        if failure is not None:
            errors.append(failure)
            continue
        errors.append((None, None, None))
        plan.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    for op_type, op, key in plan:
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        if op_type == "Put":
            self.put_item(
                op["TableName"],
                op["Item"],
                expression_attribute_names=names,
                expression_attribute_values=values,
            )
        elif op_type == "Delete":
            self.delete_item(
                op["TableName"], key, expression_attribute_names=names, expression_attribute_values=values
            )
        elif op_type == "Update":
            self.update_item(
                op["TableName"],
                key,
                update_expression=op["UpdateExpression"],
                expression_attribute_names=names,
                expression_attribute_values=values,
            )
