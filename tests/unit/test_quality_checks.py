"""Dataset-level quality checks, the weighted assessment and its vetoes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datapipe.contracts import default_registry
from datapipe.contracts.model import parse_contract
from datapipe.contracts.registry import DEFINITIONS
from datapipe.ingest.reader import read_raw
from datapipe.ingest.validation import Lineage, validate
from datapipe.quality import checks
from datapipe.quality.checks import CheckResult

TX = default_registry().get("transactions")
INV = default_registry().get("inventory_movements")


def _with_file_rules(name: str, rules: list[dict[str, Any]], critical: list[str]):
    """The shipped contract with file-level rules of the kinds checks.py scores (the shipped
    contracts moved max / sign / future-time to row rules at ingest, contracts v2)."""
    raw = json.loads((DEFINITIONS / f"{name}.json").read_text())
    raw["row_rules"] = []
    raw["business_rules"] = raw.get("business_rules", []) + rules
    raw["quality"]["critical_checks"] = ["schema", *critical]
    return parse_contract(raw)


FUTURE = {
    "name": "event_time_not_in_future",
    "kind": "not_after_arrival",
    "column": "event_time",
    "tolerance_minutes": 15,
    "min_pass_rate": 0.999,
    "critical": True,
}
TX_RULES = _with_file_rules(
    "transactions",
    [
        {
            "name": "amount_within_single_transaction_limit",
            "kind": "max",
            "column": "amount",
            "value": 50000,
            "min_pass_rate": 0.999,
        },
        FUTURE,
    ],
    ["event_time_not_in_future"],
)
INV_RULES = _with_file_rules(
    "inventory_movements",
    [
        {
            "name": "quantity_sign_matches_reason",
            "kind": "sign_by_category",
            "column": "quantity_change",
            "category_column": "reason",
            "negative": ["SALE"],
            "positive": ["DELIVERY", "RETURN"],
            "min_pass_rate": 0.99,
        },
        FUTURE,
    ],
    ["event_time_not_in_future"],
)
TX_DEFAULT = {
    "transaction_id": None,  # filled per row
    "transaction_type": "PURCHASE",
    "original_transaction_id": "",
    "account_id": "ACC001",
    "card_id": "CARD1",
    "customer_id": "CUS1",
    "store_id": "S001",
    "merchant": "FreshMart",
    "merchant_category": "GROCERY",
    "amount": "10.00",
    "currency": "USD",
    "channel": "POS",
    "location_country": "US",
    "location_state": "CA",
    "home_country": "US",
    "home_state": "CA",
    "account_type": "checking",
    "event_time": "2024-01-02T10:00:00Z",
}
ARRIVAL = datetime(2024, 1, 3, 12, 0, tzinfo=UTC)


def staged_table(contract, rows: list[dict[str, str]]) -> pa.Table:
    """The valid table the ingest would stage for these rows (all must be valid)."""
    names = [c.name for c in contract.input_columns]
    header = ",".join(names)
    lines = [",".join(r.get(c, "") for c in names) for r in rows]
    body = ("\n".join([header, *lines]) + "\n").encode()
    result = validate(
        read_raw(body, f"{contract.raw_prefix}f.csv", contract), contract, Lineage("k", "", "", "r")
    )
    assert result.rejects == [], result.rejects
    return result.valid


def tx_table(*overrides: dict[str, str], n: int | None = None, contract=None) -> pa.Table:
    rows = list(overrides) if overrides else [{} for _ in range(n or 1)]
    return staged_table(
        contract or TX,
        [{**TX_DEFAULT, "transaction_id": f"T{i:06d}", **o} for i, o in enumerate(rows, start=1)],
    )


def inv_table(*movements: tuple[str, str, str], contract=None) -> pa.Table:
    rows = [
        {
            "movement_id": f"M{i:06d}",
            "store_id": "S01",
            "product_id": "P0001",
            "quantity_change": qty,
            "reason": reason,
            "event_time": ts,
        }
        for i, (qty, reason, ts) in enumerate(movements, start=1)
    ]
    return staged_table(contract or INV, rows)


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {r.name: r for r in results}


# --- schema -----------------------------------------------------------------------------------


def test_schema_check_passes_on_a_freshly_validated_table():
    table = tx_table(n=3)
    result = checks.schema_check(TX, table.schema, table)
    assert result.passed
    assert result.score == 1.0
    assert result.details["problems"] == []
    assert result.critical
    assert not result.veto


def test_schema_check_fails_on_a_changed_type():
    # GIVEN a staged table whose amount became a float
    table = tx_table(n=2)
    idx = table.schema.get_field_index("amount")
    table = table.set_column(idx, "amount", pc.cast(table.column("amount"), pa.float64()))
    # WHEN checking the schema
    result = checks.schema_check(TX, table.schema, table)
    # THEN it fails, names the column and both types, and vetoes (schema is critical)
    assert not result.passed
    assert result.details["problems"] == ["amount: expected decimal128(18, 4), found double"]
    assert result.score == pytest.approx(1 - 1 / len(checks.expected_schema(TX)))
    assert result.veto


def test_schema_check_fails_on_a_missing_and_an_extra_column():
    table = tx_table(n=2).drop_columns(["merchant"])
    table = table.append_column("surprise", pa.array([1, 2]))
    result = checks.schema_check(TX, table.schema, table)
    assert not result.passed
    assert result.details["problems"] == ["missing column merchant", "unexpected column surprise"]
    assert result.score == pytest.approx(1 - 2 / (len(checks.expected_schema(TX)) + 1))


def test_schema_check_reports_nulls_in_required_columns():
    table = tx_table(n=2)
    idx = table.schema.get_field_index("customer_id")
    table = table.set_column(idx, "customer_id", pa.array(["CUS1", None]))
    result = checks.schema_check(TX, table.schema, table)
    assert not result.passed
    assert result.details["problems"] == ["customer_id: 1 nulls in a required column"]
    # without the table only the schema is compared
    assert checks.schema_check(TX, table.schema).passed


def test_schema_check_is_not_fooled_by_a_timezone_less_timestamp():
    table = tx_table(n=1)
    idx = table.schema.get_field_index("event_time")
    table = table.set_column(idx, "event_time", pc.cast(table.column("event_time"), pa.timestamp("us")))
    result = checks.schema_check(TX, table.schema, table)
    assert not result.passed
    assert "event_time" in result.details["problems"][0]


# --- content ----------------------------------------------------------------------------------


def test_content_checks_from_a_hand_made_manifest():
    # GIVEN 10 rows in: 7 staged (2 with the optional card_id empty), 3 rejected
    table = tx_table({}, {}, {}, {}, {}, {"card_id": ""}, {"card_id": ""})
    manifest = {
        "counts": {"rows_in": 10, "rows_valid": 7, "rows_rejected": 3},
        "rejects_by_rule": {
            "account_id:required": 1,
            "*:ragged_row": 1,
            "transaction_id:unique": 1,
            "amount:type": 1,
        },
    }
    # WHEN the content checks run
    results = by_name(checks.content_checks(TX, table, manifest))
    # THEN completeness is over required values only: the empty optional card_id does not count,
    # the rejected missing account_id does, and an unparsable row misses all 12 required values
    required = 12
    missing = 0 + 1 + 1 * required
    assert results["completeness"].score == pytest.approx(1 - missing / (10 * required))
    assert sorted(results["completeness"].details.values()) == [missing, 10 * required]
    # validity is the share of valid rows
    assert results["validity"].score == pytest.approx(0.7)
    assert results["validity"].details["rows_valid"] == 7
    # uniqueness counts rejected duplicates
    assert results["uniqueness"].score == pytest.approx(0.9)
    assert results["uniqueness"].details["duplicates_rejected"] == 1
    assert results["uniqueness"].details["duplicates_staged"] == 0
    # and each is judged against the contract's minimum, with the critical floors attached
    assert not results["validity"].passed
    assert results["validity"].threshold == 0.95
    assert results["validity"].floor == 0.8
    assert results["validity"].veto  # 0.7 < floor 0.8
    assert results["completeness"].veto  # ~0.892 < floor 0.9
    assert not results["uniqueness"].passed
    assert not results["uniqueness"].veto  # no floor for uniqueness


def test_content_checks_clean_file_passes_everything():
    table = tx_table(n=5)
    manifest = {"counts": {"rows_in": 5, "rows_valid": 5, "rows_rejected": 0}, "rejects_by_rule": {}}
    results = checks.content_checks(TX, table, manifest)
    assert [(r.name, r.score, r.passed) for r in results] == [
        ("completeness", 1.0, True),
        ("validity", 1.0, True),
        ("uniqueness", 1.0, True),
    ]


def test_content_checks_count_nulls_staged_in_required_columns_only():
    # GIVEN 4 staged rows: one with a null required customer_id, all with a null optional store_id
    table = tx_table(*({"store_id": ""} for _ in range(4)))
    idx = table.schema.get_field_index("customer_id")
    table = table.set_column(idx, "customer_id", pa.array(["CUS1", None, "CUS3", "CUS4"]))
    manifest = {"counts": {"rows_in": 4, "rows_valid": 4, "rows_rejected": 0}, "rejects_by_rule": {}}
    # WHEN the content checks run
    completeness = by_name(checks.content_checks(TX, table, manifest))["completeness"]
    # THEN only the required null counts, out of 4 rows x 12 required columns
    assert completeness.score == pytest.approx(1 - 1 / 48)


def test_content_checks_count_duplicates_that_reached_staging():
    table = tx_table(n=4)
    doubled = pa.concat_tables([table, table.slice(0, 1)])
    manifest = {"counts": {"rows_in": 5, "rows_valid": 5, "rows_rejected": 0}, "rejects_by_rule": {}}
    uniqueness = by_name(checks.content_checks(TX, doubled, manifest))["uniqueness"]
    assert uniqueness.details["duplicates_staged"] == 1
    assert uniqueness.score == pytest.approx(0.8)


# --- business ---------------------------------------------------------------------------------


def test_freshness_is_the_share_of_rows_within_the_window_before_arrival():
    # GIVEN arrival at 2024-01-03 12:00 and a 48 h window (oldest fresh: 2024-01-01 12:00)
    table = tx_table(
        {"event_time": "2024-01-01T11:59:59Z"},  # stale
        {"event_time": "2024-01-01T12:00:00Z"},  # exactly on the edge: fresh
        {"event_time": "2024-01-02T08:00:00Z"},
        {"event_time": "2024-01-03T11:00:00Z"},
    )
    freshness = by_name(checks.business_checks(TX, table, ARRIVAL))["freshness"]
    assert freshness.score == pytest.approx(0.75)
    assert freshness.details["fresh_rows"] == 3
    assert not freshness.passed  # minimum 0.95


def test_max_rule():
    table = tx_table(
        {"amount": "10.00"},
        {"amount": "50000.00"},
        {"amount": "50000.01"},
        {"amount": "1.00"},
        contract=TX_RULES,
    )
    rule = by_name(checks.business_checks(TX_RULES, table, ARRIVAL))["amount_within_single_transaction_limit"]
    assert rule.score == pytest.approx(0.75)
    assert rule.details["failing_rows"] == 1
    assert rule.threshold == 0.999
    assert not rule.passed
    assert not rule.veto  # not a critical rule


def test_min_rule():
    contract = parse_contract(
        {
            "name": "m",
            "version": 1,
            "raw_prefix": "m/",
            "formats": ["csv"],
            "columns": [{"name": "id", "type": "string"}, {"name": "v", "type": "float"}],
            "business_rules": [{"name": "v_floor", "kind": "min", "column": "v", "value": 2}],
        }
    )
    table = staged_table(contract, [{"id": "a", "v": "1.5"}, {"id": "b", "v": "2"}, {"id": "c", "v": "9"}])
    rule = by_name(checks.business_checks(contract, table, ARRIVAL))["v_floor"]
    assert rule.score == pytest.approx(2 / 3)
    assert "freshness" not in by_name(checks.business_checks(contract, table, ARRIVAL))


def test_sign_by_category_rule():
    # GIVEN stock movements: sales must be negative, deliveries and returns positive
    table = inv_table(
        ("-2", "SALE", "2024-01-02T10:00:00Z"),
        ("3", "SALE", "2024-01-02T10:00:00Z"),  # wrong sign
        ("48", "DELIVERY", "2024-01-02T10:00:00Z"),
        ("-5", "DELIVERY", "2024-01-02T10:00:00Z"),  # wrong sign
        ("1", "RETURN", "2024-01-02T10:00:00Z"),
        ("-3", "ADJUSTMENT", "2024-01-02T10:00:00Z"),  # either sign is fine
        ("2", "ADJUSTMENT", "2024-01-02T10:00:00Z"),
        ("-1", "SALE", "2024-01-02T10:00:00Z"),
        contract=INV_RULES,
    )
    rule = by_name(checks.business_checks(INV_RULES, table, ARRIVAL))["quantity_sign_matches_reason"]
    assert rule.details["failing_rows"] == 2
    assert rule.score == pytest.approx(6 / 8)
    assert not rule.passed


def test_not_after_arrival_rule_allows_the_tolerance_and_is_critical():
    # GIVEN arrival 12:00 and a 15 minute tolerance
    table = tx_table(
        {"event_time": "2024-01-03T11:00:00Z"},
        {"event_time": "2024-01-03T12:15:00Z"},  # at the tolerance: ok
        {"event_time": "2024-01-03T12:15:01Z"},  # after: not ok
        {"event_time": "2024-01-02T12:00:00Z"},
        contract=TX_RULES,
    )
    results = by_name(checks.business_checks(TX_RULES, table, ARRIVAL))
    rule = results["event_time_not_in_future"]
    assert rule.details["failing_rows"] == 1
    assert rule.score == pytest.approx(0.75)
    assert rule.critical
    assert rule.veto


def test_not_after_arrival_all_in_the_past_passes():
    rule = by_name(checks.business_checks(TX_RULES, tx_table(n=3, contract=TX_RULES), ARRIVAL))[
        "event_time_not_in_future"
    ]
    assert rule.passed
    assert not rule.veto


@pytest.mark.parametrize(
    ("differing", "expected_score"),
    [(0, 1.0), (1, 1.0), (2, 0.75), (4, 0.25)],  # of 4 rows; max_rate 0.25
)
def test_columns_differ_rate_rule(differing: int, expected_score: float):
    rows = [{"location_state": "NY"} if i < differing else {} for i in range(4)]
    table = tx_table(*rows)
    rule = by_name(checks.business_checks(TX, table, ARRIVAL))["out_of_home_state_share"]
    assert rule.details["differ_rate"] == pytest.approx(differing / 4)
    assert rule.score == pytest.approx(expected_score)
    assert rule.passed  # informational: min_pass_rate 0.0


def test_business_rules_aggregate_is_the_worst_rule():
    table = tx_table({"amount": "60000.00"}, {}, {}, {}, contract=TX_RULES)
    results = by_name(checks.business_checks(TX_RULES, table, ARRIVAL))
    assert results["business_rules"].score == pytest.approx(0.75)
    scored_rules = [r.name for r in TX_RULES.business_rules if r.min_pass_rate > 0]
    assert results["business_rules"].details["rules"] == scored_rules
    assert not results["business_rules"].passed


def test_informational_rule_stays_out_of_the_business_rules_aggregate():
    # GIVEN every row bought outside the home state (differ rate 1.0 > max_rate 0.25)
    table = tx_table(
        {"location_state": "NV"}, {"location_state": "NV"}, {"location_state": "NV"}, contract=TX_RULES
    )
    results = by_name(checks.business_checks(TX_RULES, table, ARRIVAL))
    # THEN the informational rule reports it, but does not fail the aggregate
    assert results["out_of_home_state_share"].score < 1.0
    assert results["business_rules"].score == 1.0 and results["business_rules"].passed


# --- assess -----------------------------------------------------------------------------------


def result(contract, name: str, score: float) -> CheckResult:
    """A check result judged the way the contract's quality policy says."""
    q = contract.quality
    threshold = q.min_score(name)
    return CheckResult(
        name, score, score >= threshold, name in q.critical_checks, threshold, {}, q.critical_floors.get(name)
    )


