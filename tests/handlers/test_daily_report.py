"""functions/daily_report/app.py imported directly: what it is given, what it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from offline_runtime.emulator.session import drain
from offline_runtime.scenario.project import observe_bus
from tests.handlers.direct import DirectHandler, direct_handler, eventbridge, sample


@pytest.fixture(scope="module")
def daily(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "DailyReportFunction") as handler:
        yield handler


def test_the_schedule_reports_the_day_that_closed_and_waits_for_end_of_day(daily: DirectHandler) -> None:
    bus = observe_bus(daily.stack, "direct-daily")
    # WHEN the 01:00 schedule of 2026-11-23 fires and end of day has not closed 2026-11-22
    r = daily(sample(daily.stack, "daily_report_schedule.json"))
    # THEN the report is blocked, never issued on partial data, and says so on the bus
    assert (r["status"], r["period"], r["report_date"]) == ("BLOCKED", "2026-11-22", "2026-11-22")
    (blocked,) = [e for e in drain(daily.stack, bus) if e["detail-type"].startswith("DailyReport")]
    assert blocked["detail-type"] == "DailyReportBlocked" and blocked["detail"]["missing"] == ["2026-11-22"]


def test_a_day_closed_event_before_the_schedule_ran_does_nothing(daily: DirectHandler) -> None:
    event = eventbridge("EndOfDayClosed", "retail.datapipe", {"business_date": "2026-10-02", "version": 1})
    assert daily(event) == {"status": "NOT_DUE", "report": "daily", "period": "2026-10-02"}


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (eventbridge("DatasetPublished", "retail.datapipe", {}), "detail-type"),
        ({"schedule": "daily-report"}, "scheduled_time"),
        ({"schedule": "daily-report", "scheduled_time": "tomorrow"}, "scheduled_time"),
        ({"schedule": "daily-report", "scheduled_time": "2026-11-23T01:00:00"}, "scheduled_time"),
    ],
)
def test_an_event_it_does_not_take_names_the_field(daily: DirectHandler, event: Any, field: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        daily(event)
    assert field in err.value.problems_dict()
