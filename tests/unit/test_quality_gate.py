"""The multi-criteria quality gate on the files the issue measured, each with the verdict a
domain expert expects (before: what the old weighted-mean gate did), plus its thresholds pinned
exactly at, just below and just above each limit.

Files are generated here as the staged tables and manifests ingest produces for them: rows that
break a row rule (sign per reason, single-transaction limit, time beyond the clock-skew
tolerance) are rejected by ingest and arrive as rejected counts, never as staged rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from datapipe.contracts import default_registry
from datapipe.quality import checks, history
from datapipe.quality.checks import Assessment, CheckResult
from datapipe.quality.sources import file_source, history_by_source, row_sources, source_stats
from tests.unit.gate_support import (
    MemoryIdRegistry,
    amounts,
    day_times,
    manifest,
    published_history,
    run_gate,
    staged,
    tx_day,
)

TX = default_registry().get("transactions")
INV = default_registry().get("inventory_movements")
DAY = date(2026, 3, 2)  # a Monday
ARRIVAL = datetime(2026, 3, 3, 2, tzinfo=UTC)  # the night after
KEY = f"transactions/{DAY}/pos-S001.csv"
ROWS = 1_650


def s001_history(weeks: int = 2, rows: int = ROWS) -> list[dict]:
    """Two weeks of S001's published days, about 1,650 rows each (+-3 %)."""
    files = []
    for back in range(1, weeks * 7 + 1):
        day = DAY - timedelta(days=back)
        n = rows + (back % 5 - 2) * 16
        files.append((f"transactions/{day}/pos-S001.csv", tx_day(TX, "S001", day, n, seed=back)))
    return published_history(TX, files)


@pytest.fixture(scope="module")
def hist() -> list[dict]:
    return s001_history()


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


def checks_of(assessment: Assessment) -> dict[str, dict]:
    return {c["name"]: c for c in assessment.checks}


# ------------------------------------------------------------------ measured examples


def test_a_good_day_is_published(hist: list[dict]) -> None:
    decision, assessment, _ = run_gate(
        TX, tx_day(TX, "S001", DAY, ROWS), manifest(ROWS, ROWS), KEY, ARRIVAL, hist
    )
    assert decision == "publish"
    assert assessment.all_passed and assessment.score >= 0.9


def test_278_bad_rows_of_1650_are_quarantined_not_published(hist: list[dict]) -> None:
    # before: validity 0.83 only landed in failed_checks; weighted score 0.958 -> published
    valid = ROWS - 278
    table = tx_day(TX, "S001", DAY, valid)
    decision, assessment, _ = run_gate(
        TX, table, manifest(ROWS, valid, {"amount:type": 278}), KEY, ARRIVAL, hist
    )
    assert decision == "quarantine:below_minimum"
    assert assessment.failed_checks == ["validity"]
    assert checks_of(assessment)["validity"]["score"] == pytest.approx(valid / ROWS)
    assert not assessment.critical_failed  # 0.83 is above the 0.8 floor: below minimum, not a veto


def test_store_export_cut_after_40_rows_is_quarantined(hist: list[dict]) -> None:
    # before: 1.000 -> published (nothing compared a source with its own history)
    table = tx_day(TX, "S001", DAY, 40)
    decision, assessment, _ = run_gate(TX, table, manifest(40, 40), KEY, ARRIVAL, hist)
    assert decision == "quarantine:below_minimum"
    volume = checks_of(assessment)["volume"]
    assert assessment.failed_checks == ["volume"]
    (s001,) = volume["details"]["sources"]
    assert s001["rows"] == 40 and s001["basis"] == "same weekday" and s001["passed"] is False


def test_store_export_cut_short_on_its_first_day_is_caught_by_the_calendar_floor() -> None:
    # no history yet: the delivery calendar's min_rows (20) is the floor: an export that stopped
    # after 12 rows is caught on the store's first day already
    decision, assessment, _ = run_gate(TX, tx_day(TX, "S001", DAY, 12), manifest(12, 12), KEY, ARRIVAL, [])
    assert decision == "quarantine:below_minimum"
    (s001,) = checks_of(assessment)["volume"]["details"]["sources"]
    assert s001["below_min_rows"] is True and s001["min_rows"] == 20


def test_amounts_in_cents_are_quarantined(hist: list[dict]) -> None:
    # before: 0.997 -> published (distribution ran only in the 0.75-0.90 band)
    table = tx_day(TX, "S001", DAY, ROWS, amount=[a * 100 for a in amounts(ROWS, 1)])
    decision, assessment, _ = run_gate(TX, table, manifest(ROWS, ROWS), KEY, ARRIVAL, hist)
    assert decision == "quarantine:below_minimum"
    assert assessment.failed_checks == ["distribution"]
    (s001,) = checks_of(assessment)["distribution"]["details"]["sources"]
    assert s001["relative_shift"]["p50"] > 50


