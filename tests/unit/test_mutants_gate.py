"""The gate's checks pinned exactly at, just below and just above each limit, with the numbers and
messages an operator reads (written to kill the mutants ``make mutate`` found surviving in
datapipe.quality: checks, history, sources, deliveries). Expected values are derived by hand from
the contracts (transactions: volume tolerance 0.3, distribution shift 0.5, validity floor 0.8 ...).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from datapipe.contracts import default_registry
from datapipe.contracts.model import BusinessRule, DeliveryExpectation
from datapipe.quality import checks, history
from datapipe.quality.checks import Assessment, CheckResult
from datapipe.quality.deliveries import (
    delivered_rows_for_day,
    due_at,
    expected_on,
    members_of_file,
    missing_deliveries,
)
from datapipe.quality.sources import (
    SourceStats,
    file_source,
    history_by_source,
    history_entries,
    quantile_baseline,
    row_sources,
    source_stats,
    volume_baseline,
)
from tests.unit.gate_support import MemoryIdRegistry, manifest, staged

TX = default_registry().get("transactions")
INV = default_registry().get("inventory_movements")
MONDAY = date(2026, 3, 2)
ARRIVAL = datetime(2026, 3, 3, 2, tzinfo=UTC)


def exactly(message: str) -> str:
    """A pytest ``match`` for the whole message (a mutated message text must fail)."""
    return f"^{re.escape(message)}$"


def with_quality(contract, **changes):  # type: ignore[no-untyped-def]
    return replace(contract, quality=replace(contract.quality, **changes))


def hist(source: str, *rows: int, day: date | None = None, q: tuple[float, ...] | None = None):  # type: ignore[no-untyped-def]
    """A source's history, newest first: one observation per ``rows`` value."""
    return [(f"run-{i}", SourceStats(source, n, day, q)) for i, n in enumerate(rows)]


# ------------------------------------------------------------------ checks.py


def test_veto_is_a_floor_breach_or_a_failed_critical_check() -> None:
    at_floor = CheckResult("validity", 0.8, False, False, 0.95, floor=0.8)
    assert at_floor.veto is False  # at the floor: below minimum, not a veto
    assert CheckResult("validity", 0.7999, False, False, 0.95, floor=0.8).veto is True
    assert CheckResult("volume", 0.0, False, False, 0.5).veto is False  # no floor, not critical
    assert CheckResult("schema", 1.0, True, True, 1.0).veto is False
    assert CheckResult("schema", 0.96, False, True, 1.0).veto is True


def test_check_to_dict_rounds_the_score_and_carries_the_veto() -> None:
    d = CheckResult("validity", 0.123456789, False, False, 0.95, {"k": 1}, 0.8).to_dict()
    assert d == {
        "name": "validity",
        "score": 0.123457,
        "passed": False,
        "critical": False,
        "threshold": 0.95,
        "details": {"k": 1},
        "floor": 0.8,
        "veto": True,
    }


def test_result_clamps_scores_and_passes_exactly_at_the_minimum() -> None:
    assert checks._result(TX, "validity", 1.5, {}).score == 1.0
    assert checks._result(TX, "validity", -0.2, {}).score == 0.0
    at = checks._result(TX, "validity", 0.95, {})
    assert at.passed and at.threshold == 0.95 and at.floor == 0.8 and not at.critical
    assert not checks._result(TX, "validity", 0.9499, {}).passed
    assert checks._result(TX, "schema", 1.0, {}).critical is True
    assert checks._result(TX, "schema", 1.0, {}, critical=False).critical is False
    assert checks._result(TX, "volume", 0.3, {}, threshold=0.3).passed
    assert checks._result(TX, "volume", 0.3, {}).floor is None
    assert checks._result(TX, "no_such_check", 0.9, {}).threshold == 0.9  # the default minimum


def test_schema_check_names_each_problem_and_scores_the_share_of_columns() -> None:
    table = staged(TX, 3)
    ok = checks.schema_check(TX, table.schema, table)
    assert (ok.score, ok.passed, ok.details) == (1.0, True, {"problems": [], "columns": 25})

    missing = table.drop_columns(["merchant"])
    r = checks.schema_check(TX, missing.schema, missing)
    assert r.details["problems"] == ["missing column merchant"]
    assert r.score == pytest.approx(1 - 1 / 25) and r.veto

    retyped = table.set_column(table.schema.get_field_index("event_time"), "event_time", pa.array(["x"] * 3))
    r = checks.schema_check(TX, retyped.schema, retyped)
    assert r.details["problems"] == ["event_time: expected timestamp[us, tz=UTC], found string"]

    extra = table.append_column("loyalty_tier", pa.array(["gold"] * 3))
    r = checks.schema_check(TX, extra.schema, extra)
    assert r.details["problems"] == ["unexpected column loyalty_tier"]
    assert r.score == pytest.approx(1 - 1 / 26)


def test_schema_check_counts_nulls_in_required_columns_only() -> None:
    table = staged(TX, 4, transaction_id=["T1", None, None, "T4"], card_id=None)
    r = checks.schema_check(TX, table.schema, table)
    assert r.details["problems"] == ["transaction_id: 2 nulls in a required column"]
    assert r.score == pytest.approx(1 - 1 / 25)
    assert checks.schema_check(TX, table.schema).details["problems"] == []  # schema only, no table


