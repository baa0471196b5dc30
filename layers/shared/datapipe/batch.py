"""Partial batch responses (SQS, DynamoDB streams) that say why each record failed.

Powertools' ``BatchProcessor`` reports failed records in ``batchItemFailures`` so only they are
retried. Three things are added here:

- every failed record is logged with its id and reason as structured fields (``record_id``,
  ``reason``, ``field``, ``error_type``), the id being what the parking place keeps: the SQS
  message id (unchanged when SQS moves the message to the DLQ) or the stream sequence number (the
  on-failure record's ``DDBStreamBatchInfo`` start/end sequence numbers);
- the same reason is written as a side record, ``failed-records/<function>/<record id>.json``
  (``FailedRecords``), so whoever redrives the DLQ or the on-failure queue can join each parked
  message to why it failed, long after the logs;
- a batch in which every record failed is answered with ``batchItemFailures`` too (Powertools
  raises ``BatchProcessingError`` by default, which makes the whole batch fail as one).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.envelopes import InvalidEvent
from datapipe.ports import ObjectStore

FAILED_RECORDS_PREFIX = "failed-records/"


class FailedRecords:
    """Side records of failed batch records, keyed by record id (a retry overwrites its own)."""

    def __init__(self, store: ObjectStore, bucket: str, function: str) -> None:
        self._store = store
        self._bucket = bucket
        self._function = "".join(c if c.isalnum() or c in "-_" else "_" for c in function)

    def key(self, record_id: str) -> str:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in record_id)
        return f"{FAILED_RECORDS_PREFIX}{self._function}/{safe}.json"

    def record(self, record_id: str, detail: dict[str, Any]) -> None:
        body = json.dumps(detail, default=str, indent=2).encode()
        self._store.put(self._bucket, self.key(record_id), body, "application/json")


def _ids(event_type: EventType, record: Any) -> dict[str, Any]:
    """The identifiers a DLQ / on-failure record carries, for one record (data class)."""
    raw = getattr(record, "raw_event", {}) or {}
    if event_type == EventType.SQS:
        return {"record_id": raw.get("messageId"), "event_source_arn": raw.get("eventSourceARN")}
    change = raw.get("dynamodb")
    if not isinstance(change, dict):
        change = {}
    return {
        "record_id": change.get("SequenceNumber"),
        "event_id": raw.get("eventID"),
        "event_source_arn": raw.get("eventSourceARN"),
    }


def _reason(exc: BaseException | None) -> tuple[str, str | None]:
    if isinstance(exc, InvalidEvent):
        return str(exc), exc.field
    return f"{type(exc).__name__}: {exc}", None


class ReasonedBatchProcessor(BatchProcessor):
    """A ``BatchProcessor`` that logs and records each failure, and never raises for a batch in
    which every record failed."""

    def __init__(
        self,
        event_type: EventType,
        logger: Logger,
        failures: Callable[[], FailedRecords | None],
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(event_type=event_type, raise_on_entire_batch_failure=False)
        self._log = logger
        self._failures = failures
        self._metrics = metrics

    def failure_handler(self, record: Any, exception: Any) -> Any:
        entry = super().failure_handler(record, exception)
        exc = exception[1] if isinstance(exception, tuple) and len(exception) > 1 else None
        reason, field = _reason(exc)
        detail = {
            **_ids(self.event_type, record),
            "reason": reason,
            "field": field,
            "error_type": type(exc).__name__ if exc is not None else None,
            "failed_at": datetime.now(UTC).isoformat(),
        }
        self._log.error("record failed", extra=detail)
        if self._metrics is not None:
            self._metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=1)
        sink = self._failures()
        if sink is not None and detail.get("record_id"):
            try:
                sink.record(str(detail["record_id"]), detail)
            except Exception as err:  # the log line above already carries the reason
                self._log.error(
                    "failed record not recorded",
                    extra={"record_id": detail["record_id"], "error": f"{type(err).__name__}: {err}"},
                )
        return entry


def process_batch(
    event: Any,
    record_handler: Callable[[Any], Any],
    processor: ReasonedBatchProcessor,
    context: LambdaContext,
    what: str,
) -> PartialItemFailureResponse:
    """``process_partial_response`` for an event that has to be a batch: no ``Records`` list is an
    ``InvalidEvent`` (nothing to report failures for), an empty one an empty answer."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise InvalidEvent(what, [("Records", "missing or not a list of records")])
    if not records:
        return {"batchItemFailures": []}
    bad = [i for i, r in enumerate(records) if not isinstance(r, dict)]
    if bad:
        raise InvalidEvent(what, [(f"Records[{i}]", "not an object") for i in bad])
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