def test_amounts_in_cents_from_a_new_store_are_caught_against_its_peers(hist: list[dict]) -> None:
    key = f"transactions/{DAY}/pos-S002.csv"
    table = tx_day(TX, "S002", DAY, ROWS, amount=[a * 100 for a in amounts(ROWS, 1)])
    decision, assessment, _ = run_gate(TX, table, manifest(ROWS, ROWS), key, ARRIVAL, hist)
    assert decision == "quarantine:below_minimum"
    (s002,) = checks_of(assessment)["distribution"]["details"]["sources"]
    assert s002["basis"] == "peers"


def test_60_sale_movements_with_a_positive_quantity_are_rejected_rows_and_the_rest_publishes() -> None:
    # before: scored 0.989 and published, and the 60 "sales" were ADDED to stock. Now ingest rejects
    # the 60 rows (sign per reason); the region file's other 1,590 movements publish.
    valid = ROWS - 60
    stores = [f"S{i:03d}" for i in range(1, 11)]
    table = staged(
        INV,
        valid,
        store_id=[stores[i % 10] for i in range(valid)],
        quantity_change=[-2] * valid,
        event_time=day_times(DAY, valid),
    )
    key = f"inventory_movements/{DAY}/region-01.csv"
    decision, assessment, _ = run_gate(
        INV, table, manifest(ROWS, valid, {"quantity_change:sign_by_reason": 60}), key, ARRIVAL, []
    )
    assert decision == "publish"
    assert checks_of(assessment)["validity"]["score"] == pytest.approx(valid / ROWS)
    assert "quantity_change" not in {c["name"] for c in assessment.checks}  # no per-row rule at the gate


def test_20_rows_above_the_limit_are_rejected_rows_and_the_store_day_publishes(hist: list[dict]) -> None:
    # before: 0.997 -> published *with* the 20 rows of 99,999.00; now they are rejected at ingest
    valid = ROWS - 20
    decision, assessment, _ = run_gate(
        TX, tx_day(TX, "S001", DAY, valid), manifest(ROWS, valid, {"amount:limit": 20}), KEY, ARRIVAL, hist
    )
    assert decision == "publish"
    assert checks_of(assessment)["validity"]["score"] == pytest.approx(valid / ROWS)


def test_two_rows_from_a_terminal_clock_one_hour_fast_do_not_veto_the_store_day(hist: list[dict]) -> None:
    # before: 0.9988 < 0.999 on a critical rule -> the whole store-day vetoed. Now the 2 rows are
    # rejected at ingest (beyond the clock-skew tolerance) and the day publishes.
    valid = ROWS - 2
    decision, assessment, _ = run_gate(
        TX,
        tx_day(TX, "S001", DAY, valid),
        manifest(ROWS, valid, {"event_time:future": 2}),
        KEY,
        ARRIVAL,
        hist,
    )
    assert decision == "publish"
    assert not assessment.vetoes


def test_stale_742_row_file_is_quarantined_against_its_own_source(hist: list[dict]) -> None:
    # before: enhanced validation compared it with the median of the last 7 files of ANY source
    # (+-60 %) and published it
    old = DAY - timedelta(days=6)
    table = tx_day(TX, "S001", old, 742, seed=99)
    key = f"transactions/{DAY}/pos-S001-resend-{old:%Y%m%d}.csv"
    assert file_source(TX, key) == "S001"
    decision, assessment, _ = run_gate(TX, table, manifest(742, 742), key, ARRIVAL, hist)
    assert decision == "quarantine:below_minimum"
    assert "volume" in assessment.failed_checks


def test_a_late_but_complete_file_goes_through_enhanced_validation_and_is_published(hist: list[dict]) -> None:
    # a store that was offline sends a day nobody has: freshness 0 lowers the score into the band
    old = DAY - timedelta(days=20)  # before the history starts: not yet delivered
    table = tx_day(TX, "S001", old, ROWS)
    key = f"transactions/{DAY}/pos-S001-late.csv"
    decision, assessment, deep = run_gate(TX, table, manifest(ROWS, ROWS), key, ARRIVAL, hist)
    assert 0.75 <= assessment.score < 0.9
    assert decision == "publish (enhanced)"
    assert all(c.passed for c in deep)


