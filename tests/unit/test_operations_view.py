"""The operations view's pieces without a stack: the SLA measure, the DatasetLate detail, the
offline alarm rule, the console summary's shape and the report page's self-containment."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from datapipe.freshness import LATE_SOURCES_SHOWN, FreshnessResult
from datapipe.operations import arrival_to_published_seconds
from datapipe.quality.deliveries import MissingDelivery
from offline_runtime.scenario import report, summary
from offline_runtime.scenario.alarms import AlarmVerdict, _evaluate_expression, severity_of


def test_arrival_to_published_is_seconds_never_negative_and_naive_means_utc() -> None:
    arrived = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
    assert arrival_to_published_seconds(arrived, arrived + timedelta(minutes=3)) == 180.0
    assert arrival_to_published_seconds(arrived, arrived - timedelta(seconds=2)) == 0.0
    assert arrival_to_published_seconds(arrived.replace(tzinfo=None), arrived + timedelta(seconds=5)) == 5.0


def missing(n: int) -> tuple[MissingDelivery, ...]:
    due = datetime(2026, 11, 23, 6, tzinfo=UTC)
    return tuple(
        MissingDelivery("transactions", f"S{i:03d}", date(2026, 11, 22), due, 0, 20, "not delivered")
        for i in range(1, n + 1)
    )


def test_a_late_detail_lists_a_bounded_number_of_sources_and_counts_them_all() -> None:
    detail = FreshnessResult("transactions", date(2026, 11, 22), 61, missing(70)).detail()
    assert detail["sources_late"] == 70 and detail["sources_expected"] == 61
    assert len(detail["late"]) == LATE_SOURCES_SHOWN and detail["late_not_listed"] == 70 - LATE_SOURCES_SHOWN
    assert detail["due_at"] == "2026-11-23T06:00:00+00:00"
    assert not FreshnessResult("transactions", date(2026, 11, 22), 61, ()).late


def test_alarm_expressions_as_cloudwatch_computes_them() -> None:
    values: dict[str, float | None] = {"rej0": 5.0, "in0": 100.0, "rej1": None, "in1": 50.0, "c": 30.0}
    assert _evaluate_expression("MAX([rej0 / in0, rej1 / in1])", values, {}) == 0.05
    assert _evaluate_expression("rej0 / zero", {**values, "zero": 0.0}, {}) is None  # no datum, as on AWS
    assert _evaluate_expression("DIFF(c)", values, {"c": 12.0}) == 18.0
    assert _evaluate_expression("DIFF(c)", values, {}) is None
    with pytest.raises(ValueError, match="not understood"):
        _evaluate_expression("ANOMALY_DETECTION_BAND(c)", values, {})
    assert severity_of("HIGH: something") == "HIGH" and severity_of("no prefix here") == "-"


def a_day(files: list[dict[str, Any]]) -> dict[str, Any]:
    return summary.build(
        day=date(2026, 11, 22),
        stores=60,
        files=files,
        events=[],
        fraud={"pager (SMS, CRITICAL|HIGH)": {"HIGH": 2}, "case management (all)": {"HIGH": 2, "MEDIUM": 3}},
        metrics=[],
        alarms=[AlarmVerdict("s-Freshness-DatasetLate", "HIGH", "ALARM", 1.0, 0.0, "HIGH: late")],
        ops_alerts=[],
        withheld=["transactions/2026-11-22/pos-S007.csv"],
        problems=[],
        elapsed_s=12.0,
        out_dir=Path("out/demo"),
    )


def outcome(key: str, decision: str, rows: int, published: int, score: float | None = 0.97) -> dict[str, Any]:
    return {
        "key": key,
        "expect": decision,
        "note": "",
        "rows_in": rows,
        "published": published,
        "quarantined_rows": rows - published,
        "decision": decision,
        "reason": "" if decision == "publish" else "QUALITY_GATE_FAILED: validity 0.70",
        "top_rejects": [["amount_sign", 3]],
        "score": score,
        "checks": {},
        "states": [],
    }


def test_a_normal_day_fits_one_screen_and_shows_only_the_exceptions() -> None:
    files = [outcome(f"transactions/2026-11-22/pos-S{i:03d}.csv", "publish", 100, 99) for i in range(1, 61)]
    files.append(outcome("transactions/2026-11-22/pos-S041-terminal-7.csv", "gate_quarantine", 100, 0, 0.7))
    made = a_day(files)
    lines = summary.console_lines(made)
    assert len(lines) <= summary.MAX_CONSOLE_LINES
    assert [line for line in lines if "pos-S0" in line and "withheld" not in line] == [
        "     transactions/pos-S041-terminal-7.csv: quarantined by the quality gate score 0.700: "
        "QUALITY_GATE_FAILED: validity 0.70"
    ]
    assert made["totals"] == {
        "files": 61,
        "rows_in": 6100,
        "published": 5940,
        "quarantined": 160,
        "adds_up": True,
    }
    assert any("1 fired" in line for line in lines)


def test_a_day_of_many_exceptions_says_how_many_it_did_not_list() -> None:
    files = [
        outcome(f"transactions/2026-11-22/pos-S{i:03d}.csv", "gate_quarantine", 100, 0, 0.5)
        for i in range(1, 30)
    ]
    lines = summary.console_lines(a_day(files))
    assert len(lines) <= summary.MAX_CONSOLE_LINES
    assert f"  ... {29 - summary.MAX_EXCEPTION_LINES + 1} more in summary.json" in lines


def test_the_report_is_one_page_with_inline_svg_charts_and_no_external_reference() -> None:
    files = [outcome("transactions/2026-11-22/pos-S001.csv", "publish", 100, 99)]
    page = report.render(a_day(files))
    assert page.startswith("<!DOCTYPE html>") and page.count('<div class="chart"') == 5
    assert page.count("<svg") == 5 and "<script" not in page
    external = re.findall(r"(?:src|href)=\"([^\"#][^\"]*)\"", page)
    assert external == []
    assert "S007" in page  # the withheld file is said, not hidden


def test_the_daily_report_line_reads_the_reports_own_counts() -> None:
    made = a_day([outcome("transactions/2026-11-22/pos-S001.csv", "publish", 100, 99)])
    made["daily_report"] = {
        "report_date": "2026-11-22",
        "transactions": 101_084,
        "rows_in": 102_138,
        "rows_rejected": 1_054,
        "sales_by_currency": {"USD": "123.45"},
    }
    line = next(x for x in summary.console_lines(made) if x.startswith("reports"))
    assert line == (
        "reports    daily 2026-11-22: 101,084 transactions, sales USD 123.45; "
        "rows rejected 1.03% of 102,138 rows"
    )
    assert "<td>rows rejected at ingest</td><td>1.03%</td>" in report.render(made)