def test_content_checks_exact_scores() -> None:
    # 100 rows in, 90 staged: 4 missing a required amount, 2 unparsable rows (all 12 required cells
    # missing), 3 duplicate ids rejected, 1 over the limit; one staged amount null, one id staged twice
    ids = [f"T{i:03d}" for i in range(89)] + ["T000"]
    amounts = [None] + [20.0] * 89
    table = staged(TX, 90, transaction_id=ids, amount=amounts)
    rejects = {"amount:required": 4, "*:columns": 2, "transaction_id:unique": 3, "amount:max": 1}
    completeness, validity, uniqueness = checks.content_checks(TX, table, manifest(100, 90, rejects))
    assert len(TX.required_columns) == 12
    assert completeness.details == {"missing_required_cells": 1 + 4 + 2 * 12, "required_cells": 1200}
    assert completeness.score == pytest.approx(1 - 29 / 1200)
    assert not completeness.passed and not completeness.veto  # 0.976: under 0.98, over the 0.9 floor
    assert validity.score == pytest.approx(0.9) and validity.details["rows_valid"] == 90
    assert validity.details["rows_in"] == 100 and validity.details["top_rejects"] == rejects
    assert uniqueness.score == pytest.approx(1 - (3 + 1) / 100)
    assert uniqueness.details == {
        "duplicates_rejected": 3,
        "duplicates_staged": 1,
        "unique_columns": ["transaction_id"],
    }


def test_content_checks_show_the_first_five_reject_rules_and_survive_an_empty_file() -> None:
    rejects = {f"c{i}:type": 1 for i in range(7)}
    _, validity, _ = checks.content_checks(TX, staged(TX, 0), manifest(7, 0, rejects))
    assert validity.details["top_rejects"] == {f"c{i}:type": 1 for i in range(5)}
    assert validity.score == 0.0
    completeness, validity, uniqueness = checks.content_checks(TX, staged(TX, 0), manifest(0, 0))
    assert (completeness.score, validity.score, uniqueness.score) == (1.0, 0.0, 1.0)
    assert completeness.details["required_cells"] == 12  # rows_in counted as at least 1


def test_freshness_counts_rows_at_the_window_edge_as_fresh() -> None:
    edge = ARRIVAL - timedelta(hours=48)
    times = [edge, edge - timedelta(microseconds=1), ARRIVAL, ARRIVAL - timedelta(hours=49)]
    table = staged(TX, 4, event_time=times, location_state="CA", home_state="CA")
    fresh, differ = checks.business_checks(TX, table, ARRIVAL)
    assert fresh.name == "freshness" and fresh.score == 0.5
    assert fresh.details == {
        "fresh_rows": 2,
        "rows": 4,
        "window_hours": 48.0,
        "arrival": "2026-03-03T02:00:00+00:00",
    }
    assert differ.name == "out_of_home_state_share" and differ.score == 1.0
    empty = checks.business_checks(TX, staged(TX, 0), ARRIVAL)
    assert [(r.name, r.score) for r in empty] == [("freshness", 0.0), ("out_of_home_state_share", 1.0)]
    assert empty[0].details["fresh_rows"] == 0


def test_columns_differ_rate_scores_one_up_to_the_max_rate_then_falls() -> None:
    def share(differing: int, nulls: int = 0) -> CheckResult:
        homes = ["CA"] * 8
        locations = ["NY"] * differing + [None] * nulls + ["CA"] * (8 - differing - nulls)
        table = staged(TX, 8, location_state=locations, home_state=homes)
        return checks.business_checks(TX, table, ARRIVAL)[1]

    assert share(2).score == 1.0 and share(2).details["differ_rate"] == 0.25  # exactly max_rate 0.25
    three = share(3)
    assert three.score == pytest.approx(0.875)  # 1 - (0.375 - 0.25)
    assert three.details == {
        "differ_rate": 0.375,
        "max_rate": 0.25,
        "description": "share of transactions outside the home state stays plausible",
    }
    assert three.passed and three.threshold == 0.0 and not three.critical  # informational
    assert share(2, nulls=3).details["differ_rate"] == 0.25  # an unknown state is not "different"


def test_file_level_rules_critical_unknown_and_row_rules() -> None:
    rule = TX.business_rules[0]
    critical = replace(TX, business_rules=(replace(rule, critical=True, min_pass_rate=0.9),))
    table = staged(TX, 8, location_state=["NY"] * 4 + ["CA"] * 4, home_state="CA")
    r = checks.business_checks(critical, table, ARRIVAL)[1]
    assert r.score == pytest.approx(0.75) and r.threshold == 0.9 and r.critical and r.veto
    by_name = with_quality(TX, critical_checks=("schema", rule.name))
    assert checks.business_checks(by_name, table, ARRIVAL)[1].critical
    row_rule = BusinessRule(name="amount_max", kind="max", column="amount", value=50_000.0)
    only_rows = replace(TX, business_rules=(row_rule,), event_time_column=None)
    assert checks.business_checks(only_rows, table, ARRIVAL) == []
    odd = replace(TX, business_rules=(replace(rule, kind="ratio"),))
    with pytest.raises(ValueError, match=exactly("unknown file-level rule kind ratio")):
        checks.business_checks(odd, table, ARRIVAL)


def _check(name: str, score: float, passed: bool = True, critical: bool = False, floor: float | None = None):  # type: ignore[no-untyped-def]
    return CheckResult(name, score, passed, critical, 0.5, {}, floor)


