"""SQS event-source mappings as the Lambda poller runs them.

moto invokes the function synchronously inside ``SendMessage``, one message per invocation, and
ignores the answer. The Lambda poller instead:

- reads up to ``BatchSize`` messages (waiting up to ``MaximumBatchingWindowInSeconds`` for a batch
  to fill), each received with the queue's visibility timeout (so ``ApproximateReceiveCount`` rises
  with every delivery);
- on success deletes the batch; with ``ReportBatchItemFailures`` it deletes all but the
  ``batchItemFailures`` the function names (an unknown id fails the whole batch, as on AWS);
- on a function error deletes nothing: the messages become visible again after the visibility
  timeout and are delivered again; the queue's redrive policy (moto's, on receive) moves a message
  to its dead-letter queue once it was received ``maxReceiveCount`` times;
- runs up to ``ScalingConfig.MaximumConcurrency`` batches at once when the emulator is concurrent.

Visibility timeouts elapse in emulated time (the clock), so a retry after a 180 s timeout costs no
wall time. SQS's default ``MaximumMessageSize`` is AWS's 256 KiB (moto defaults to 1 MiB) and is
enforced per queue (``limits``).
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from moto.awslambda.models import EventSourceMapping, LambdaBackend
from moto.awslambda.utils import get_backend as lambda_backend
from moto.sqs import models as sqs_models
from moto.sqs.models import Queue, sqs_backends

from offline_runtime.emulator import metering
from offline_runtime.emulator.clock import Clock
from offline_runtime.emulator.dispatcher import Dispatcher
from offline_runtime.emulator.lambda_runtime import LambdaRuntime, Throttled
from offline_runtime.emulator.patches import AttributePatch, Patch


@dataclass
class SqsMapping:
    uuid: str
    queue_arn: str
    function_arn: str
    batch_size: int
    window_s: float
    reports_failures: bool
    max_concurrency: int
    filters: list[Any] = field(default_factory=list)
    active: int = 0
    scheduled: int = 0
    waited: bool = False


@dataclass
class SqsLog:
    batches: int = 0
    messages: int = 0
    deleted: int = 0
    failed_batches: int = 0
    partial_failures: int = 0


def _account_region(arn: str) -> tuple[str, str]:
    parts = arn.split(":")
    return parts[4], parts[3]


class SqsPoller:
    def __init__(
        self, runtime: LambdaRuntime, dispatcher: Dispatcher, clock: Clock, concurrent: bool
    ) -> None:
        self.runtime = runtime
        self.dispatcher = dispatcher
        self.clock = clock
        self.concurrent = concurrent
        self.mappings: dict[str, SqsMapping] = {}
        self.log = SqsLog()
        self._lock = threading.Lock()

    # -- installation -------------------------------------------------------------------
    def patches(self) -> list[Patch]:
        poller = self
        create_original = LambdaBackend.create_event_source_mapping
        add_original = Queue.add_message
        update_original = LambdaBackend.update_event_source_mapping

        def create_event_source_mapping(backend: LambdaBackend, spec: dict[str, Any]) -> EventSourceMapping:
            esm = create_original(backend, spec)
            if ":sqs:" in esm.event_source_arn:
                poller.register(esm)
            return esm

        def update_event_source_mapping(backend: LambdaBackend, uuid: str, spec: dict[str, Any]) -> Any:
            esm = update_original(backend, uuid, spec)
            if esm is not None and uuid in poller.mappings:
                poller.register(esm)
            return esm

        def add_message(queue: Queue, message: Any) -> None:
            add_original(queue, message)
            poller.notify(queue.queue_arn)

        clock = self.clock
        reason = "SQS timing in emulated time: visibility timeouts and delays elapse without waiting"
        return [
            AttributePatch(
                LambdaBackend,
                "create_event_source_mapping",
                create_event_source_mapping,
                "moto delivers SQS synchronously, one message per call; the Lambda poller batches",
            ),
            AttributePatch(
                LambdaBackend,
                "update_event_source_mapping",
                update_event_source_mapping,
                "keep batching settings",
            ),
            AttributePatch(Queue, "add_message", add_message, "wake the poller when a message arrives"),
            AttributePatch(sqs_models, "unix_time_millis", lambda *_: clock.now_millis(), reason),
            AttributePatch(sqs_models, "unix_time", lambda *_: clock.now(), reason),
        ]

    def register(self, esm: EventSourceMapping) -> None:
        account, region = _account_region(esm.event_source_arn)
        for queue in sqs_backends[account][region].queues.values():
            if queue.queue_arn == esm.event_source_arn:
                queue.lambda_event_source_mappings.pop(esm.function_arn, None)  # moto must not deliver
        scaling = esm.scaling_config or {}
        mapping = SqsMapping(
            uuid=esm.uuid,
            queue_arn=esm.event_source_arn,
            function_arn=esm.function_arn,
            batch_size=int(esm.batch_size or 10),
            window_s=float(esm.max_batch_window or 0),
            reports_failures="ReportBatchItemFailures" in (esm.function_response_types or []),
            max_concurrency=int(scaling.get("MaximumConcurrency") or 5) if self.concurrent else 1,
            filters=[f.get("Pattern") for f in (esm.filter_criteria or {}).get("Filters", [])],
        )
        with self._lock:
            self.mappings[esm.uuid] = mapping
        self.notify(mapping.queue_arn)

    # -- polling ----------------------------------------------------------------------------
    def notify(self, queue_arn: str) -> None:
        for mapping in list(self.mappings.values()):
            if mapping.queue_arn == queue_arn:
                self._schedule(mapping, delay=0.0)

    def _schedule(self, mapping: SqsMapping, delay: float) -> None:
        with self._lock:
            if mapping.scheduled + mapping.active >= mapping.max_concurrency:
                return
            mapping.scheduled += 1
        lane = None if self.concurrent else f"sqs:{mapping.uuid}"
        self.dispatcher.submit(
            lambda: self._poll(mapping), delay=delay, lane=lane, name=f"sqs:{mapping.queue_arn}"
        )

    def _queue(self, mapping: SqsMapping) -> Queue | None:
        account, region = _account_region(mapping.queue_arn)
        for queue in sqs_backends[account][region].queues.values():
            if queue.queue_arn == mapping.queue_arn:
                return queue
        return None

    def _enabled(self, mapping: SqsMapping) -> bool:
        account, region = _account_region(mapping.function_arn)
        esm = lambda_backend(account, region)._event_source_mappings.get(mapping.uuid)
        return esm is not None and bool(esm.enabled)

    def _poll(self, mapping: SqsMapping) -> None:
        with self._lock:
            mapping.scheduled -= 1
            mapping.active += 1
        try:
            again = self._poll_once(mapping)
        finally:
            with self._lock:
                mapping.active -= 1
        if again is not None:
            self._schedule(mapping, delay=again)

    def _poll_once(self, mapping: SqsMapping) -> float | None:
        """One receive + invoke; returns when to poll next (None: only when a message arrives)."""
        queue = self._queue(mapping)
        if queue is None or not self._enabled(mapping):
            return None
        account, region = _account_region(mapping.queue_arn)
        backend = sqs_backends[account][region]
        visible = [m for m in queue._messages if m.visible and not m.delayed]
        if mapping.window_s and len(visible) < mapping.batch_size and not mapping.waited:
            mapping.waited = True  # the batching window: wait once for the batch to fill
            return mapping.window_s
        mapping.waited = False
        visibility = int(queue.visibility_timeout)  # type: ignore[attr-defined]  # set from attributes
        messages = backend.receive_message(queue.name, mapping.batch_size, 0, visibility)
        if not messages:
            return self._when_visible(queue)
        meter = metering.active()
        if meter is not None:  # the poller's own SQS requests: AWS bills them to the queue's owner
            meter.esm_sqs("ReceiveMessage", sum(len(m.body.encode()) for m in messages))
        self._deliver(mapping, queue, messages)
        return 0.0  # there may be more

    def _when_visible(self, queue: Queue) -> float | None:
        """Nothing visible: poll again when the first in-flight (or delayed) message reappears."""
        due = [m.visible_at / 1000.0 for m in queue._messages if not m.visible]
        due += [m.delayed_until / 1000.0 for m in queue._messages if m.delayed]
        return max(0.0, min(due) - self.clock.now()) + 0.001 if due else None

    def _deliver(self, mapping: SqsMapping, queue: Queue, messages: list[Any]) -> None:
        account, region = _account_region(mapping.function_arn)
        fn = lambda_backend(account, region).get_function(mapping.function_arn)
        backend = sqs_backends[account][region]
        if mapping.filters:
            kept = [m for m in messages if _passes(mapping.filters, _record(m, mapping.queue_arn, region))]
            for m in messages:
                if m not in kept:  # AWS deletes what no filter matches, without invoking
                    backend.delete_message(queue.name, m.receipt_handle)
            messages = kept
            if not messages:
                return
        event = {"Records": [_record(m, mapping.queue_arn, region) for m in messages]}
        self.log.batches += 1
        self.log.messages += len(messages)
        try:
            payload, errored, _ = self.runtime.invoke(fn, event)
        except Throttled:
            errored, payload = True, ""
        if errored:
            self.log.failed_batches += 1
            return  # nothing deleted: visible again after the visibility timeout
        failed = _reported_failures(payload) if mapping.reports_failures else set()
        ids = {m.id for m in messages}
        if failed - ids:  # an id that is not in the batch: AWS treats the whole batch as failed
            self.log.failed_batches += 1
            return
        self.log.partial_failures += len(failed)
        meter = metering.active()
        if meter is not None and len(failed) < len(messages):
            meter.esm_sqs("DeleteMessageBatch")
        for m in messages:
            if m.id not in failed:
                backend.delete_message(queue.name, m.receipt_handle)
                self.log.deleted += 1

    @property
    def busy(self) -> bool:
        return any(m.active or m.scheduled for m in self.mappings.values())


def _passes(filters: list[Any], record: dict[str, Any]) -> bool:
    from moto.events.models import EventPattern

    candidate = dict(record)
    with contextlib.suppress(TypeError, ValueError):  # a body that is not JSON is matched as a string
        candidate["body"] = json.loads(record["body"])
    event: Any = candidate
    return any(
        EventPattern.load(p if isinstance(p, str) else json.dumps(p)).matches_event(event) for p in filters
    )


def _reported_failures(payload: str) -> set[str]:
    try:
        response = json.loads(payload) if payload else None
    except ValueError:
        return set()
    if not isinstance(response, dict):
        return set()
    items = response.get("batchItemFailures") or []
    return {str(i.get("itemIdentifier")) for i in items if isinstance(i, dict)}


def _record(message: Any, queue_arn: str, region: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "ApproximateReceiveCount": str(message.approximate_receive_count),
        "SentTimestamp": str(message.sent_timestamp),
        "SenderId": str(getattr(message, "sender_id", "AIDAOFFLINE")),
        "ApproximateFirstReceiveTimestamp": str(message.approximate_first_receive_timestamp),
    }
    if queue_arn.endswith(".fifo"):
        attributes["MessageGroupId"] = message.group_id
        attributes["MessageDeduplicationId"] = message.deduplication_id
        if message.sequence_number:
            attributes["SequenceNumber"] = message.sequence_number
    record: dict[str, Any] = {
        "messageId": message.id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": attributes,
        "messageAttributes": {
            name: {
                "stringValue": attr.get("StringValue"),
                "binaryValue": attr.get("BinaryValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": attr.get("DataType"),
            }
            for name, attr in (message.message_attributes or {}).items()
        },
        "md5OfBody": message.body_md5,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.message_attributes:
        record["md5OfMessageAttributes"] = message.attribute_md5
    return record
