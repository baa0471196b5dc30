"""Daily end-of-day report (EventBridge schedule, 01:00 UTC): Athena SQL via awswrangler.

Writes one CSV per section and a JSON summary under reports/daily/report_date=<day>/ in the
curated bucket, then announces DailyReportReady.
"""

from __future__ import annotations

import csv
import io
from functools import cache
from typing import Any

import awswrangler as wr
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, S3ObjectStore
from datapipe.events import DAILY_REPORT_READY
from datapipe.reports import daily_key, daily_report, report_day, to_json
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()


def run_query(sql: str) -> list[dict[str, Any]]:
    frame = wr.athena.read_sql_query(
        sql,
        database=settings.require("glue_database"),
        workgroup=settings.require("athena_workgroup"),
        ctas_approach=False,
        unload_approach=False,
    )
    frame = frame.astype(object).where(frame.notna(), None)  # NaN/NA -> None for JSON and CSV
    return list(frame.to_dict("records"))


def _csv(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue().encode()


@cache
def adapters() -> tuple[S3ObjectStore, EventBridgeBus]:
    return S3ObjectStore(), EventBridgeBus(settings.require("event_bus_name"), settings.event_source)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    day = report_day(event["time"])
    report = daily_report(run_query, settings.require("glue_database"), day)
    store, bus = adapters()
    bucket = settings.require("curated_bucket")
    for name, rows in report["sections"].items():
        store.put(bucket, daily_key(day, f"{name}.csv"), _csv(rows), "text/csv")
    summary_key = daily_key(day, "summary.json")
    store.put(bucket, summary_key, to_json(report["summary"]), "application/json")
    detail = {**report["summary"], "location": {"bucket": bucket, "prefix": daily_key(day, "")}}
    bus.put(DAILY_REPORT_READY, detail)
    logger.info("daily report", extra=detail)
    return detail