def test_assess_is_the_weighted_mean_of_weighted_checks() -> None:
    results = [
        _check("schema", 1.0),  # weight 2
        _check("validity", 0.9, passed=False),  # weight 2
        _check("freshness", 0.5),  # weight 1.5
        _check("not_weighted", 0.0),  # no weight: not in the mean
    ]
    a = checks.assess(TX, results)
    assert a.score == round((2 * 1.0 + 2 * 0.9 + 1.5 * 0.5) / 5.5, 6) == 0.827273
    assert a.failed_checks == ["validity"] and not a.all_passed
    assert not a.critical_failed and a.vetoes == []
    assert [c["name"] for c in a.checks] == ["schema", "validity", "freshness", "not_weighted"]
    vetoed = checks.assess(TX, [_check("validity", 0.7, passed=False, floor=0.8), _check("schema", 1.0)])
    assert vetoed.critical_failed and vetoed.vetoes == ["validity"]
    assert checks.assess(TX, [_check("schema", 1.0)]).all_passed
    empty = checks.assess(TX, [])
    assert (empty.score, empty.all_passed, empty.critical_failed) == (0.0, False, False)
    assert checks.assess(with_quality(TX, weights={}), [_check("schema", 1.0)]).score == 0.0


def _assessment(score: float, critical: bool = False, all_passed: bool = True) -> Assessment:
    return Assessment(score, critical, [], [], all_passed=all_passed)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, "publish"),
        (0.9, "publish"),
        (0.899999, "enhanced"),
        (0.75, "enhanced"),
        (0.749999, "quarantine:below_threshold"),
        (0.0, "quarantine:below_threshold"),
    ],
)
def test_gate_decision_bands(score: float, expected: str) -> None:
    assert checks.gate_decision(_assessment(score), 0.9, 0.75) == expected


def test_gate_decision_vetoes_before_minimums_before_the_score() -> None:
    assert checks.gate_decision(_assessment(1.0, critical=True, all_passed=False), 0.9, 0.75) == (
        "quarantine:critical"
    )
    assert checks.gate_decision(_assessment(1.0, all_passed=False), 0.9, 0.75) == "quarantine:below_minimum"


def test_column_profile() -> None:
    table = pa.table({"x": pa.array([1, 2, 3], type=pa.int64())})
    p = checks.column_profile(table, "x")
    assert p["mean"] == 2.0 and p["stddev"] == pytest.approx((2 / 3) ** 0.5)
    assert checks.column_profile(table, None) == {}
    assert checks.column_profile(table, "y") == {}
    assert checks.column_profile(table.slice(0, 0), "x") == {}
    assert checks.column_profile(pa.table({"x": pa.array([5.0])}), "x") == {"mean": 5.0, "stddev": 0.0}


# ------------------------------------------------------------------ history.py


def test_relative_shift_and_band_score() -> None:
    assert history._relative_shift(0.0, 0.0) == 0.0
    assert history._relative_shift(5.0, 0.0) == float("inf")
    assert history._relative_shift(15.0, 10.0) == 0.5
    assert history._relative_shift(5.0, -10.0) == 1.5
    assert history._band_score(0.0, 0.3) == 1.0
    assert history._band_score(0.3, 0.3) == 0.5
    assert history._band_score(0.45, 0.3) == pytest.approx(0.25)
    assert history._band_score(0.9, 0.3) == 0.0


@pytest.mark.parametrize(("rows", "passed"), [(1300, True), (1301, False), (700, True), (699, False)])
def test_volume_tolerance_boundary(rows: int, passed: bool) -> None:
    # transactions: +-30 % of the source's median (1,000 rows)
    stats = {"S001": SourceStats("S001", rows, None, None)}
    r = history.volume_check(TX, stats, {"S001": hist("S001", 1000, 990, 1010)})
    assert r.passed is passed
    assert r.score == pytest.approx(max(0.0, 1 - abs(rows - 1000) / 1000 / 0.6))
    (entry,) = r.details["sources"]
    assert entry == {
        "source": "S001",
        "rows": rows,
        "min_rows": 20,
        "baseline_rows": 1000.0,
        "basis": "recent days",
        "observations": 3,
        "ratio": round(rows / 1000, 4),
        "passed": passed,
    }
    assert r.details["tolerance"] == 0.3 and r.details["failing"] == ([] if passed else ["S001"])


def test_volume_check_passes_only_when_every_source_is_within_tolerance() -> None:
    # a lower minimum (0.4) does not let a source outside the tolerance pass on its score
    lenient = with_quality(TX, min_scores={**TX.quality.min_scores, "volume": 0.4})
    stats = {"S001": SourceStats("S001", 1350, None, None)}
    r = history.volume_check(lenient, stats, {"S001": hist("S001", 1000)})
    assert r.score == pytest.approx(1 - 0.35 / 0.6) and r.score >= 0.4
    assert r.passed is False and r.details["failing"] == ["S001"]


