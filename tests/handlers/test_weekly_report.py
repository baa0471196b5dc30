"""functions/weekly_report/app.py imported directly: the reporting week, refused without its dailies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from offline_runtime.emulator.session import drain, observe_topic
from tests.handlers.direct import DirectHandler, direct_handler, eventbridge, sample


@pytest.fixture(scope="module")
def weekly(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "WeeklyReportFunction") as handler:
        yield handler


def test_a_week_without_its_seven_dailies_is_refused_with_a_high_alert(weekly: DirectHandler) -> None:
    ops = observe_topic(weekly.stack, weekly.stack.outputs["OpsTopicArn"], "direct-weekly-ops")
    r = weekly(sample(weekly.stack, "weekly_report_schedule.json"))
    assert (r["status"], r["period"]) == ("BLOCKED", "2026-11-28")
    assert r["days"] == [f"2026-11-{d}" for d in range(22, 29)] and len(r["missing"]) == 7
    (alert,) = drain(weekly.stack, ops)
    assert alert["MessageAttributes"]["severity"]["Value"] == "HIGH"


def test_a_daily_issued_before_the_weekly_ran_does_nothing(weekly: DirectHandler) -> None:
    event = eventbridge("DailyReportReady", "retail.datapipe", {"report": "daily", "period": "2026-10-07"})
    assert weekly(event) == {"status": "NOT_DUE", "report": "weekly", "period": "2026-10-10"}


def test_an_event_of_another_detail_type_names_it(weekly: DirectHandler) -> None:
    with pytest.raises(InvalidEvent) as err:
        weekly(eventbridge("MonthlyReportReady", "retail.datapipe", {}))
    assert "detail-type" in err.value.problems_dict()