def test_late_resend_under_a_new_name_is_a_duplicate_and_never_republished(hist: list[dict]) -> None:
    # before: uniqueness was checked within a file only -> all 1,650 rows republished
    old = DAY - timedelta(days=6)
    original = tx_day(TX, "S001", old, ROWS, seed=6)
    registry = MemoryIdRegistry()
    claim = registry.claim(
        "transactions", original.column("transaction_id").to_pylist(), "hist-5", ARRIVAL, timedelta(days=35)
    )
    assert len(claim.claimed) == ROWS
    key = f"transactions/{DAY}/pos-S001-resend-{old:%Y%m%d}.csv"
    decision, assessment, _ = run_gate(TX, original, manifest(ROWS, ROWS), key, ARRIVAL, hist, registry)
    assert decision == "quarantine:below_minimum"
    cross = checks_of(assessment)["cross_file_uniqueness"]
    assert cross["score"] == 0.0
    assert cross["details"]["already_published"] == ROWS and cross["details"]["published_by_runs"] == [
        "hist-5"
    ]
    # the gate only looked: it claimed nothing for the quarantined run
    assert set(registry.owner.values()) == {"hist-5"}
    # and if it reached publish anyway (a race), every claim fails: nothing republished
    again = registry.claim(
        "transactions",
        original.column("transaction_id").to_pylist(),
        "run-under-test",
        ARRIVAL,
        timedelta(days=35),
    )
    assert again.claimed == [] and len(again.duplicates) == ROWS


def test_late_resend_with_new_ids_is_stopped_by_enhanced_validation(hist: list[dict]) -> None:
    # the same store-day, regenerated ids: not a cross-file duplicate, but the day is delivered
    old = DAY - timedelta(days=6)
    table = tx_day(TX, "S001", old, 1_640, seed=123, transaction_id=[f"X{i:08d}" for i in range(1_640)])
    key = f"transactions/{DAY}/pos-S001-resend.csv"
    decision, _, deep = run_gate(TX, table, manifest(1_640, 1_640), key, ARRIVAL, hist, MemoryIdRegistry())
    assert decision == "quarantine:enhanced"
    day_check = by_name(deep)["source_day_not_yet_delivered"]
    assert day_check.details["already_delivered"][0]["day"] == old.isoformat()


def test_a_few_rows_already_published_pass_the_gate_and_are_dropped_at_publish(hist: list[dict]) -> None:
    table = tx_day(TX, "S001", DAY, ROWS)
    registry = MemoryIdRegistry()
    overlap = table.column("transaction_id").to_pylist()[:30]  # an export overlapping yesterday's
    registry.claim("transactions", overlap, "yesterday", ARRIVAL, timedelta(days=35))
    decision, assessment, _ = run_gate(TX, table, manifest(ROWS, ROWS), KEY, ARRIVAL, hist, registry)
    assert decision == "publish"
    assert checks_of(assessment)["cross_file_uniqueness"]["details"]["already_published"] == 30
    claim = registry.claim(
        "transactions", table.column("transaction_id").to_pylist(), "today", ARRIVAL, timedelta(days=35)
    )
    assert len(claim.claimed) == ROWS - 30 and sorted(claim.duplicates) == sorted(overlap)


def test_region_file_missing_a_store_is_quarantined_by_the_delivery_calendar() -> None:
    key = f"inventory_movements/{DAY}/region-01.csv"

    def region(day: date, stores: list[str]) -> object:
        n = len(stores) * 120
        ids = [stores[i % len(stores)] for i in range(n)]
        return staged(INV, n, store_id=ids, quantity_change=[-2] * n, event_time=day_times(day, n))

    everyone = [f"S{i:03d}" for i in range(1, 11)]
    yesterday = DAY - timedelta(days=1)
    records = published_history(
        INV, [(f"inventory_movements/{yesterday}/region-01.csv", region(yesterday, everyone))]
    )
    table = region(DAY, everyone[:9])  # S010 missing from region-01 today
    decision, assessment, _ = run_gate(
        INV, table, manifest(table.num_rows, table.num_rows), key, ARRIVAL, records
    )
    assert decision == "quarantine:below_minimum"
    deliveries = checks_of(assessment)["deliveries"]
    assert deliveries["details"]["missing_sources"] == ["S010"]
    assert deliveries["score"] == pytest.approx(0.9)