def test_volume_check_floor_first_delivery_zero_baseline_and_worst_source() -> None:
    first = history.volume_check(TX, {"S001": SourceStats("S001", 20, None, None)}, {})
    (entry,) = first.details["sources"]
    assert first.passed and first.score == 1.0 and entry["basis"] == "none: first delivery of this source"
    assert "below_min_rows" not in entry
    short = history.volume_check(TX, {"S001": SourceStats("S001", 19, None, None)}, {})
    assert not short.passed and short.score == 0.0 and short.details["sources"][0]["below_min_rows"] is True
    off_calendar = history.volume_check(TX, {"X9": SourceStats("X9", 1, None, None)}, {})
    assert off_calendar.passed and off_calendar.details["sources"][0]["min_rows"] == 0
    zero = history.volume_check(TX, {"X9": SourceStats("X9", 5, None, None)}, {"X9": hist("X9", 0)})
    assert not zero.passed and zero.score == 0.0 and zero.details["sources"][0]["ratio"] is None
    zero_ok = history.volume_check(TX, {"X9": SourceStats("X9", 0, None, None)}, {"X9": hist("X9", 0)})
    assert zero_ok.details["sources"][0]["passed"] is True
    two = {"S001": SourceStats("S001", 1000, None, None), "S002": SourceStats("S002", 1150, None, None)}
    both = history.volume_check(TX, two, {"S001": hist("S001", 1000), "S002": hist("S002", 1000)})
    assert both.score == pytest.approx(0.75) and both.passed  # the worst source's score
    assert [e["source"] for e in both.details["sources"]] == ["S001", "S002"]
    assert history.volume_check(TX, {}, {}).score == 1.0


Q = (10.0, 20.0, 40.0)  # p10, p50, p90


@pytest.mark.parametrize(("median", "passed"), [(30.0, True), (30.01, False), (10.0, True), (9.99, False)])
def test_distribution_shift_boundary(median: float, passed: bool) -> None:
    # transactions: the median |amount| may move 50 % from the source's history (20.0)
    stats = {"S001": SourceStats("S001", 100, None, (10.0, median, 40.0))}
    r = history.distribution_check(TX, stats, {"S001": hist("S001", 100, 100, q=Q)})
    assert r.passed is passed and r.name == "distribution"
    (entry,) = r.details["sources"]
    assert entry["relative_shift"] == {"p50": round(abs(median - 20) / 20, 4)}
    assert entry["basis"] == "same source" and entry["observations"] == 2 and entry["passed"] is passed
    assert entry["quantiles"] == {"p10": 10.0, "p50": median, "p90": 40.0}
    assert entry["baseline"] == {"p10": 10.0, "p50": 20.0, "p90": 40.0}
    assert r.score == pytest.approx(max(0.0, 1 - abs(median - 20) / 20))
    assert r.details["failing"] == ([] if passed else ["S001"]) and r.details["max_shift"] == 0.5
    assert r.details["column"] == "amount" and r.threshold == 0.5


def test_distribution_shape_checks_every_quantile_and_zero_baselines() -> None:
    stats = {"S001": SourceStats("S001", 100, None, (10.0, 20.0, 70.0))}
    past = {"S001": hist("S001", 100, q=Q)}
    assert history.distribution_check(TX, stats, past).passed  # the median alone has not moved
    shape = history.distribution_check(TX, stats, past, quantiles=(0.1, 0.5, 0.9), name="distribution_shape")
    assert shape.name == "distribution_shape" and not shape.passed
    assert shape.details["sources"][0]["relative_shift"] == {"p10": 0.0, "p50": 0.0, "p90": 0.75}
    assert shape.score == pytest.approx(0.25) and shape.threshold == 0.5
    zero = history.distribution_check(TX, stats, {"S001": hist("S001", 100, q=(0.0, 0.0, 0.0))})
    assert zero.score == 0.0 and not zero.passed
    assert zero.details["sources"][0]["relative_shift"] == {"p50": "inf"}


def test_distribution_without_a_baseline_or_a_column() -> None:
    r = history.distribution_check(TX, {"S001": SourceStats("S001", 100, None, Q)}, {})
    assert r.passed and r.score == 1.0 and r.details["failing"] == []
    assert r.details["sources"] == [{"source": "S001", "baseline": "none: nothing to compare with"}]
    no_q = history.distribution_check(
        TX, {"S001": SourceStats("S001", 100, None, None)}, {"S001": hist("S001", 1, q=Q)}
    )
    assert no_q.details["sources"][0]["baseline"] == "none: nothing to compare with"
    none = history.distribution_check(with_quality(TX, distribution_column=None), {}, {})
    assert none.score == 1.0 and none.details == {"baseline": "no distribution column in the contract"}
    peers = history.distribution_check(
        TX, {"S002": SourceStats("S002", 100, None, (10.0, 35.0, 40.0))}, {"S001": hist("S001", 1, q=Q)}
    )
    assert peers.details["sources"][0]["basis"] == "peers" and not peers.passed


def inv_day(stores: list[str], day: date = MONDAY) -> pa.Table:
    n = len(stores)
    when = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return staged(INV, n, store_id=stores, event_time=[when] * n, movement_id=[f"M{i}" for i in range(n)])


def test_deliveries_check_region_file_missing_a_store_that_delivered_before() -> None:
    key = f"inventory_movements/{MONDAY}/region-01.csv"
    table = inv_day(["S001", "S002", "S011"])
    stats = source_stats(INV, table, key)
    past = {s: hist(s, 5) for s in ("S001", "S002", "S003")}
    r = history.deliveries_check(INV, key, stats, past)
    assert r.score == pytest.approx(2 / 3) and not r.passed
    assert r.details == {
        "file_source": "region-01",
        "business_day": "2026-03-02",
        "calendar_sources": 10,
        "expected_sources": 3,
        "missing_sources": ["S003"],
        "unexpected_sources": ["S011"],
    }
    assert history.deliveries_check(INV, key, stats, None).score == 1.0  # nobody delivered before


