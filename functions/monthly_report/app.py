"""Monthly regulatory submission package (EventBridge Scheduler, 03:00 on the 1st in the bank's
zone) for the month that ended, with Athena SQL; only when the month's dailies and weeklies are
issued (else HIGH, ``MonthlyReportBlocked``, retried as they are issued), re-issued when one of
them is re-issued. ``deadline_handler`` (weekdays 17:00): from the configured business day of the
month on (holiday calendar as data), a package not produced is overdue — CRITICAL,
``MonthlyReportOverdue`` and the metric the deadline alarm watches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.banking.calendar import business_date, previous_month
from datapipe.banking.events import ManualReport, ReportEvent, ScheduledRun, parse_report_trigger
from datapipe.banking.settings import MonthlyReportSettings
from datapipe.envelopes import parse
from datapipe.observability import instruments
from datapipe.reports import MONTHLY, Reporter, reporter

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = MonthlyReportSettings.from_env()


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
    trigger = parse_report_trigger(event, (ReportEvent,))
    reports = adapters().reports
    now = datetime.now(UTC)
    if isinstance(trigger, ScheduledRun):
        at = trigger.scheduled_time.astimezone(UTC)
        year, month = previous_month(business_date(at, settings.business_time_zone))
        result = reports.run(MONTHLY, f"{year}-{month:02d}", at, f"{trigger.schedule} at {at.isoformat()}")
    elif isinstance(trigger, ManualReport):
        result = reports.run(MONTHLY, trigger.period[:7], now, "manual")
    else:
        d = trigger.detail
        why = f"{d.report} {d.period} v{d.version}"
        result = reports.run(MONTHLY, d.period[:7], now, why, only_if_attempted=True)
    logger.info("monthly report", extra=result)
    return result


@obs.handler
def deadline_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = parse(ScheduledRun, event, "scheduled run")
    at = run.scheduled_time.astimezone(UTC)
    today: date = business_date(at, settings.business_time_zone)
    result = adapters().reports.check_deadline(today, at)
    logger.info("monthly report deadline", extra=result)
    return result
