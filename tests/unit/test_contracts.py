"""Contract parsing and the registry that maps raw object keys to contracts."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from datapipe.contracts import ContractError, ContractRegistry, default_registry
from datapipe.contracts.model import parse_contract


def _minimal(name: str = "things", prefix: str = "things/") -> dict[str, Any]:
    return {
        "name": name,
        "version": 3,
        "raw_prefix": prefix,
        "formats": ["csv"],
        "event_time_column": "ts",
        "columns": [
            {"name": "id", "type": "string", "unique": True},
            {"name": "qty", "type": "int"},
            {"name": "ts", "type": "timestamp"},
        ],
        "partitions": [{"name": "event_date", "source": "ts"}],
        "business_rules": [{"name": "qty_cap", "kind": "max", "column": "qty", "value": 10}],
    }


def _write(directory: Path, raw: dict[str, Any], filename: str | None = None) -> None:
    (directory / (filename or f"{raw['name']}.json")).write_text(json.dumps(raw), encoding="utf-8")


# --- the shipped contracts -------------------------------------------------------------------


def test_default_registry_loads_both_shipped_contracts():
    # GIVEN the JSON definitions shipped with the package
    # WHEN the default registry is built
    registry = default_registry()
    # THEN both datasets are known, with their prefixes and schema versions
    assert registry.names == ["accounts", "fx_rates", "interest_rates", "inventory_movements", "transactions"]
    assert registry.get("transactions").raw_prefix == "transactions/"
    assert registry.get("accounts").raw_prefix == "accounts/"
    assert registry.get("interest_rates").raw_prefix == "interest_rates/"
    assert registry.get("inventory_movements").raw_prefix == "inventory_movements/"
    assert registry.get("transactions").schema_version == "transactions/v2"


def test_shipped_transactions_contract_details():
    # GIVEN the transactions contract
    tx = default_registry().get("transactions")
    # THEN the parsed columns reflect the JSON (required flags, unique key, decimal type)
    assert tx.unique_columns == ("transaction_id",)
    assert "card_id" not in tx.required_columns
    assert "store_id" not in tx.required_columns
    assert "amount" in tx.required_columns
    assert tx.column("amount").glue_type == "decimal(18,4)"
    assert tx.column("amount").non_zero  # signed, debit-positive (v2): the sign is a row rule per type
    assert tx.event_time_column == "event_time"
    assert [p.name for p in tx.partitions] == ["event_date"]
    assert tx.quality.critical_floors == {"validity": 0.8, "completeness": 0.9}


def test_registry_get_unknown_dataset_names_the_known_ones():
    # WHEN asking for a dataset that does not exist
    with pytest.raises(ContractError) as err:
        default_registry().get("payroll")
    # THEN the error names it and lists the known datasets
    assert "payroll" in str(err.value)
    assert "transactions" in str(err.value)


# --- for_key ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("transactions/2024-01-01/pos-S001.csv", "transactions"),
        ("transactions/x.jsonl.gz", "transactions"),
        ("inventory_movements/2024-01-01/S001.csv", "inventory_movements"),
    ],
)
def test_for_key_matches_by_prefix(key: str, expected: str):
    # WHEN looking up the contract of a raw key under a known prefix
    contract = default_registry().for_key(key)
    # THEN the contract of that prefix is returned
    assert contract is not None
    assert contract.name == expected


@pytest.mark.parametrize(
    "key",
    [
        "payroll/2024-01-01/file.csv",
        "transactions.csv",  # the dataset name without the prefix's slash
        "transactionsX/file.csv",
        "archive/transactions/file.csv",  # prefix must be at the start
        "",
    ],
)
def test_for_key_unknown_prefix_returns_none(key: str):
    assert default_registry().for_key(key) is None


# --- parse errors -----------------------------------------------------------------------------


def test_minimal_contract_parses():
    # GIVEN a well-formed minimal contract
    contract = parse_contract(_minimal())
    # THEN defaults are applied
    assert contract.version == 3
    assert contract.column("qty").required is True
    assert contract.column("id").unique is True
    assert contract.partitions[0].transform == "date"
    assert contract.quality.critical_checks == ("schema",)
    assert contract.business_rules[0].min_pass_rate == 0.99


def test_unknown_column_field_names_contract_column_and_field():
    # GIVEN a column with a typo'd field
    raw = _minimal()
    raw["columns"][1]["maximun"] = 5
    # WHEN parsing
    with pytest.raises(ContractError) as err:
        parse_contract(raw)
    # THEN the message names the contract, the column and the unknown field
    msg = str(err.value)
    assert "'things'" in msg
    assert "'qty'" in msg
    assert "maximun" in msg


def test_bad_column_type_is_named():
    raw = _minimal()
    raw["columns"][1]["type"] = "integer"
    with pytest.raises(ContractError) as err:
        parse_contract(raw)
    msg = str(err.value)
    assert "'things'" in msg
    assert "'qty'" in msg
    assert "'integer'" in msg


def test_bad_regex_pattern_is_named():
    raw = _minimal()
    raw["columns"][0]["pattern"] = "^[A-Z+$"
    with pytest.raises(ContractError) as err:
        parse_contract(raw)
    msg = str(err.value)
    assert "'things'" in msg
    assert "'id'" in msg
    assert "invalid pattern" in msg


@pytest.mark.parametrize("ref", ["column", "category_column", "other_column"])
def test_business_rule_referencing_unknown_column_is_named(ref: str):
    # GIVEN a rule pointing at a column the contract does not have
    raw = _minimal()
    raw["business_rules"][0][ref] = "quantity"
    # WHEN parsing
    with pytest.raises(ContractError) as err:
        parse_contract(raw)
    # THEN the contract, the rule, the reference and the bad column are all named
    msg = str(err.value)
    assert "'things'" in msg
    assert "'qty_cap'" in msg
    assert ref in msg
    assert "'quantity'" in msg


def test_unknown_business_rule_kind_is_named():
    raw = _minimal()
    raw["business_rules"][0]["kind"] = "maximum"
    with pytest.raises(ContractError, match=r"qty_cap.*'maximum'"):
        parse_contract(raw)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda r: r.pop("raw_prefix"), "missing 'raw_prefix'"),
        (lambda r: r.update(formats=["csv", "xml"]), "unsupported format 'xml'"),
        (lambda r: r["columns"].append({"name": "qty", "type": "int"}), "duplicate column names"),
        (lambda r: r.update(partitions=[{"name": "d", "source": "when"}]), "partition source 'when'"),
        (lambda r: r.update(partitions=[{"name": "qty", "source": "ts"}]), "clashes with a column"),
        (lambda r: r.update(event_time_column="when"), "event_time_column 'when'"),
    ],
)
def test_other_structural_errors_name_the_contract(mutate, fragment: str):
    raw = copy.deepcopy(_minimal())
    mutate(raw)
    with pytest.raises(ContractError) as err:
        parse_contract(raw)
    assert "'things'" in str(err.value)
    assert fragment in str(err.value)


def test_contract_without_name_is_rejected():
    raw = _minimal()
    del raw["name"]
    with pytest.raises(ContractError, match="without a 'name'"):
        parse_contract(raw)


# --- registry from a directory ----------------------------------------------------------------


def test_from_directory_prefixes_errors_with_the_file_name(tmp_path: Path):
    # GIVEN a directory with one good and one broken contract file
    _write(tmp_path, _minimal())
    bad = _minimal("others", "others/")
    bad["columns"][0]["type"] = "varchar"
    _write(tmp_path, bad, "zz_others.json")
    # WHEN loading the directory
    with pytest.raises(ContractError) as err:
        ContractRegistry.from_directory(tmp_path)
    # THEN the broken file, the contract and the column are named
    msg = str(err.value)
    assert msg.startswith("zz_others.json: ")
    assert "'others'" in msg
    assert "'varchar'" in msg


def test_from_directory_reports_invalid_json_with_the_file_name(tmp_path: Path):
    (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ContractError, match=r"^broken\.json: "):
        ContractRegistry.from_directory(tmp_path)


def test_from_directory_loads_every_json_file(tmp_path: Path):
    _write(tmp_path, _minimal("a", "a/"))
    _write(tmp_path, _minimal("b", "b/"))
    (tmp_path / "README.md").write_text("not a contract", encoding="utf-8")
    registry = ContractRegistry.from_directory(tmp_path)
    assert registry.names == ["a", "b"]
    assert registry.for_key("b/x.csv").name == "b"


@pytest.mark.parametrize(("first", "second"), [("sales/", "sales/pos/"), ("sales/pos/", "sales/")])
def test_overlapping_prefixes_are_refused(first: str, second: str):
    # GIVEN two contracts where one prefix contains the other (a key would match both)
    a = parse_contract(_minimal("a", first))
    b = parse_contract(_minimal("b", second))
    # WHEN building a registry
    with pytest.raises(ContractError) as err:
        ContractRegistry([a, b])
    # THEN both prefixes are named
    assert "'sales/'" in str(err.value)
    assert "'sales/pos/'" in str(err.value)


def test_non_overlapping_similar_prefixes_are_accepted():
    a = parse_contract(_minimal("a", "sales/"))
    b = parse_contract(_minimal("b", "sales_returns/"))
    registry = ContractRegistry([a, b])
    assert registry.for_key("sales_returns/x.csv").name == "b"
    assert registry.for_key("sales/x.csv").name == "a"


def test_two_contracts_with_the_same_name_are_refused():
    a = parse_contract(_minimal("a", "a/"))
    b = parse_contract(_minimal("a", "b/"))
    with pytest.raises(ContractError, match="share a name"):
        ContractRegistry([a, b])


@pytest.mark.parametrize(
    "section,field",
    [("top", "descripton"), ("quality", "critical_floor"), ("rule", "min_passrate")],
)
def test_typos_anywhere_in_a_contract_fail_at_load_time(section: str, field: str) -> None:
    import json

    from datapipe.contracts.model import parse_contract
    from datapipe.contracts.registry import DEFINITIONS

    raw = json.loads((DEFINITIONS / "transactions.json").read_text())
    target = {"top": raw, "quality": raw["quality"], "rule": raw["business_rules"][0]}[section]
    target[field] = 1
    with pytest.raises(ContractError, match=field):
        parse_contract(raw)
