"""Weekly report (Sundays 02:00 UTC): runs only when the week's seven daily reports exist.

A missing day is a broken dependency: the operators are alerted (and WeeklyReportBlocked is
announced) instead of publishing a week that silently lacks a day.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, S3ObjectStore, SnsNotifier
from datapipe.events import WEEKLY_REPORT_BLOCKED, WEEKLY_REPORT_READY
from datapipe.reports import daily_key, report_day, to_json, week_days, weekly_key, weekly_report
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()


@cache
def adapters() -> tuple[S3ObjectStore, EventBridgeBus]:
    return S3ObjectStore(), EventBridgeBus(settings.require("event_bus_name"), settings.event_source)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    week_ending = report_day(event["time"])
    store, bus = adapters()
    bucket = settings.require("curated_bucket")
    dailies: dict[Any, dict[str, Any]] = {}
    missing = []
    for day in week_days(week_ending):
        if store.list_keys(bucket, daily_key(day, "summary.json")):
            dailies[day] = json.loads(store.get(bucket, daily_key(day, "summary.json")).body)
        else:
            missing.append(day.isoformat())
    if missing:
        detail = {
            "week_ending": week_ending.isoformat(),
            "missing_daily_reports": missing,
            "reason": f"{len(missing)} of 7 daily reports missing; weekly report not produced",
        }
        SnsNotifier(settings.require("ops_topic_arn")).notify(
            f"[{settings.stage}] weekly report blocked: {len(missing)} daily report(s) missing",
            detail,
            "HIGH",
        )
        bus.put(WEEKLY_REPORT_BLOCKED, detail)
        logger.warning("weekly report blocked", extra=detail)
        return {"status": "BLOCKED", **detail}
    report = weekly_report(dailies, week_ending)
    store.put(bucket, weekly_key(week_ending, "summary.json"), to_json(report), "application/json")
    bus.put(WEEKLY_REPORT_READY, report)
    return {"status": "READY", **report}