def test_deliveries_check_business_day_is_the_most_common_day() -> None:
    key = "inventory_movements/x/region-01.csv"
    stats = {
        "S001": SourceStats("S001", 1, MONDAY, None),
        "S002": SourceStats("S002", 1, MONDAY, None),
        "S003": SourceStats("S003", 1, MONDAY + timedelta(days=1), None),
    }
    assert history.deliveries_check(INV, key, stats).details["business_day"] == "2026-03-02"


def test_deliveries_check_single_source_file_reports_calendar_mismatches() -> None:
    weekdays_only = with_quality(
        TX, deliveries=(DeliveryExpectation(sources=("S001", "S002"), weekdays=(1, 2, 3, 4, 5)),)
    )
    sunday = MONDAY - timedelta(days=1)
    stats = {
        "S001": SourceStats("S001", 1, sunday, None),
        "S777": SourceStats("S777", 1, sunday, None),
    }
    r = history.deliveries_check(weekdays_only, "transactions/x/pos-S001.csv", stats)
    assert r.score == 1.0 and r.details["not_in_calendar"] == ["S777"]
    assert r.details["not_expected_that_day"] == ["S001"] and r.details["business_day"] == "2026-03-01"
    undated = history.deliveries_check(TX, "k/pos-S001.csv", {"S001": SourceStats("S001", 0, None, None)})
    assert undated.score == 1.0 and undated.details["business_day"] is None
    assert undated.details["file_source"] == "S001" and undated.details["not_in_calendar"] == []


def test_cross_file_uniqueness() -> None:
    ids = [f"T{i}" for i in range(10)]
    table = staged(TX, 10, transaction_id=ids)
    registry = MemoryIdRegistry()
    registry.claim("transactions", ["T3", "T1", "T7"], "run-old", ARRIVAL, timedelta(days=35))
    registry.claim("transactions", ["T9"], "run-now", ARRIVAL, timedelta(days=35))
    r = history.cross_file_uniqueness_check(TX, table, "run-now", registry, ARRIVAL)
    assert r.score == pytest.approx(0.7) and not r.passed
    assert r.details == {
        "checked": True,
        "column": "transaction_id",
        "retention_days": 35,
        "already_published": 3,
        "rows": 10,
        "published_by_runs": ["run-old"],
        "example_ids": ["T1", "T3", "T7"],
    }
    off = history.cross_file_uniqueness_check(with_quality(TX, dedupe=None), table, "r", registry, ARRIVAL)
    assert off.score == 1.0 and off.details == {"checked": False, "reason": "no dedupe policy"}
    unwired = history.cross_file_uniqueness_check(TX, table, "r", None, ARRIVAL)
    assert unwired.details["checked"] is False and "no id registry wired" in unwired.details["reason"]
    empty = history.cross_file_uniqueness_check(TX, staged(TX, 0), "r", registry, ARRIVAL)
    assert empty.score == 1.0 and empty.details["rows"] == 0


def test_cross_file_uniqueness_skips_empty_ids_and_shows_five_examples() -> None:
    registry = MemoryIdRegistry()
    ids = [f"T{i}" for i in range(8)]
    registry.claim("transactions", ids, "run-old", ARRIVAL, timedelta(days=35))
    registry.owner[("transactions", "")] = "run-old"
    table = staged(TX, 9, transaction_id=[*ids, ""])
    r = history.cross_file_uniqueness_check(TX, table, "run-now", registry, ARRIVAL)
    assert r.details["already_published"] == 8 and r.details["example_ids"] == ids[:5]
    assert r.score == pytest.approx(1 - 8 / 9)


def test_history_checks_ignore_the_run_under_test_and_enhanced_spots_a_resend() -> None:
    key = f"transactions/{MONDAY}/pos-S001.csv"
    when = datetime(2026, 3, 2, 12, tzinfo=UTC)
    table = staged(TX, 30, store_id="S001", event_time=when, transaction_id=[f"T{i}" for i in range(30)])
    own = [rec for _, rec in history_entries(TX, table, key, "run-x", "2026-03-03T00:00:00+00:00")]
    names = [r.name for r in history.history_checks(TX, table, key, "run-x", own, None, ARRIVAL)]
    assert names == ["volume", "distribution", "deliveries", "cross_file_uniqueness"]
    volume = history.history_checks(TX, table, key, "run-x", own, None, ARRIVAL)[0]
    assert volume.details["sources"][0]["basis"] == "none: first delivery of this source"
    shape, day = history.enhanced_checks(TX, table, key, "run-new", own)
    assert shape.name == "distribution_shape" and shape.passed
    assert day.name == "source_day_not_yet_delivered" and day.score == 0.0 and day.threshold == 1.0
    assert day.details == {
        "already_delivered": [{"source": "S001", "day": "2026-03-02", "published_by_runs": ["run-x"]}]
    }
    _, same_run = history.enhanced_checks(TX, table, key, "run-x", own)
    assert same_run.score == 1.0 and same_run.passed
    empty_day = [dict(own[0], sources={"S001": {"rows": 0, "day": "2026-03-02", "quantiles": None}})]
    assert history.enhanced_checks(TX, table, key, "run-new", empty_day)[1].score == 1.0
    _, undated = history.enhanced_checks(TX, staged(TX, 0), key, "run-new", own)
    assert undated.score == 1.0


# ------------------------------------------------------------------ sources.py


