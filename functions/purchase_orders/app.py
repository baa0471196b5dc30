"""Purchase orders: reorder queue (LowStockDetected events) -> one purchase order per crossing.

``DynamoPurchaseOrders.create`` writes the order and adds its quantity to the item's on_order in
one transaction: "created", "duplicate" (a redelivered request: this crossing's order exists) or
"stale" (on_order changed since the crossing was seen: another order landed first; nothing is
ordered blindly). The order's status is its outbox: PurchaseOrderCreated is put while the order
is CREATED, then the order is marked SENT (it went to the supplier). A PutEvents failure fails the
record; its redelivery finds the order still CREATED and sends it, instead of skipping it.

A message that is not a LowStockDetected event (not JSON, another detail-type, a field missing)
fails alone, with its reason logged and kept beside its message id (``datapipe.batch``): after
the queue's maxReceiveCount it reaches the DLQ under the same id.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, S3ObjectStore
from datapipe.batch import FailedRecords, ReasonedBatchProcessor, process_batch
from datapipe.envelopes import LowStockEvent, parse_json
from datapipe.events import PURCHASE_ORDER_CREATED
from datapipe.inventory.orders import CREATED
from datapipe.inventory.orders_dynamo import CREATED_OK, DUPLICATE, DynamoPurchaseOrders
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload
from datapipe.purchasing import purchase_order
from datapipe.settings import PurchaseOrderSettings

obs = instruments()
logger, tracer, metrics = obs.logger, obs.tracer, obs.metrics
settings = PurchaseOrderSettings.from_env()


@dataclass(frozen=True)
class Adapters:
    orders: DynamoPurchaseOrders
    bus: EventBridgeBus
    failures: FailedRecords


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    store = S3ObjectStore()
    return Adapters(
        orders=DynamoPurchaseOrders(settings.purchase_orders_table, settings.inventory_table),
        bus=EventBridgeBus(
            settings.event_bus_name,
            settings.event_source,
            PayloadOffload(store, settings.quarantine_bucket),
        ),
        failures=FailedRecords(store, settings.quarantine_bucket, "purchase-orders"),
    )


processor = ReasonedBatchProcessor(EventType.SQS, logger, lambda: adapters().failures, metrics)


def send(a: Adapters, order: dict[str, Any]) -> None:
    """PurchaseOrderCreated on the bus, then CREATED -> SENT (at least once: keyed on po_id)."""
    a.bus.put(PURCHASE_ORDER_CREATED, order)
    a.orders.mark_sent(order["po_id"])
    metrics.add_metric(name="PurchaseOrdersCreated", unit=MetricUnit.Count, value=1)


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    low = parse_json(LowStockEvent, record.body, "reorder request", prefix="body").detail
    order = purchase_order(low.to_detail())
    a = adapters()
    outcome = a.orders.create(order)
    if outcome == CREATED_OK:
        send(a, order)
        return
    if outcome == DUPLICATE:
        stored = a.orders.get(order["po_id"])
        if stored is not None and stored.get("status") == CREATED:  # stored, never sent: finish it
            send(a, {**order, "created_at": str(stored.get("created_at", order["created_at"]))})
            return
        logger.info("purchase order exists already", extra={"po_id": order["po_id"]})
        metrics.add_metric(name="DuplicateReorderRequests", unit=MetricUnit.Count, value=1)
        return
    logger.info(
        "reorder request stale: on_order changed since the crossing",
        extra={"po_id": order["po_id"], "on_order_seen": order["on_order_seen"]},
    )
    metrics.add_metric(name="StaleReorderRequests", unit=MetricUnit.Count, value=1)


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, record_handler, processor, context, "SQS event")
