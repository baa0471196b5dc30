"""Weekly risk report (EventBridge Scheduler, Sunday 02:00 in the bank's zone) for the reporting
week Sunday..Saturday that ended at Saturday's close: overdrawn and over-limit accounts, large
exposures, fraud case statistics, with Athena SQL over the curated balances and transactions.
Only when the week's seven daily reports are issued; refused otherwise (HIGH,
``WeeklyReportBlocked``), retried when a missing daily is issued, re-issued when one is restated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.banking.calendar import day_closed_by, week_ending
from datapipe.banking.events import ManualReport, ReportEvent, ScheduledRun, parse_report_trigger
from datapipe.banking.settings import WeeklyReportSettings
from datapipe.observability import instruments
from datapipe.reports import DAILY, WEEKLY, Reporter, last_week_end, reporter

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = WeeklyReportSettings.from_env()


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
        saturday = last_week_end(day_closed_by(at, settings.business_time_zone))
        result = reports.run(WEEKLY, saturday.isoformat(), at, f"{trigger.schedule} at {at.isoformat()}")
    elif isinstance(trigger, ManualReport):
        result = reports.run(WEEKLY, last_week_end(_day(trigger.period)).isoformat(), now, "manual")
    elif trigger.detail.report != DAILY:
        result = {"status": "IGNORED", "report": trigger.detail.report}
    else:
        saturday = week_ending(_day(trigger.detail.period))
        why = f"daily {trigger.detail.period} v{trigger.detail.version}"
        result = reports.run(WEEKLY, saturday.isoformat(), now, why, only_if_attempted=True)
    logger.info("weekly report", extra=result)
    return result


def _day(text: str) -> Any:
    from datapipe.banking.ledger import _date

    return _date(text)
