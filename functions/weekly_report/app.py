"""Weekly report (Sundays 02:00 UTC): runs only when the week's seven daily reports exist.

A missing (or unreadable) day is a broken dependency: the operators are alerted (and
WeeklyReportBlocked is announced) instead of publishing a week that silently lacks a day. A week
whose seven dailies all had no data is announced as WeeklyReportNoData.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, S3ObjectStore, SnsNotifier
from datapipe.envelopes import ScheduledEvent, parse
from datapipe.events import WEEKLY_REPORT_BLOCKED, WEEKLY_REPORT_NO_DATA, WEEKLY_REPORT_READY
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload
from datapipe.reports import (
    NO_DATA,
    daily_key,
    read_daily_summary,
    report_day,
    to_json,
    week_days,
    weekly_key,
    weekly_report,
)
from datapipe.settings import WeeklyReportSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = WeeklyReportSettings.from_env()


@dataclass(frozen=True)
class Adapters:
    store: S3ObjectStore
    bus: EventBridgeBus
    ops: SnsNotifier


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    store = S3ObjectStore()
    offload = PayloadOffload(store, settings.quarantine_bucket)
    return Adapters(
        store=store,
        bus=EventBridgeBus(settings.event_bus_name, settings.event_source, offload),
        ops=SnsNotifier(settings.ops_topic_arn, offload),
    )


def load_dailies(a: Adapters, week_ending: date) -> tuple[dict[date, dict[str, Any]], dict[str, str]]:
    """The week's daily summaries, and for each day without a usable one, why."""
    bucket = settings.curated_bucket
    dailies: dict[date, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    for day in week_days(week_ending):
        key = daily_key(day, "summary.json")
        if not a.store.list_keys(bucket, key):
            problems[day.isoformat()] = "no daily report"
            continue
        try:
            dailies[day] = read_daily_summary(a.store.get(bucket, key).body)
        except ValueError as exc:
            problems[day.isoformat()] = f"daily report unreadable: {exc}"
    return dailies, problems


def blocked(a: Adapters, week_ending: date, problems: dict[str, str]) -> dict[str, Any]:
    detail = {
        "week_ending": week_ending.isoformat(),
        "missing_daily_reports": sorted(problems),
        "problems": problems,
        "reason": f"{len(problems)} of 7 daily reports missing; weekly report not produced",
    }
    a.ops.notify(
        f"[{settings.stage}] weekly report blocked: {len(problems)} daily report(s) missing", detail, "HIGH"
    )
    a.bus.put(WEEKLY_REPORT_BLOCKED, detail)
    metrics.add_metric(name="WeeklyReportBlocked", unit=MetricUnit.Count, value=1)
    logger.warning("weekly report blocked", extra=detail)
    return {"status": "BLOCKED", **detail}


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    week_ending = report_day(parse(ScheduledEvent, event, "scheduled event").time)
    a = adapters()
    dailies, problems = load_dailies(a, week_ending)
    if problems:
        return blocked(a, week_ending, problems)
    report = weekly_report(dailies, week_ending)
    a.store.put(
        settings.curated_bucket, weekly_key(week_ending, "summary.json"), to_json(report), "application/json"
    )
    no_data = report["status"] == NO_DATA
    a.bus.put(WEEKLY_REPORT_NO_DATA if no_data else WEEKLY_REPORT_READY, report)
    metrics.add_metric(
        name="WeeklyReportNoData" if no_data else "WeeklyReportReady", unit=MetricUnit.Count, value=1
    )
    logger.info("weekly report", extra={k: v for k, v in report.items() if k != "daily_sales"})
    return report
