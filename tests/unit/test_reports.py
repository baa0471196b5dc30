"""The regulatory reports' pure parts: the files and their checksums, the SQL by business date,
the reporting week, sections over a catalog that lacks a table."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal

from datapipe.reports import (
    daily_sql,
    last_week_end,
    package,
    report_prefix,
    run_sections,
    weekly_sql,
)


def test_a_package_lists_every_file_with_its_sha256() -> None:
    files = package(
        {"balances": [{"currency": "USD", "closing": "10.50"}]}, {"report": "daily", "period": "d"}
    )
    assert files["balances.csv"] == b"currency,closing\nUSD,10.50\n"
    summary = json.loads(files["summary.json"])
    assert summary["checksums"] == {"balances.csv": hashlib.sha256(files["balances.csv"]).hexdigest()}
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == {"balances.csv", "summary.json"}
    assert manifest["files"]["summary.json"]["sha256"] == hashlib.sha256(files["summary.json"]).hexdigest()


def test_a_package_is_the_same_bytes_when_rebuilt() -> None:
    """A retried run rewrites identical files (nothing time-dependent inside)."""
    args = ({"x": [{"a": 1}]}, {"report": "weekly", "period": "2026-11-28", "version": 2})
    assert package(*args) == package(*args)


def test_versions_have_their_own_prefix() -> None:
    assert report_prefix("daily", "2026-11-22", 2) == "reports/daily/report_date=2026-11-22/v2/"
    assert report_prefix("monthly", "2026-11", 1) == "reports/monthly/month=2026-11/v1/"


def test_daily_figures_are_by_event_time_in_the_business_day_not_by_publication() -> None:
    sql = daily_sql("db", date(2026, 11, 1), "America/New_York")["transactions_by_type"][1]
    # the fall-back day: 04:00Z to 05:00Z the next day, on the two UTC partitions it touches
    assert "event_time >= TIMESTAMP '2026-11-01 04:00:00.000'" in sql
    assert "event_time < TIMESTAMP '2026-11-02 05:00:00.000'" in sql
    assert "event_date IN ('2026-11-01', '2026-11-02')" in sql
    assert "published" not in sql.lower()


def test_the_reporting_week_ends_on_saturday() -> None:
    assert last_week_end(date(2026, 11, 28)) == date(2026, 11, 28)  # a Saturday is its own week end
    assert last_week_end(date(2026, 11, 29)) == date(2026, 11, 28)  # Sunday: the week just ended
    assert last_week_end(date(2026, 12, 4)) == date(2026, 11, 28)
    sql = weekly_sql("db", date(2026, 11, 28), "UTC", Decimal(25000), set())
    totals = sql["daily_totals"][1]
    assert "business_date >= '2026-11-22'" in totals and "business_date <= '2026-11-28'" in totals


def test_a_section_over_a_table_not_in_the_catalog_is_empty_and_named() -> None:
    asked: list[str] = []

    def run(text: str) -> list[dict[str, object]]:
        asked.append(text)
        return [{"n": 1}]

    sections, missing = run_sections(
        run,
        {"a": (("transactions",), "SELECT 1"), "b": (("daily_balances",), "SELECT 2")},
        {"daily_balances"},
    )
    assert sections == {"a": [], "b": [{"n": 1}]} and missing == ["transactions"] and asked == ["SELECT 2"]
