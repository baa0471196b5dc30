"""Freshness checker (EventBridge schedule, after the latest delivery due time): DatasetLate.

For the business day before the trigger time, every contract's delivery calendar is compared with
the published history: one ``DatasetLate`` per dataset with overdue sources (which ones, why, how
many rows came), and the ``DeliveriesLate`` metric per dataset on every run, 0 included, so the
freshness alarm sees "on time" as data, not as silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, S3ObjectStore
from datapipe.contracts import default_registry
from datapipe.envelopes import ScheduledEvent, parse
from datapipe.freshness import DATASET_LATE, check_freshness, report_day
from datapipe.observability import instruments
from datapipe.operations import DELIVERIES_LATE, emit_one
from datapipe.payloads import PayloadOffload
from datapipe.settings import FreshnessCheckSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = FreshnessCheckSettings.from_env()


@dataclass(frozen=True)
class Adapters:
    store: S3ObjectStore
    bus: EventBridgeBus


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    store = S3ObjectStore()
    return Adapters(
        store=store,
        bus=EventBridgeBus(
            settings.event_bus_name, settings.event_source, PayloadOffload(store, settings.quarantine_bucket)
        ),
    )


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    scheduled = parse(ScheduledEvent, event, "scheduled event")
    day = report_day(scheduled.time)
    a = adapters()
    results = check_freshness(default_registry(), a.store, settings.curated_bucket, day, scheduled.time)
    late = []
    for result in results:
        # one metric per dataset (its own dimension set), so each is its own EMF document
        emit_one(metrics, DELIVERIES_LATE, len(result.missing), dataset=result.dataset)
        if result.late:
            detail = result.detail()
            a.bus.put(DATASET_LATE, detail)
            logger.warning("dataset late", extra=detail)
            late.append(detail)
    metrics.add_metric(name="DatasetsLate", unit=MetricUnit.Count, value=len(late))
    summary = {
        "business_day": day.isoformat(),
        "checked": [r.dataset for r in results],
        "late": {d["dataset"]: d["sources_late"] for d in late},
    }
    logger.info("freshness checked", extra=summary)
    return summary