def test_assess_weighted_score_over_weighted_checks_only():
    # GIVEN schema (w2) 1.0, validity (w2) 0.9, completeness (w1) 0.99, and an unweighted volume 0.0
    results = [
        result(TX, "schema", 1.0),
        result(TX, "validity", 0.9),
        result(TX, "completeness", 0.99),
        result(TX, "volume", 0.0),
    ]
    # WHEN assessing
    assessment = checks.assess(TX, results)
    # THEN the score is the weighted mean of the weighted checks; volume does not count
    assert assessment.score == pytest.approx((2 * 1.0 + 2 * 0.9 + 1 * 0.99) / 5)
    assert assessment.failed_checks == ["validity", "volume"]
    assert not assessment.critical_failed
    assert assessment.vetoes == []
    assert len(assessment.checks) == 4
    assert assessment.checks[1]["veto"] is False


def test_assess_critical_check_failure_vetoes_a_high_score():
    results = [result(TX, "schema", 0.95), result(TX, "validity", 1.0), result(TX, "business_rules", 1.0)]
    assessment = checks.assess(TX, results)
    assert assessment.score > 0.98
    assert assessment.critical_failed
    assert assessment.vetoes == ["schema"]


def test_assess_critical_floor_vetoes_a_non_critical_check():
    # GIVEN validity just below its 0.8 floor (validity is not a critical check)
    low = result(TX, "validity", 0.79)
    # THEN it vetoes
    assert not low.critical
    assessment = checks.assess(TX, [result(TX, "schema", 1.0), low])
    assert assessment.critical_failed
    assert assessment.vetoes == ["validity"]
    # while a validity that fails its minimum but stays above the floor does not
    mid = checks.assess(TX, [result(TX, "schema", 1.0), result(TX, "validity", 0.85)])
    assert mid.failed_checks == ["validity"]
    assert not mid.critical_failed


