"""Apply movements: DatasetPublished (inventory_movements) -> inventory table, each movement once.

Deliveries close the purchase orders they fill (the referenced one, else the item's oldest open
order), each once. Unknown store/product pairs are not dropped: they are written to the quarantine bucket, the
operators are told, and the counts travel on InventoryMovementsApplied.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, S3ObjectStore, SnsNotifier
from datapipe.envelopes import DatasetPublishedEvent, expect, parse
from datapipe.events import INVENTORY_MOVEMENTS_APPLIED
from datapipe.inventory import DynamoPurchaseOrders, DynamoStockLedger, apply_movements
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload
from datapipe.settings import ApplyMovementsSettings
from datapipe.staging import read_published

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = ApplyMovementsSettings.from_env()
DATASET = "inventory_movements"


@dataclass(frozen=True)
class Adapters:
    store: S3ObjectStore
    ledger: DynamoStockLedger
    orders: DynamoPurchaseOrders
    bus: EventBridgeBus
    ops: SnsNotifier


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    store = S3ObjectStore()
    offload = PayloadOffload(store, settings.quarantine_bucket)
    return Adapters(
        store=store,
        ledger=DynamoStockLedger(settings.inventory_table, settings.movement_ledger_table),
        orders=DynamoPurchaseOrders(settings.purchase_orders_table, settings.inventory_table),
        bus=EventBridgeBus(settings.event_bus_name, settings.event_source, offload),
        ops=SnsNotifier(settings.ops_topic_arn, offload),
    )


def report_unknown(a: Adapters, run_id: str, unknown: list[Any], summary: dict[str, Any]) -> None:
    """Movements for items the inventory does not know: listed in quarantine, operators told."""
    key = f"inventory/unknown_items/{run_id}.jsonl"
    lines = [json.dumps({"store_id": s, "product_id": p, "movement_ids": ids}) for s, p, ids in unknown]
    a.store.put(settings.quarantine_bucket, key, ("\n".join(lines) + "\n").encode(), "application/x-ndjson")
    summary["unknown_report"] = {"bucket": settings.quarantine_bucket, "key": key}
    a.ops.notify(
        f"[{settings.stage}] {summary['unknown']} stock movements for unknown items", summary, "HIGH"
    )
    logger.warning("movements for unknown store/product", extra=summary)


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    published = parse(DatasetPublishedEvent, event, "DatasetPublished event").detail
    expect("DatasetPublished event", "detail.dataset", published.dataset, DATASET)
    a = adapters()
    report = apply_movements(read_published(a.store, published), a.ledger, a.orders)  # curated rows
    summary: dict[str, Any] = {
        "dataset": published.dataset,
        "run_id": published.run_id,
        "movements": report.movements,
        "applied": report.applied,
        "duplicates": report.duplicates,
        "unknown": report.unknown_movements,
        "units_applied": report.units_applied,
        "unknown_items": len(report.unknown),
        "orders_closed": report.orders_closed,
        "deliveries_without_order": report.deliveries_without_order,
    }
    if report.unknown:
        report_unknown(a, published.run_id, report.unknown, summary)
    a.bus.put(INVENTORY_MOVEMENTS_APPLIED, summary)
    metrics.add_metric(name="MovementsApplied", unit=MetricUnit.Count, value=report.applied)
    metrics.add_metric(name="MovementsDuplicate", unit=MetricUnit.Count, value=report.duplicates)
    metrics.add_metric(name="MovementsUnknownItem", unit=MetricUnit.Count, value=report.unknown_movements)
    metrics.add_metric(name="PurchaseOrdersClosed", unit=MetricUnit.Count, value=len(report.orders_closed))
    metrics.add_metric(
        name="DeliveriesWithoutOrder", unit=MetricUnit.Count, value=report.deliveries_without_order
    )
    return summary
