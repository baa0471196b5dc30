"""Daily end-of-day report (EventBridge schedule, 01:00 UTC): Athena SQL via awswrangler.

Writes one CSV per section and a JSON summary under reports/daily/report_date=<day>/ in the
curated bucket, then announces DailyReportReady, or DailyReportNoData when the day had no data
(a fresh stack before its first publish included: sections whose tables are not in the catalog
yet are not queried). The summary is written either way, so the weekly report sees the day.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import AthenaQueries, EventBridgeBus, GlueCatalog, S3ObjectStore
from datapipe.envelopes import ScheduledEvent, parse
from datapipe.events import DAILY_REPORT_NO_DATA, DAILY_REPORT_READY
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload
from datapipe.reports import NO_DATA, daily_key, daily_report, report_day, to_json
from datapipe.settings import DailyReportSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = DailyReportSettings.from_env()


@dataclass(frozen=True)
class Adapters:
    store: S3ObjectStore
    bus: EventBridgeBus
    catalog: GlueCatalog
    athena: AthenaQueries


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    store = S3ObjectStore()
    return Adapters(
        store=store,
        bus=EventBridgeBus(
            settings.event_bus_name, settings.event_source, PayloadOffload(store, settings.quarantine_bucket)
        ),
        catalog=GlueCatalog(settings.glue_database),
        athena=AthenaQueries(settings.glue_database, settings.athena_workgroup),
    )


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue().encode()


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    scheduled = parse(ScheduledEvent, event, "scheduled event")
    day = report_day(scheduled.time)
    a = adapters()
    report = daily_report(a.athena.run, settings.glue_database, day, a.catalog.table_names())
    bucket = settings.curated_bucket
    for name, rows in report["sections"].items():
        a.store.put(bucket, daily_key(day, f"{name}.csv"), _csv(rows), "text/csv")
    a.store.put(bucket, daily_key(day, "summary.json"), to_json(report["summary"]), "application/json")
    detail = {**report["summary"], "location": {"bucket": bucket, "prefix": daily_key(day, "")}}
    no_data = detail["status"] == NO_DATA
    a.bus.put(DAILY_REPORT_NO_DATA if no_data else DAILY_REPORT_READY, detail)
    metrics.add_metric(
        name="DailyReportNoData" if no_data else "DailyReportReady", unit=MetricUnit.Count, value=1
    )
    logger.info("daily report", extra=detail)
    return detail