def test_assess_from_content_checks_of_a_badly_broken_file():
    # GIVEN a file where a quarter of the rows were rejected
    table = tx_table(n=3)
    manifest = {
        "counts": {"rows_in": 4, "rows_valid": 3, "rows_rejected": 1},
        "rejects_by_rule": {"amount:type": 1},
    }
    results = [checks.schema_check(TX, table.schema, table), *checks.content_checks(TX, table, manifest)]
    assessment = checks.assess(TX, results)
    assert "validity" in assessment.vetoes
    assert assessment.critical_failed


def test_assess_with_no_weighted_checks_scores_zero():
    assert checks.assess(TX, [result(TX, "volume", 1.0)]).score == 0.0


# --- enhanced ---------------------------------------------------------------------------------


def history(rows: int, mean: float | None, runs: int = 5) -> list[dict[str, Any]]:
    profile = {"mean": mean, "stddev": 1.0} if mean is not None else {}
    return [{"run_id": f"r{i}", "rows_published": rows, "profile": profile} for i in range(runs)]


def amounts_table(amounts: list[str]) -> pa.Table:
    return tx_table(*({"amount": a} for a in amounts))


def test_enhanced_checks_without_history_pass_and_say_so():
    results = by_name(checks.enhanced_checks(TX, tx_table(n=3), []))
    assert results["volume"].passed
    assert results["distribution"].passed
    assert "none" in results["volume"].details["baseline"]
    assert results["volume"].details["rows"] == 3


