"""DynamoDB-stream event-source mappings with AWS's delivery semantics, on moto's stream records.

moto invokes a stream's function synchronously on every table write, inside the writer's call,
and drops the records whatever the function answers. On AWS a poller reads the shard in
batches (BatchSize), and for a failed batch honours the mapping's settings:
``ReportBatchItemFailures`` (retry from the first failed record), ``BisectBatchOnFunctionError``
(split the batch to isolate a poison record), ``MaximumRetryAttempts``, then the on-failure
destination. This module takes moto's records at its ``send_dynamodb_items`` seam and delivers
them that way from a background poller, in order, per mapping.
"""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.models import LambdaBackend
from moto.awslambda.utils import get_backend
from moto.core.utils import unix_time

from offline_runtime.emulator.eventbridge import send_to_queue


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


class StreamPoller:
    def __init__(self, region: str) -> None:
        self.region = region
        self.log = PollerLog()
        self._queue: queue.Queue[tuple[str, str, list[dict[str, Any]]] | None] = queue.Queue()
        self._original: Any = None
        self._worker: threading.Thread | None = None
        self._hold = threading.Event()
        self._hold.set()

    def install(self) -> None:
        poller = self
        self._original = LambdaBackend.send_dynamodb_items

        def send_dynamodb_items(
            backend: LambdaBackend, function_arn: str, items: list[Any], source: str
        ) -> str:
            records = [_record(i, backend.region_name, source) for i in items]
            poller._queue.put((function_arn, source, records))
            return "queued"  # truthy: moto clears its shard buffer, the poller owns the records now

        LambdaBackend.send_dynamodb_items = send_dynamodb_items  # type: ignore[method-assign,assignment]
        self._worker = threading.Thread(target=self._run, name="dynamodb-stream-poller", daemon=True)
        self._worker.start()

    def uninstall(self) -> None:
        if self._original is not None:
            LambdaBackend.send_dynamodb_items = self._original  # type: ignore[method-assign]
            self._original = None
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join(timeout=5)
            self._worker = None

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold deliveries so that the writes made meanwhile reach the function as one batch."""
        self._hold.clear()
        try:
            yield
        finally:
            self._hold.set()

    @property
    def idle(self) -> bool:
        return self._queue.unfinished_tasks == 0

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            self._hold.wait()
            try:
                if item is None:
                    return
                function_arn, source, records = item
                # gather what is already queued for the same mapping: the poller reads in batches
                pending: list[tuple[str, str, list[dict[str, Any]]]] = []
                while True:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is not None and nxt[0] == function_arn and nxt[1] == source:
                        records.extend(nxt[2])
                        self._queue.task_done()
                    else:
                        pending.append(nxt)  # type: ignore[arg-type]
                        self._queue.task_done()
                        break
                self._deliver(function_arn, source, records)
                for p in pending:
                    self._queue.put(p)
            except Exception:
                traceback.print_exc()
            finally:
                self._queue.task_done()

    def _mapping(self, function_arn: str, source: str) -> Any:
        backend = get_backend(function_arn.split(":")[4], function_arn.split(":")[3])
        for esm in backend._event_source_mappings.values():
            if esm.event_source_arn == source and esm.function_arn == function_arn:
                return esm
        return None

    def _deliver(self, function_arn: str, source: str, records: list[dict[str, Any]]) -> None:
        esm = self._mapping(function_arn, source)
        batch_size = int(getattr(esm, "batch_size", None) or 100)
        for start in range(0, len(records), batch_size):
            self._deliver_batch(function_arn, esm, records[start : start + batch_size])

    def _invoke(self, function_arn: str, records: list[dict[str, Any]]) -> tuple[bool, list[str]]:
        """(errored, failed sequence numbers reported by the function)."""
        fn = get_backend(function_arn.split(":")[4], function_arn.split(":")[3]).get_function(function_arn)
        payload, errored, _ = fn._invoke_lambda(event={"Records": records})
        self.log.batches += 1
        self.log.records += len(records)
        if errored:
            return True, []
        try:
            response = json.loads(payload) if payload else None
        except ValueError:
            response = None
        failures = (response or {}).get("batchItemFailures", []) if isinstance(response, dict) else []
        return False, [f["itemIdentifier"] for f in failures]

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
                first = min((seqs.index(f) for f in failed if f in seqs), default=0)
                batch = batch[first:]  # checkpoint: retry from the first failed record
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
            "timestamp": datetime.now(UTC).isoformat(),
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
        send_to_queue(self.region, dest, record)