def test_file_source() -> None:
    assert file_source(TX, "transactions/2026-03-02/pos-S001.csv") == "S001"
    assert file_source(TX, "transactions/2026-03-02/online-feed.v2.csv") == "online-feed"
    assert file_source(TX, "transactions/.csv") == ".csv"
    assert file_source(INV, "inventory_movements/region-03.csv") == "region-03"
    no_pattern = with_quality(TX, sources=replace(TX.quality.sources, key_pattern=None))
    assert file_source(no_pattern, "a/pos-S001.csv") == "pos-S001"


def test_row_sources_fall_back_to_the_file_source() -> None:
    table = staged(TX, 3, store_id=["S002", None, ""])
    assert row_sources(TX, table, "k/pos-S001.csv").to_pylist() == ["S002", "S001", "S001"]
    no_column = with_quality(TX, sources=replace(TX.quality.sources, column=None))
    assert row_sources(no_column, table, "k/pos-S001.csv").to_pylist() == ["S001"] * 3


def test_source_stats_quantiles_day_and_rows() -> None:
    days = [datetime(2026, 3, 2, 23, tzinfo=UTC)] * 3 + [datetime(2026, 3, 3, 1, tzinfo=UTC)] * 2
    table = staged(TX, 5, store_id="S001", event_time=days, amount=[-10, 20, 30, 40, 50])
    (s,) = source_stats(TX, table, "k/pos-S001.csv").values()
    assert (s.source, s.rows, s.day) == ("S001", 5, MONDAY)
    assert s.quantiles == pytest.approx((14.0, 30.0, 46.0))  # |values|, linear interpolation
    assert s.weekday == 1
    assert source_stats(TX, staged(TX, 0), "k/pos-S004.csv") == {"S004": SourceStats("S004", 0, None, None)}
    nulls = source_stats(TX, staged(TX, 2, store_id="S001", amount=[None, None]), "k/pos-S001.csv")
    assert nulls["S001"].quantiles is None
    two = source_stats(TX, staged(TX, 3, store_id=["S002", "S001", "S002"]), "k/x.csv")
    assert {k: v.rows for k, v in two.items()} == {"S001": 1, "S002": 2}
    no_time = replace(TX, event_time_column=None)
    assert source_stats(no_time, table, "k/pos-S001.csv")["S001"].day is None
    no_dist = with_quality(TX, distribution_column=None)
    assert source_stats(no_dist, table, "k/pos-S001.csv")["S001"].quantiles is None


def test_source_stats_round_trip() -> None:
    s = SourceStats("S001", 7, MONDAY, (1.0, 2.0, 3.0))
    assert s.to_dict() == {"rows": 7, "day": "2026-03-02", "quantiles": [1.0, 2.0, 3.0]}
    assert SourceStats.from_dict("S001", s.to_dict()) == s
    bare = SourceStats("S001", 7, None, None)
    assert bare.to_dict() == {"rows": 7, "day": None, "quantiles": None} and bare.weekday is None
    assert SourceStats.from_dict("S001", {"rows": "7"}) == bare


def test_history_by_source_newest_first_and_legacy_records() -> None:
    records = [
        {"run_id": "a", "sources": {"S001": {"rows": 1, "day": "2026-03-01"}}},
        {"run_id": "b", "sources": {"S001": {"rows": 2, "day": "2026-03-02"}, "S002": {"rows": 3}}},
        {"run_id": "c", "rows_published": 9, "source": {"key": "t/pos-S001.csv"}},
        {"run_id": "d", "rows_published": 4},
        {"run_id": "e"},
    ]
    out = history_by_source(TX, records)
    assert [(run, s.rows) for run, s in out["S001"]] == [("b", 2), ("a", 1), ("c", 9)]
    assert out["S002"] == [("b", SourceStats("S002", 3, None, None))]
    assert out[""] == [("d", SourceStats("", 4, None, None))]
    assert set(out) == {"S001", "S002", ""}
    same_day = [
        {"run_id": "r1", "sources": {"S1": {"rows": 1, "day": "2026-03-02"}}},
        {"run_id": "r2", "sources": {"S1": {"rows": 2, "day": "2026-03-02"}}},
    ]
    assert [run for run, _ in history_by_source(TX, same_day)["S1"]] == ["r2", "r1"]


def _weekly(rows_by_week: list[tuple[date, int]]) -> list[tuple[str, SourceStats]]:
    return [(f"r{i}", SourceStats("S", n, d, None)) for i, (d, n) in enumerate(rows_by_week)]


def test_volume_baseline_same_weekday_needs_enough_of_them() -> None:
    assert volume_baseline([], 1, 8, 2) is None
    h = _weekly(
        [
            (MONDAY - timedelta(days=1), 10),
            (MONDAY - timedelta(days=7), 100),
            (MONDAY - timedelta(days=8), 20),
            (MONDAY - timedelta(days=14), 200),
            (MONDAY - timedelta(days=21), 700),
        ]
    )
    b = volume_baseline(h, 1, 4, 2)  # at most 4 // 2 = 2 Mondays: 100 and 200
    assert (b.value, b.basis, b.observations) == (150.0, "same weekday", 2)  # type: ignore[union-attr]
    three = volume_baseline(h, 1, 6, 2)  # 3 Mondays
    assert (three.value, three.observations) == (200.0, 3)  # type: ignore[union-attr]
    one_monday = volume_baseline(h[:3], 1, 8, 2)
    assert (one_monday.value, one_monday.basis, one_monday.observations) == (20.0, "recent days", 3)  # type: ignore[union-attr]
    assert volume_baseline(h, None, 2, 2).value == 55.0  # type: ignore[union-attr]
    assert volume_baseline(h, 1, 1, 1).value == 100.0  # type: ignore[union-attr]  # max(1, 1 // 2)
    assert volume_baseline(h, 1, 4, 1).observations == 2  # type: ignore[union-attr]