def test_region_file_with_one_store_truncated_is_quarantined_store_by_store() -> None:
    stores = [f"S{i:03d}" for i in range(1, 11)]
    key = f"inventory_movements/{DAY}/region-01.csv"

    def region(day: date, rows_of: dict[str, int]) -> object:
        ids = [s for s in stores for _ in range(rows_of.get(s, 120))]
        return staged(
            INV, len(ids), store_id=ids, quantity_change=[-2] * len(ids), event_time=day_times(day, len(ids))
        )

    past = [
        (f"inventory_movements/{DAY - timedelta(days=b)}/region-01.csv", region(DAY - timedelta(days=b), {}))
        for b in range(1, 8)
    ]
    records = published_history(INV, past)
    table = region(DAY, {"S004": 12})  # S004's export stopped after 12 movements
    decision, assessment, _ = run_gate(
        INV, table, manifest(table.num_rows, table.num_rows), key, ARRIVAL, records
    )
    assert decision == "quarantine:below_minimum"
    assert checks_of(assessment)["volume"]["details"]["failing"] == ["S004"]


# ------------------------------------------------------------------ sources and seasonality


def test_sources_come_from_the_key_and_the_row_column() -> None:
    assert file_source(TX, "transactions/2026-03-02/pos-S017.csv") == "S017"
    assert file_source(TX, "transactions/2026-03-02/online.jsonl.gz") == "online"
    assert file_source(INV, "inventory_movements/2026-03-02/region-04.csv") == "region-04"
    online = staged(TX, 3, store_id=[None, "", "S005"])
    assert row_sources(TX, online, "transactions/x/online.jsonl.gz").to_pylist() == [
        "online",
        "online",
        "S005",
    ]


def test_volume_is_compared_with_the_same_weekday_when_the_source_has_it() -> None:
    # Saturdays are twice a weekday: a Saturday of 3,300 is normal, a Monday of 3,300 is not
    files = []
    for back in range(1, 15):
        day = DAY - timedelta(days=back)
        n = 3_300 if day.isoweekday() == 6 else ROWS
        files.append((f"transactions/{day}/pos-S001.csv", tx_day(TX, "S001", day, n, seed=back)))
    records = published_history(TX, files)
    saturday = DAY + timedelta(days=5)
    sat = tx_day(TX, "S001", saturday, 3_300)
    _, assessment, _ = run_gate(TX, sat, manifest(3_300, 3_300), KEY, ARRIVAL + timedelta(days=5), records)
    (entry,) = checks_of(assessment)["volume"]["details"]["sources"]
    assert entry["basis"] == "same weekday" and entry["baseline_rows"] == 3_300 and entry["passed"]
    monday = tx_day(TX, "S001", DAY, 3_300)
    decision, _, _ = run_gate(TX, monday, manifest(3_300, 3_300), KEY, ARRIVAL, records)
    assert decision == "quarantine:below_minimum"


def test_with_too_few_same_weekdays_the_recent_days_are_the_baseline() -> None:
    files = [
        (
            f"transactions/{DAY - timedelta(days=b)}/pos-S001.csv",
            tx_day(TX, "S001", DAY - timedelta(days=b), 1_000 + b),
        )
        for b in range(1, 7)
    ]
    stats = source_stats(TX, tx_day(TX, "S001", DAY, 1_000), KEY)
    volume = history.volume_check(TX, stats, history_by_source(TX, published_history(TX, files)))
    (entry,) = volume.details["sources"]
    assert entry["basis"] == "recent days" and entry["observations"] == 6


def test_records_without_per_source_history_count_as_one_observation_of_the_file() -> None:
    legacy = [{"run_id": "old", "rows_published": 1_600, "source": {"key": "transactions/d/pos-S001.csv"}}]
    observations = history_by_source(TX, legacy)
    assert [(run, s.rows, s.quantiles) for run, s in observations["S001"]] == [("old", 1_600, None)]


# ------------------------------------------------------------------ thresholds, pinned


def assessment_with(score: float, all_passed: bool = True, critical: bool = False) -> Assessment:
    return Assessment(score, critical, [] if all_passed else ["x"], [], [], all_passed)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, "publish"),
        (0.9, "publish"),  # exactly at the publish threshold: >=
        (0.8999999, "enhanced"),
        (0.75, "enhanced"),  # exactly at the enhanced threshold: >=
        (0.7499999, "quarantine:below_threshold"),
        (0.0, "quarantine:below_threshold"),
    ],
)
def test_gate_bands_at_their_thresholds(score: float, expected: str) -> None:
    assert checks.gate_decision(assessment_with(score), 0.9, 0.75) == expected


def test_a_failed_minimum_or_a_veto_quarantines_a_perfect_score() -> None:
    assert (
        checks.gate_decision(assessment_with(1.0, all_passed=False), 0.9, 0.75) == "quarantine:below_minimum"
    )
    assert checks.gate_decision(assessment_with(1.0, critical=True), 0.9, 0.75) == "quarantine:critical"
    assert (
        checks.gate_decision(assessment_with(1.0, all_passed=False, critical=True), 0.9, 0.75)
        == "quarantine:critical"
    )


