"""Dataset-level quality checks, the weighted assessment and its vetoes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from datapipe.contracts import default_registry
from datapipe.ingest.reader import read_raw
from datapipe.ingest.validation import Lineage, validate
from datapipe.quality import checks
from datapipe.quality.checks import CheckResult

TX = default_registry().get("transactions")
INV = default_registry().get("inventory_movements")


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
    assert result.score == pytest.approx(1 - 2 / (len(checks.expected_schema(TX)) + 1))  # + the extra one


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
    # informational (minimum 0): a late file is not refused for being late, its weight moves
    # the score into the enhanced-validation band instead
    assert freshness.threshold == 0.0 and freshness.passed


def test_row_rules_are_left_to_ingest_and_never_score_a_file():
    # GIVEN a row above the 50,000 limit that reached staging, and a timestamp after arrival
    # (staged with the row rules switched off: ingest would have rejected both rows)
    lax = dataclasses.replace(TX, row_rules=())
    table = tx_table({"amount": "50000.01"}, {"event_time": "2024-01-03T13:00:00Z"}, {}, {}, contract=lax)
    results = by_name(checks.business_checks(TX, table, ARRIVAL))
    # THEN the gate's business suite has no per-row rule checks (ingest rejects such rows)
    row_rules = {r.name for r in TX.business_rules if r.kind in checks.ROW_RULE_KINDS}
    assert not row_rules & set(results)
    assert "business_rules" not in results


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


def test_unknown_file_level_rule_kind_is_refused():
    rule = dataclasses.replace(TX.business_rules[0], kind="mystery")
    contract = dataclasses.replace(TX, business_rules=(rule,))
    with pytest.raises(ValueError, match="unknown file-level rule kind mystery"):
        checks.business_checks(contract, tx_table(n=1), ARRIVAL)


# --- assess -----------------------------------------------------------------------------------


def result(contract, name: str, score: float) -> CheckResult:
    """A check result judged the way the contract's quality policy says."""
    q = contract.quality
    threshold = q.min_score(name)
    return CheckResult(
        name, score, score >= threshold, name in q.critical_checks, threshold, {}, q.critical_floors.get(name)
    )


def test_assess_weighted_score_over_weighted_checks_only():
    # GIVEN schema (w2) 1.0, validity (w2) 0.9, completeness (w1) 0.99, and an unweighted check 0.0
    results = [
        result(TX, "schema", 1.0),
        result(TX, "validity", 0.9),
        result(TX, "completeness", 0.99),
        result(TX, "unweighted_check", 0.0),
    ]
    # WHEN assessing
    assessment = checks.assess(TX, results)
    # THEN the score is the weighted mean of the weighted checks; the unweighted one does not count
    assert assessment.score == pytest.approx((2 * 1.0 + 2 * 0.9 + 1 * 0.99) / 5)
    # ... but it still has to pass its minimum: every check counts for the gate
    assert assessment.failed_checks == ["validity", "unweighted_check"]
    assert assessment.all_passed is False
    assert not assessment.critical_failed
    assert assessment.vetoes == []
    assert len(assessment.checks) == 4
    assert assessment.checks[1]["veto"] is False


def test_assess_critical_check_failure_vetoes_a_high_score():
    results = [result(TX, "schema", 0.95), result(TX, "validity", 1.0), result(TX, "uniqueness", 1.0)]
    assessment = checks.assess(TX, results)
    assert assessment.score == pytest.approx(0.98)
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
    assert checks.assess(TX, [result(TX, "unweighted_check", 1.0)]).score == 0.0


def amounts_table(amounts: list[str]) -> pa.Table:
    return tx_table(*({"amount": a} for a in amounts))


def test_column_profile():
    profile = checks.column_profile(amounts_table(["10.00", "20.00", "30.00"]), "amount")
    assert profile["mean"] == pytest.approx(20.0)
    assert profile["stddev"] == pytest.approx(8.16496, rel=1e-4)
    assert checks.column_profile(amounts_table(["10.00"]), "missing_column") == {}
