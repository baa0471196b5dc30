"""DynamoDB-stream event-source mappings with AWS's delivery semantics, on moto's stream records.

moto invokes a stream's function synchronously on every table write, inside the writer's call,
and drops the records whatever the function answers. On AWS a poller reads the shard in order,
in batches (``BatchSize``, after up to ``MaximumBatchingWindowInSeconds``), and for a failed
batch honours the mapping's settings: ``ReportBatchItemFailures`` (retry from the first failed
record), ``BisectBatchOnFunctionError`` (split the batch to isolate a poison record),
``MaximumRetryAttempts``, then the on-failure destination. This module takes moto's records at
its ``send_dynamodb_items`` seam, buffers them per mapping and delivers them that way, in order
(one lane per mapping: a shard is never processed by two invocations at once).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.awslambda.utils import get_backend
from moto.core.utils import unix_time

from offline_runtime.emulator.clock import Clock
from offline_runtime.emulator.dispatcher import Dispatcher
from offline_runtime.emulator.invoker import send_to_destination
from offline_runtime.emulator.lambda_runtime import LambdaRuntime, Throttled
from offline_runtime.emulator.patches import AttributePatch, Patch

FIRST_SEQUENCE = 100_000_000_000_000_000_000  # 21 digits, as DynamoDB Streams' numbers have


@dataclass
class StreamFailure:
    function_arn: str
    records: list[dict[str, Any]]
    reason: str


@dataclass
class PollerLog:
    batches: int = 0
    records: int = 0
    failures: list[StreamFailure] = field(default_factory=list)


def _record(item: Any, region: str, source: str) -> dict[str, Any]:
    record = item.to_json()
    dynamodb = dict(record["dynamodb"])
    if isinstance(dynamodb.get("ApproximateCreationDateTime"), datetime):
        dynamodb["ApproximateCreationDateTime"] = unix_time(dynamodb["ApproximateCreationDateTime"])
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record["eventVersion"],
        "eventSource": record["eventSource"],
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": source,
    }


def _arn_parts(function_arn: str) -> tuple[str, str]:
    parts = function_arn.split(":")
    return parts[4], parts[3]


class StreamPoller:
    def __init__(self, runtime: LambdaRuntime, dispatcher: Dispatcher, clock: Clock, region: str) -> None:
        self.runtime = runtime
        self.dispatcher = dispatcher
        self.clock = clock
        self.region = region
        self.log = PollerLog()
        self._buffers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._scheduled: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self._held = 0
        self._sequence: dict[str, int] = {}
        self.disabled: list[dict[str, Any]] = []

    def patches(self) -> list[Patch]:
        poller = self

        def send_dynamodb_items(
            backend: LambdaBackend, function_arn: str, items: list[Any], source: str
        ) -> str:
            records = [poller.numbered(_record(i, backend.region_name, source)) for i in items]
            poller.enqueue(function_arn, source, records)
            return "queued"  # truthy: moto clears its shard buffer, the poller owns the records now

        return [
            AttributePatch(
                LambdaBackend,
                "send_dynamodb_items",
                send_dynamodb_items,
                "moto invokes stream functions inside the write and ignores the answer",
            )
        ]

    def numbered(self, record: dict[str, Any]) -> dict[str, Any]:
        """A unique, increasing SequenceNumber per stream, as AWS gives: moto numbers a record by the
        length of its shard buffer, which it empties after each delivery, so every record it hands
        a mapping carries the same number (and checkpointing on it would be meaningless)."""
        with self._lock:
            self._sequence[record["eventSourceARN"]] = self._sequence.get(record["eventSourceARN"], 0) + 1
            number = self._sequence[record["eventSourceARN"]]
        record["dynamodb"] = {**record["dynamodb"], "SequenceNumber": str(FIRST_SEQUENCE + number * 100)}
        return record

    def enqueue(self, function_arn: str, source: str, records: list[dict[str, Any]]) -> None:
        key = (function_arn, source)
        with self._lock:
            self._buffers.setdefault(key, []).extend(records)
            if key in self._scheduled or self._held:
                return
            self._scheduled.add(key)
        esm = self._mapping(function_arn, source)
        window = float(getattr(esm, "max_batch_window", 0) or 0)
        self._submit(key, window)

    def _submit(self, key: tuple[str, str], delay: float) -> None:
        self.dispatcher.submit(
            lambda: self._drain(key), delay=delay, lane=f"stream:{key[0]}:{key[1]}", name="stream"
        )

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold deliveries so that the writes made meanwhile reach the function as one batch."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                keys = (
                    [k for k, v in self._buffers.items() if v and k not in self._scheduled]
                    if not self._held
                    else []
                )
                self._scheduled.update(keys)
            for key in keys:
                self._submit(key, 0.0)

    @property
    def busy(self) -> bool:
        with self._lock:
            return bool(self._scheduled) or any(self._buffers.values())

    def _drain(self, key: tuple[str, str]) -> None:
        with self._lock:
            records = self._buffers.pop(key, [])
            self._scheduled.discard(key)
        if records:
            self._deliver(key[0], key[1], records)

    def _mapping(self, function_arn: str, source: str) -> Any:
        account, region = _arn_parts(function_arn)
        for esm in get_backend(account, region)._event_source_mappings.values():
            if esm.event_source_arn == source and esm.function_arn == function_arn:
                return esm
        return None

    def _deliver(self, function_arn: str, source: str, records: list[dict[str, Any]]) -> None:
        esm = self._mapping(function_arn, source)
        if esm is not None and not esm.enabled:
            self.disabled.extend(records)  # a disabled mapping leaves its records in the stream
            return
        batch_size = int(getattr(esm, "batch_size", None) or 100)
        for start in range(0, len(records), batch_size):
            self._deliver_batch(function_arn, esm, records[start : start + batch_size])

    def _invoke(self, function_arn: str, records: list[dict[str, Any]]) -> tuple[bool, list[str]]:
        """(errored, failed sequence numbers reported by the function)."""
        account, region = _arn_parts(function_arn)
        fn = get_backend(account, region).get_function(function_arn)
        try:
            payload, errored, _ = self.runtime.invoke(fn, {"Records": records})
        except Throttled:
            return True, []
        self.log.batches += 1
        self.log.records += len(records)
        if errored:
            return True, []
        try:
            response = json.loads(payload) if payload else None
        except ValueError:
            response = None
        failures = (response or {}).get("batchItemFailures", []) if isinstance(response, dict) else []
        return False, [str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)]

    def _deliver_batch(self, function_arn: str, esm: Any, records: list[dict[str, Any]]) -> None:
        reports = "ReportBatchItemFailures" in (getattr(esm, "function_response_types", None) or [])
        bisect = bool(getattr(esm, "bisect_on_error", False))
        retries = getattr(esm, "max_retry_attempts", None)
        max_retries = 10_000 if retries in (None, -1) else int(retries)
        attempts = 0
        batch = records
        while batch:
            errored, failed = self._invoke(function_arn, batch)
            if not errored and not failed:
                return
            if not errored and reports:
                seqs = [r["dynamodb"].get("SequenceNumber") for r in batch]
                if any(f not in seqs for f in failed):
                    errored = True  # an identifier not in the batch: AWS retries the whole batch
                else:
                    batch = batch[min(seqs.index(f) for f in failed) :]  # checkpoint: retry from there
            attempts += 1
            if errored and bisect and len(batch) > 1:
                half = len(batch) // 2
                self._deliver_batch(function_arn, esm, batch[:half])
                self._deliver_batch(function_arn, esm, batch[half:])
                return
            if attempts > max_retries:
                self._on_failure(function_arn, esm, batch, "function error" if errored else "partial failure")
                return

    def _on_failure(self, function_arn: str, esm: Any, batch: list[dict[str, Any]], reason: str) -> None:
        self.log.failures.append(StreamFailure(function_arn, batch, reason))
        dest = ((getattr(esm, "destination_config", None) or {}).get("OnFailure") or {}).get("Destination")
        if not dest:
            return
        seqs = [r["dynamodb"].get("SequenceNumber") for r in batch]
        record = {
            "requestContext": {
                "requestId": batch[0]["eventID"],
                "functionArn": function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": int(getattr(esm, "max_retry_attempts", 0) or 0) + 1,
            },
            "responseContext": {
                "statusCode": 200,
                "functionError": "Unhandled" if "error" in reason else None,
            },
            "version": "1.0",
            "timestamp": datetime.fromtimestamp(self.clock.now(), UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": "shardId-offline",
                "startSequenceNumber": seqs[0],
                "endSequenceNumber": seqs[-1],
                "approximateArrivalOfFirstRecord": batch[0]["dynamodb"].get("ApproximateCreationDateTime"),
                "approximateArrivalOfLastRecord": batch[-1]["dynamodb"].get("ApproximateCreationDateTime"),
                "batchSize": len(batch),
                "streamArn": batch[0]["eventSourceARN"],
            },
        }
        send_to_destination(self.region, dest, record)