def test_quantile_baseline_own_history_then_peers() -> None:
    own = [
        (f"r{i}", SourceStats("S1", 1, None, q))
        for i, q in enumerate([(1.0, 2.0), None, (3.0, 6.0), (9.0, 9.0)])
    ]
    values, basis, n = quantile_baseline(own, {}, 3)  # type: ignore[misc]
    assert (values, basis, n) == ((2.0, 4.0), "same source", 2)
    peers = {
        "S2": [("a", SourceStats("S2", 1, None, (1.0, 1.0))), ("b", SourceStats("S2", 1, None, (7.0, 7.0)))],
        "S3": [("c", SourceStats("S3", 1, None, (3.0, 5.0)))],
        "S4": [("d", SourceStats("S4", 1, None, None))],
        "S5": [],
    }
    assert quantile_baseline([], peers, 8) == ((2.0, 3.0), "peers", 2)  # newest of each peer
    assert quantile_baseline([], {}, 8) is None


def test_history_entries_one_record_per_source() -> None:
    when = datetime(2026, 3, 2, 12, tzinfo=UTC)
    table = staged(TX, 2, store_id=["S001", "S002"], event_time=when, amount=[10, 20])
    entries = dict(history_entries(TX, table, "t/pos-S001.csv", "run-1", "2026-03-03T00:00:00+00:00"))
    assert set(entries) == {
        "history/transactions/source=S001/2026-03-02/run-1.json",
        "history/transactions/source=S002/2026-03-02/run-1.json",
    }
    rec = entries["history/transactions/source=S002/2026-03-02/run-1.json"]
    assert rec == {
        "dataset": "transactions",
        "run_id": "run-1",
        "published_at": "2026-03-03T00:00:00+00:00",
        "source_key": "t/pos-S001.csv",
        "sources": {"S002": {"rows": 1, "day": "2026-03-02", "quantiles": [20.0, 20.0, 20.0]}},
    }
    no_time = replace(TX, event_time_column=None)
    (key,) = dict(history_entries(no_time, table.slice(0, 1), "t/pos-S001.csv", "r", "p"))
    assert key == "history/transactions/source=S001/unknown/r.json"


# ------------------------------------------------------------------ deliveries.py


CAL = with_quality(
    TX,
    deliveries=(
        DeliveryExpectation(sources=("S001", "S002"), weekdays=(1, 2, 3, 4, 5), due_by_hour=6, min_rows=20),
        DeliveryExpectation(sources=("S003",), weekdays=(6, 7), due_by_hour=9, file="weekend", min_rows=0),
        DeliveryExpectation(sources=("S004", "S005"), weekdays=(1,), file="weekend", min_rows=5),
    ),
)


def test_members_of_file_follow_the_business_days_weekday() -> None:
    saturday = MONDAY + timedelta(days=5)
    assert members_of_file(CAL, "weekend", saturday) == ("S003",)
    assert members_of_file(CAL, "weekend", MONDAY) == ("S004", "S005")
    assert members_of_file(CAL, "weekend", MONDAY + timedelta(days=1)) == ()
    assert members_of_file(CAL, "weekend", None) == ("S003",)  # no day known: the first line
    assert members_of_file(CAL, "S001", MONDAY) == ()


def test_due_at_and_expected_on() -> None:
    line = CAL.quality.deliveries[1]
    assert due_at(line, MONDAY) == datetime(2026, 3, 3, 9, tzinfo=UTC)
    assert set(expected_on(CAL, MONDAY)) == {"S001", "S002", "S004", "S005"}
    assert set(expected_on(CAL, MONDAY + timedelta(days=6))) == {"S003"}
    assert expected_on(CAL, MONDAY)["S004"].min_rows == 5


def test_missing_deliveries_at_the_due_time() -> None:
    due = datetime(2026, 3, 3, 6, tzinfo=UTC)
    delivered = {"S001": 19, "S002": 20, "S005": 4}
    assert missing_deliveries(CAL, MONDAY, delivered, due - timedelta(seconds=1)) == []
    out = missing_deliveries(CAL, MONDAY, delivered, due)
    assert [m.to_dict() for m in out] == [
        {
            "dataset": "transactions",
            "source": "S001",
            "business_day": "2026-03-02",
            "due_at": "2026-03-03T06:00:00+00:00",
            "rows": 19,
            "min_rows": 20,
            "reason": "too few rows",
        },
        {
            "dataset": "transactions",
            "source": "S004",
            "business_day": "2026-03-02",
            "due_at": "2026-03-03T06:00:00+00:00",
            "rows": 0,
            "min_rows": 5,
            "reason": "not delivered",
        },
        {
            "dataset": "transactions",
            "source": "S005",
            "business_day": "2026-03-02",
            "due_at": "2026-03-03T06:00:00+00:00",
            "rows": 4,
            "min_rows": 5,
            "reason": "too few rows",
        },
    ]


