"""The pure part of publishing: which Glue schema changes are accepted."""

from __future__ import annotations

import pyarrow as pa
import pytest

from datapipe.contracts import default_registry
from datapipe.publish.service import SchemaEvolutionError, check_schema_evolution, glue_types

EXISTING = {"transaction_id": "string", "amount": "decimal(18,2)", "event_time": "timestamp"}


def test_first_publish_has_nothing_to_compare():
    assert check_schema_evolution(None, {"a": "string"}, "db", "t") == []
    assert check_schema_evolution({}, {"a": "string"}, "db", "t") == []


def test_same_schema_adds_nothing():
    assert check_schema_evolution(EXISTING, dict(EXISTING), "db", "transactions") == []


def test_additive_columns_are_accepted_and_returned():
    # GIVEN staged data with two columns the table does not have yet
    new = {**EXISTING, "loyalty_tier": "string", "points": "bigint"}
    # WHEN checking
    added = check_schema_evolution(EXISTING, new, "db", "transactions")
    # THEN both are returned, in the staged order
    assert added == ["loyalty_tier", "points"]


def test_a_column_missing_from_the_staged_data_is_not_a_type_change():
    new = {"transaction_id": "string", "amount": "decimal(18,2)"}
    assert check_schema_evolution(EXISTING, new, "db", "transactions") == []


def test_type_change_is_refused_naming_column_and_both_types():
    # GIVEN staged data where amount became a double
    new = {**EXISTING, "amount": "double", "extra": "string"}
    # WHEN checking
    with pytest.raises(SchemaEvolutionError) as err:
        check_schema_evolution(EXISTING, new, "curated_db", "transactions")
    # THEN the message names the column, the table and both types
    msg = str(err.value)
    assert "amount: decimal(18,2) in curated_db.transactions, double in the staged data" in msg


def test_every_changed_column_is_reported():
    new = {"transaction_id": "bigint", "amount": "decimal(20,4)", "event_time": "timestamp"}
    with pytest.raises(SchemaEvolutionError) as err:
        check_schema_evolution(EXISTING, new, "db", "t")
    assert "transaction_id: string" in str(err.value)
    assert "amount: decimal(18,2)" in str(err.value)
    assert "event_time" not in str(err.value)


@pytest.mark.parametrize(
    ("old", "new"), [("decimal(18, 2)", "decimal(18,2)"), ("decimal(18,2)", "decimal( 18 , 2 )")]
)
def test_whitespace_inside_a_type_is_not_a_change(old: str, new: str):
    assert check_schema_evolution({"amount": old}, {"amount": new}, "db", "t") == []


def test_glue_types_follow_the_contract_and_type_extra_columns():
    tx = default_registry().get("transactions")
    table = pa.table(
        {
            "amount": pa.array([1.0]),  # contract type wins over the table's
            "event_date": pa.array(["2024-01-01"]),
            "lineage_source_row": pa.array([2], type=pa.int64()),
        }
    )
    types = glue_types(tx, table)
    assert types["amount"] == "decimal(18,4)"
    assert types["event_time"] == "timestamp"
    assert types["transaction_id"] == "string"
    assert types["event_date"] == "string"
    assert types["lineage_source_row"] == "bigint"
