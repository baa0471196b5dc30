"""Apply movements: DatasetPublished (inventory_movements) -> inventory table, each movement once.

Unknown store/product pairs are not dropped: they are written to the quarantine bucket, the
operators are told, and the counts travel on InventoryMovementsApplied.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, S3ObjectStore, SnsNotifier
from datapipe.events import INVENTORY_MOVEMENTS_APPLIED
from datapipe.inventory import DynamoStockLedger, apply_movements
from datapipe.settings import Settings
from datapipe.staging import DatasetPublishedEvent, read_staged

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()


@cache
def adapters() -> tuple[S3ObjectStore, DynamoStockLedger, EventBridgeBus]:
    """Clients made once per execution environment, on first use (not at import)."""
    return (
        S3ObjectStore(),
        DynamoStockLedger(settings.require("inventory_table"), settings.require("movement_ledger_table")),
        EventBridgeBus(settings.require("event_bus_name"), settings.event_source),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=DatasetPublishedEvent)
def lambda_handler(event: DatasetPublishedEvent, context: LambdaContext) -> dict[str, Any]:
    published = event.detail
    store, ledger, bus = adapters()
    table = read_staged(store, published.staged)
    report = apply_movements(table, ledger)
    summary: dict[str, Any] = {
        "dataset": published.dataset,
        "run_id": published.run_id,
        "movements": report.movements,
        "applied": report.applied,
        "duplicates": report.duplicates,
        "unknown": report.unknown_movements,
        "units_applied": report.units_applied,
        "unknown_items": len(report.unknown),
    }
    if report.unknown:
        key = f"inventory/unknown_items/{published.run_id}.jsonl"
        lines = [
            json.dumps({"store_id": s, "product_id": p, "movement_ids": ids}) for s, p, ids in report.unknown
        ]
        store.put(
            settings.require("quarantine_bucket"),
            key,
            ("\n".join(lines) + "\n").encode(),
            "application/x-ndjson",
        )
        summary["unknown_report"] = {"bucket": settings.quarantine_bucket, "key": key}
        SnsNotifier(settings.require("ops_topic_arn")).notify(
            f"[{settings.stage}] {report.unknown_movements} stock movements for unknown items",
            summary,
            "HIGH",
        )
        logger.warning("movements for unknown store/product", extra=summary)
    bus.put(INVENTORY_MOVEMENTS_APPLIED, summary)
    metrics.add_metric(name="MovementsApplied", unit=MetricUnit.Count, value=report.applied)
    metrics.add_metric(name="MovementsDuplicate", unit=MetricUnit.Count, value=report.duplicates)
    metrics.add_metric(name="MovementsUnknownItem", unit=MetricUnit.Count, value=report.unknown_movements)
    return summary
