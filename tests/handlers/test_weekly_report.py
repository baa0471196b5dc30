"""functions/weekly_report/app.py imported directly: blocked, no-data and ready weeks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from datapipe.reports import daily_key
from offline_runtime.emulator.session import drain, observe_topic
from offline_runtime.scenario.project import observe_bus
from tests.handlers.direct import DirectHandler, direct_handler, eventbridge


@pytest.fixture(scope="module")
def weekly(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "WeeklyReportFunction") as handler:
        yield handler


def schedule(sunday: date) -> dict[str, Any]:
    return eventbridge("Scheduled Event", "aws.events", {}, time=f"{sunday}T02:00:00Z")


def put_daily(weekly: DirectHandler, day: date, body: bytes | dict[str, Any]) -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    weekly.stack.client("s3").put_object(
        Bucket=weekly.stack.outputs["CuratedBucketName"], Key=daily_key(day, "summary.json"), Body=data
    )


def no_data_daily(day: date) -> dict[str, Any]:
    return {
        "report_date": day.isoformat(),
        "status": "NO_DATA",
        "transactions": 0,
        "sales": "0",
        "fraud_cases_by_severity": {},
        "rows_in": 0,
        "rows_published": 0,
        "stock_outs": 0,
    }


def test_a_week_without_dailies_is_blocked_and_ops_told(weekly: DirectHandler) -> None:
    ops = observe_topic(weekly.stack, weekly.stack.outputs["OpsTopicArn"], "direct-weekly-ops")
    r = weekly(schedule(date(2031, 1, 5)))
    weekly.stack.wait_idle(60)
    assert r["status"] == "BLOCKED" and len(r["missing_daily_reports"]) == 7
    (alert,) = drain(weekly.stack, ops)
    assert (
        alert["MessageAttributes"]["severity"]["Value"] == "HIGH" and "7 daily report(s)" in alert["Subject"]
    )


def test_seven_days_without_data_give_a_no_data_week(weekly: DirectHandler) -> None:
    sunday = date(2031, 2, 2)
    for back in range(1, 8):
        put_daily(weekly, sunday - timedelta(days=back), no_data_daily(sunday - timedelta(days=back)))
    bus = observe_bus(weekly.stack, "direct-weekly")
    r = weekly(schedule(sunday))
    assert (
        r["status"] == "NO_DATA" and len(r["days"]) == 7 and r["rows_in"] == 0 and r["quarantine_rate"] == 0.0
    )
    (event,) = [e for e in drain(weekly.stack, bus) if e["detail-type"].startswith("WeeklyReport")]
    assert event["detail-type"] == "WeeklyReportNoData"


def test_one_day_with_data_makes_the_week_ready(weekly: DirectHandler) -> None:
    sunday = date(2031, 3, 2)
    for back in range(1, 8):
        put_daily(weekly, sunday - timedelta(days=back), no_data_daily(sunday - timedelta(days=back)))
    busy = {
        **no_data_daily(sunday - timedelta(days=3)),
        "status": "READY",
        "transactions": 12,
        "sales": "99.50",
    }
    put_daily(weekly, sunday - timedelta(days=3), {**busy, "rows_in": 14, "rows_published": 12})
    r = weekly(schedule(sunday))
    assert (r["status"], r["transactions"], r["sales"], r["rows_in"]) == ("READY", 12, "99.50", 14)


def test_an_unreadable_daily_blocks_the_week_with_its_reason(weekly: DirectHandler) -> None:
    sunday = date(2031, 4, 6)
    for back in range(1, 8):
        put_daily(weekly, sunday - timedelta(days=back), no_data_daily(sunday - timedelta(days=back)))
    broken = sunday - timedelta(days=2)
    put_daily(weekly, broken, b"{not json")
    r = weekly(schedule(sunday))
    assert r["status"] == "BLOCKED" and r["missing_daily_reports"] == [broken.isoformat()]
    assert r["problems"][broken.isoformat()].startswith("daily report unreadable: not JSON")


def test_an_event_of_another_detail_type_names_it(weekly: DirectHandler) -> None:
    with pytest.raises(InvalidEvent) as err:
        weekly(eventbridge("WeeklyReportReady", "retail.datapipe", {}))
    assert err.value.field == "detail-type"
