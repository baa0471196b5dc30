"""Daily regulatory report (EventBridge Scheduler, 01:00 in the bank's zone): the transaction
validation summary and balance reconciliation of the business day that just closed, by business
date, with Athena SQL. Blocked (HIGH, ``DailyReportBlocked``) while end of day has not closed the
day or it did not reconcile; issued as soon as it does (``EndOfDayClosed``); re-issued as a new
version when the day is restated (``EndOfDayRestated``). By hand: ``{"period": "YYYY-MM-DD"}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.banking.calendar import day_closed_by
from datapipe.banking.events import DayEvent, ManualReport, ScheduledRun, parse_report_trigger
from datapipe.banking.settings import ReportSettings
from datapipe.observability import instruments
from datapipe.reports import DAILY, Reporter, reporter

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = ReportSettings.from_env()


@dataclass(frozen=True)
class Adapters:
    reports: Reporter


def _metric(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    return Adapters(reporter(settings, _metric))


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    trigger = parse_report_trigger(event, (DayEvent,))
    reports = adapters().reports
    now = datetime.now(UTC)
    if isinstance(trigger, ScheduledRun):
        at = trigger.scheduled_time.astimezone(UTC)
        day = day_closed_by(at, settings.business_time_zone)
        result = reports.run(DAILY, day.isoformat(), at, f"{trigger.schedule} at {at.isoformat()}")
    elif isinstance(trigger, ManualReport):
        result = reports.run(DAILY, trigger.period, now, "manual")
    else:
        d = trigger.detail
        why = f"{trigger.detail_type} v{d.version}"
        result = reports.run(DAILY, d.business_date.isoformat(), now, why, only_if_attempted=True)
    logger.info("daily report", extra=result)
    return result