def test_enhanced_checks_with_similar_history_pass():
    table = amounts_table(["20.00", "22.00", "18.00", "20.00"])
    results = by_name(checks.enhanced_checks(TX, table, history(rows=4, mean=21.0)))
    assert results["volume"].passed
    assert results["volume"].score == 1.0
    assert results["volume"].details["ratio"] == 1.0
    assert results["distribution"].passed
    assert results["distribution"].details["mean"] == pytest.approx(20.0)
    assert results["distribution"].details["baseline_mean"] == 21.0


def test_enhanced_checks_fail_on_a_five_fold_volume_jump():
    table = amounts_table(["20.00"] * 20)
    volume = by_name(checks.enhanced_checks(TX, table, history(rows=4, mean=20.0)))["volume"]
    assert not volume.passed
    assert volume.details["ratio"] == 5.0
    assert volume.score == 0.0


def test_enhanced_checks_volume_uses_the_median_of_history():
    # GIVEN history with one outlier run: the median (10) is the baseline, not the mean
    hist = [*history(rows=10, mean=20.0, runs=4), *history(rows=1000, mean=20.0, runs=1)]
    volume = by_name(checks.enhanced_checks(TX, amounts_table(["20.00"] * 10), hist))["volume"]
    assert volume.details["baseline_rows"] == 10
    assert volume.passed


def test_enhanced_checks_fail_on_a_distribution_shift():
    # GIVEN the usual mean amount is 20 and today's is 100 (shift 4.0 > 0.5)
    table = amounts_table(["100.00"] * 4)
    dist = by_name(checks.enhanced_checks(TX, table, history(rows=4, mean=20.0)))["distribution"]
    assert not dist.passed
    assert dist.details["relative_shift"] == pytest.approx(4.0)
    assert dist.score == 0.0


def test_enhanced_checks_history_without_profiles_skips_distribution():
    dist = by_name(checks.enhanced_checks(TX, amounts_table(["100.00"] * 4), history(rows=4, mean=None)))[
        "distribution"
    ]
    assert dist.passed
    assert dist.details["baseline"] == "no profile to compare"


def test_column_profile():
    profile = checks.column_profile(amounts_table(["10.00", "20.00", "30.00"]), "amount")
    assert profile["mean"] == pytest.approx(20.0)
    assert profile["stddev"] == pytest.approx(8.16496, rel=1e-4)
    assert checks.column_profile(amounts_table(["10.00"]), "missing_column") == {}