def test_assess_all_passed_needs_every_check_and_at_least_one() -> None:
    ok = CheckResult("validity", 0.95, True, False, 0.95)
    assert checks.assess(TX, [ok]).all_passed
    assert not checks.assess(TX, [ok, CheckResult("volume", 0.49, False, False, 0.5)]).all_passed
    assert not checks.assess(TX, []).all_passed


@pytest.mark.parametrize(
    ("score", "vetoes"),
    [(0.8, False), (0.7999, True)],  # the validity floor 0.8: at it no veto, just below it a veto
)
def test_critical_floor_boundary(score: float, vetoes: bool) -> None:
    result = checks._result(TX, "validity", score, {})
    assert result.veto is vetoes
    assert not result.passed  # below the 0.95 minimum either way


@pytest.mark.parametrize(("score", "passed"), [(0.95, True), (0.9499, False)])
def test_validity_minimum_boundary(score: float, passed: bool) -> None:
    assert checks._result(TX, "validity", score, {}).passed is passed


@pytest.mark.parametrize(
    ("rows", "passed"),
    [(1_300, True), (1_301, False), (700, True), (699, False), (1_000, True)],  # baseline 1,000, +-30 %
)
def test_volume_tolerance_boundary(rows: int, passed: bool) -> None:
    files = [
        (
            f"transactions/{DAY - timedelta(days=b)}/pos-S001.csv",
            tx_day(TX, "S001", DAY - timedelta(days=b), 1_000),
        )
        for b in range(1, 4)
    ]
    history_ = history_by_source(TX, published_history(TX, files))
    volume = history.volume_check(TX, source_stats(TX, tx_day(TX, "S001", DAY, rows), KEY), history_)
    assert volume.passed is passed
    assert volume.score == pytest.approx(1 - abs(rows - 1_000) / 1_000 / 0.6)


@pytest.mark.parametrize(("rows", "passed"), [(20, True), (19, False)])
def test_calendar_min_rows_boundary(rows: int, passed: bool) -> None:
    volume = history.volume_check(TX, source_stats(TX, tx_day(TX, "S001", DAY, rows), KEY), {})
    assert volume.passed is passed


# one cent past 30.00 and below 10.00 (median 20.00, max shift 0.5)
@pytest.mark.parametrize(("factor", "passed"), [(1.5, True), (1.5005, False), (0.5, True), (0.4995, False)])
def test_distribution_shift_boundary(factor: float, passed: bool) -> None:
    base = [
        (
            f"transactions/{DAY - timedelta(days=1)}/pos-S001.csv",
            tx_day(TX, "S001", DAY - timedelta(days=1), 100, amount=20.0),
        )
    ]
    history_ = history_by_source(TX, published_history(TX, base))
    today = tx_day(TX, "S001", DAY, 100, amount=round(20.0 * factor, 4))
    result = history.distribution_check(TX, source_stats(TX, today, KEY), history_)
    assert result.passed is passed


@pytest.mark.parametrize(("already", "passed"), [(5, True), (6, False)])  # of 100 rows, minimum 0.95
def test_cross_file_uniqueness_boundary(already: int, passed: bool) -> None:
    table = tx_day(TX, "S001", DAY, 100)
    registry = MemoryIdRegistry()
    registry.claim(
        "transactions",
        table.column("transaction_id").to_pylist()[:already],
        "other",
        ARRIVAL,
        timedelta(days=1),
    )
    result = history.cross_file_uniqueness_check(TX, table, "mine", registry, ARRIVAL)
    assert result.passed is passed and result.details["already_published"] == already


def test_cross_file_uniqueness_without_a_registry_says_it_did_not_check() -> None:
    result = history.cross_file_uniqueness_check(TX, tx_day(TX, "S001", DAY, 3), "r", None, ARRIVAL)
    assert result.passed and result.details["checked"] is False


@pytest.mark.slow  # large input: left out of `make mutate`, run by `make test`
def test_large_file_takes_every_path_of_the_history_checks() -> None:
    # 120,000 rows over 60 stores in one file: grouping, quantiles and the calendar at scale
    stores = [f"S{i:03d}" for i in range(1, 61)]
    n = 120_000
    table = staged(
        TX, n, store_id=[stores[i % 60] for i in range(n)], event_time=day_times(DAY, n), amount=amounts(n)
    )
    stats = source_stats(TX, table, "transactions/2026-03-02/all-stores.csv")
    assert len(stats) == 60 and sum(s.rows for s in stats.values()) == n
    assert all(s.day == DAY and s.quantiles is not None for s in stats.values())