def test_delivered_rows_for_day_sums_the_days_records() -> None:
    records: list[dict[str, object]] = [
        {"sources": {"S001": {"rows": 10, "day": "2026-03-02"}, "S002": {"rows": 1, "day": "2026-03-01"}}},
        {"sources": {"S001": {"rows": 5, "day": "2026-03-02"}, "S003": {"day": "2026-03-02"}}},
        {"sources": {"S004": "broken"}},
        {"rows_published": 99},
    ]
    assert delivered_rows_for_day(records, MONDAY) == {"S001": 15, "S003": 0}


def test_deliveries_check_uses_the_calendar_line_of_the_files_weekday() -> None:
    monday = {"S004": SourceStats("S004", 5, MONDAY, None)}
    past = {"S004": hist("S004", 5), "S005": hist("S005", 5), "S003": hist("S003", 5)}
    r = history.deliveries_check(CAL, "t/weekend.csv", monday, past)
    assert r.details["calendar_sources"] == 2 and r.details["missing_sources"] == ["S005"]
    assert r.score == 0.5 and r.name == "deliveries"


def test_deliveries_check_a_source_expected_that_day_is_not_flagged() -> None:
    stats = {"S001": SourceStats("S001", 30, MONDAY, None)}
    r = history.deliveries_check(CAL, "t/pos-S001.csv", stats)
    assert r.details["not_expected_that_day"] == [] and r.details["not_in_calendar"] == []


def test_cross_file_uniqueness_without_policy_is_still_named() -> None:
    off = history.cross_file_uniqueness_check(
        with_quality(TX, dedupe=None), staged(TX, 1), "r", None, ARRIVAL
    )
    assert off.name == "cross_file_uniqueness"


class RecordingRegistry(MemoryIdRegistry):
    """The in-memory id registry, remembering the clock and run each lookup was made with."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, datetime]] = []

    def seen(self, dataset: str, ids: Any, run_id: str, now: datetime) -> dict[str, str]:
        self.calls.append((run_id, now))
        return super().seen(dataset, ids, run_id, now)


def test_history_checks_pass_the_run_and_clock_to_the_registry_and_read_legacy_records() -> None:
    key = f"transactions/{MONDAY}/pos-S001.csv"
    table = staged(TX, 30, store_id="S001", transaction_id=[f"T{i}" for i in range(30)])
    registry = RecordingRegistry()
    registry.claim("transactions", [f"T{i}" for i in range(30)], "run-x", ARRIVAL, timedelta(days=35))
    legacy = [{"run_id": "old", "rows_published": 30, "source": {"key": "transactions/x/pos-S001.csv"}}]
    volume, _, _, unique = history.history_checks(TX, table, key, "run-x", legacy, registry, ARRIVAL)
    assert registry.calls == [("run-x", ARRIVAL)]
    assert unique.score == 1.0  # its own ids (a retried run) are not duplicates
    assert volume.details["sources"][0]["baseline_rows"] == 30.0
    shape, day = history.enhanced_checks(TX, table, key, "run-x", legacy)
    assert day.score == 1.0 and shape.passed


def test_enhanced_re_send_detection_details() -> None:
    key = f"transactions/{MONDAY}/region.csv"
    when = datetime(2026, 3, 2, 12, tzinfo=UTC)
    table = staged(TX, 2, store_id=["S000", "S001"], event_time=[None, when])
    records = [
        {"run_id": f"run-{i}", "sources": {"S001": {"rows": 1, "day": "2026-03-02", "quantiles": None}}}
        for i in range(6)
    ]
    _, day = history.enhanced_checks(TX, table, key, "run-new", records)
    assert day.score == 0.0 and not day.passed
    assert day.details["already_delivered"] == [
        {"source": "S001", "day": "2026-03-02", "published_by_runs": [f"run-{i}" for i in range(5)]}
    ]


def test_distribution_reads_only_the_recent_history_and_every_source() -> None:
    assert (
        history.distribution_check(with_quality(TX, distribution_column=None), {}, {}).name == "distribution"
    )
    old = (10.0, 100.0, 40.0)
    past = {"S001": hist("S001", 1, 1, q=Q)[:2] + hist("S001", 1, 1, q=old)}
    short = with_quality(TX, volume_history=2)
    stats = {"S001": SourceStats("S001", 100, None, Q)}
    assert history.distribution_check(short, stats, past).passed  # the two recent days only
    two = {
        "S000": SourceStats("S000", 5, None, None),
        "S001": SourceStats("S001", 5, None, (10.0, 90.0, 40.0)),
    }
    r = history.distribution_check(TX, two, {"S001": hist("S001", 1, q=Q)})
    assert not r.passed and r.details["failing"] == ["S001"]  # a source without a baseline skips only itself


def test_cross_file_uniqueness_names_five_runs_and_needs_no_reject_counts() -> None:
    registry = MemoryIdRegistry()
    for i in range(6):
        registry.claim("transactions", [f"T{i}"], f"run-{i}", ARRIVAL, timedelta(days=35))
    table = staged(TX, 6, transaction_id=[f"T{i}" for i in range(6)])
    r = history.cross_file_uniqueness_check(TX, table, "run-new", registry, ARRIVAL)
    assert r.details["published_by_runs"] == [f"run-{i}" for i in range(5)] and r.score == 0.0
    bare = {"counts": {"rows_in": 6, "rows_valid": 6, "rows_rejected": 0}}
    completeness, validity, uniqueness = checks.content_checks(TX, table, bare)
    assert (completeness.score, validity.score, uniqueness.score) == (1.0, 1.0, 1.0)
