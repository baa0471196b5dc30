"""Reports never fail for lack of data: missing tables and empty days are results."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from datapipe.reports import DAILY_FIELDS, daily_report, read_daily_summary, report_day, weekly_report

DAY = date(2026, 11, 22)


class Queries:
    """Records the SQL it is given and answers from a canned table of rows per section keyword."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.sql: list[str] = []
        self.rows = rows or {}

    def __call__(self, sql: str) -> list[dict[str, Any]]:
        self.sql.append(sql)
        return next((rows for marker, rows in self.rows.items() if marker in sql), [])


def test_a_fresh_catalog_runs_no_query_on_the_missing_table_and_reports_no_data() -> None:
    run = Queries()
    report = daily_report(run, "db", DAY, tables={"pipeline_events"})
    assert not [sql for sql in run.sql if '"transactions"' in sql]
    summary = report["summary"]
    assert summary["status"] == "NO_DATA" and summary["missing_tables"] == ["transactions"]
    assert summary["reason"] == "no data for 2026-11-22: table(s) transactions not in db yet"
    assert (summary["transactions"], summary["sales"], summary["rows_in"]) == (0, "0", 0)
    assert report["sections"]["sales_per_store"] == []


def test_a_day_with_rows_in_any_section_is_ready() -> None:
    run = Queries({"LowStockDetected": [{"store_id": "S1", "low_stock_crossings": 2, "stock_outs": 1}]})
    summary = daily_report(run, "db", DAY, tables={"pipeline_events", "transactions"})["summary"]
    assert (summary["status"], summary["low_stock_crossings"], summary["stock_outs"]) == ("READY", 2, 1)
    assert summary["missing_tables"] == [] and "reason" not in summary


def test_a_null_quarantine_rate_is_zero_not_a_crash() -> None:
    row = {"dataset": "t", "files_staged": 1, "files_refused": 0, "rows_in": 0, "rows_published": 0}
    run = Queries({"refused_files": [{**row, "quarantine_rate": None}]})
    summary = daily_report(run, "db", DAY)["summary"]
    assert summary["quarantine_rate_by_dataset"] == {"t": 0.0}


def no_data(day: date) -> dict[str, Any]:
    return {
        "status": "NO_DATA",
        **dict.fromkeys(DAILY_FIELDS, 0),
        "sales": "0",
        "fraud_cases_by_severity": {},
    }


def test_a_week_of_no_data_days_is_no_data() -> None:
    week = {DAY - timedelta(days=i): no_data(DAY - timedelta(days=i)) for i in range(7)}
    report = weekly_report(week, DAY)
    assert report["status"] == "NO_DATA" and report["quarantine_rate"] == 0.0 and "reason" in report
    week[DAY] = {**no_data(DAY), "status": "READY", "transactions": 3, "sales": "1.50"}
    assert weekly_report(week, DAY)["status"] == "READY"


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"{", "not JSON"), (b"[1]", "not a JSON object"), (b'{"transactions": 1}', "lacks sales")],
)
def test_an_unreadable_daily_summary_says_why(body: bytes, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        read_daily_summary(body)


def test_the_report_day_is_the_day_before_the_schedule_in_utc() -> None:
    from datetime import datetime, timezone

    assert report_day("2026-11-23T01:00:00Z") == DAY
    assert report_day(datetime(2026, 11, 23, 1, 30, tzinfo=timezone(timedelta(hours=3)))) == date(
        2026, 11, 21
    )
