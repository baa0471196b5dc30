"""Property-style: for seeded generated files, ingest rejects exactly the rows the generator broke.

hypothesis is not in the pinned environment, so the cases are drawn with ``random`` and fixed seeds.
"""

from __future__ import annotations

import random
from datetime import date

import pytest

from datapipe.contracts import default_registry
from datapipe.ingest.reader import FileRejected, read_raw
from datapipe.ingest.validation import Lineage, ValidationResult, validate
from offline_runtime.scenario import datagen

TX = default_registry().get("transactions")
INV = default_registry().get("inventory_movements")
SEEDS = list(range(12))
LINEAGE = Lineage("k", "v", "e", "run")


def ingest(body: bytes, key: str, contract) -> ValidationResult:
    result = validate(read_raw(body, key, contract), contract, LINEAGE)
    assert result.rows_in == result.rows_valid + result.rows_rejected
    return result


def case(seed: int) -> tuple[random.Random, int, float, date]:
    rng = random.Random(seed)
    n = rng.randint(1, 80)
    bad_rate = rng.choice([0.0, 0.05, 0.3, 0.6])
    day = date(2026, 1, 1) + (date(2026, 12, 31) - date(2026, 1, 1)) * rng.random()
    return rng, n, bad_rate, day


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_transactions_csv_rejects_exactly_the_bad_rows(seed: int):
    # GIVEN a generated POS file with a known number of corrupted rows (every corruption kind)
    rng, n, bad_rate, day = case(seed)
    accounts = datagen._accounts(rng, 50)
    body, bad = datagen.transactions_csv("S001", "CA", day, n, accounts, rng, bad_rate)
    # WHEN ingested
    result = ingest(body, f"transactions/{day}/pos-S001.csv", TX)
    # THEN exactly the corrupted rows are rejected and every row is accounted for
    assert result.rows_in == n
    assert result.rows_rejected == bad
    assert result.rows_valid == n - bad
    assert len({r.source_row for r in result.rejects}) == bad
    assert (
        result.valid.column("transaction_id").unique().to_pylist()
        == result.valid.column("transaction_id").to_pylist()
    )
    # and the kept rows' line numbers plus rejected ones are exactly lines 2..n+1
    kept = result.valid.column("lineage_source_row").to_pylist()
    assert sorted(kept + [r.source_row for r in result.rejects]) == list(range(2, n + 2))


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_inventory_csv_rejects_exactly_the_bad_rows(seed: int):
    rng, n, bad_rate, day = case(seed)
    body, bad = datagen.inventory_csv("S002", day, n, rng, bad_rate)
    result = ingest(body, f"inventory_movements/{day}/S002.csv", INV)
    assert result.rows_in == n
    assert result.rows_rejected == bad
    assert result.rows_valid == n - bad
    assert set(result.rejects_by_rule) <= {
        "quantity_change:non_zero",
        "reason:allowed_values",
        "quantity_change:type",
        "quantity_change:quantity_sign_matches_reason",
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_generated_online_jsonl_gz_rejects_exactly_the_bad_rows(seed: int):
    rng, n, bad_rate, day = case(seed)
    accounts = datagen._accounts(rng, 50)
    body, bad = datagen.online_jsonl_gz(day, n, accounts, rng, bad_rate)
    batch = read_raw(body, f"transactions/{day}/online.jsonl.gz", TX)
    assert batch.compression == "gzip"
    result = ingest(body, f"transactions/{day}/online.jsonl.gz", TX)
    assert result.rows_in == n
    assert result.rows_rejected == bad
    assert result.rows_valid == n - bad
    assert result.valid.column("store_id").null_count == result.rows_valid


def test_generated_cases_actually_contain_bad_rows():
    """Guards the property tests above against silently testing only clean files."""
    total_bad = 0
    for seed in SEEDS:
        rng, n, bad_rate, day = case(seed)
        _, bad = datagen.transactions_csv("S001", "CA", day, n, datagen._accounts(rng, 50), rng, bad_rate)
        total_bad += bad
    assert total_bad >= 20


def test_a_generated_business_day_rejects_exactly_the_bad_rows():
    # GIVEN a small generated business day (POS CSVs, online JSONL.gz, regional stock files, ...)
    files = datagen.business_day(
        date(2026, 3, 2), stores=10, tx_per_store=160, online_rows=60, movements_per_store=15
    )
    assert {f.expect for f in files} >= {"publish", "file_quarantine"}
    for raw in files:
        contract = default_registry().for_key(raw.key)
        assert contract is not None, raw.key
        if raw.expect == "file_quarantine":
            # WHEN a file is meant to be unreadable THEN the reader rejects it as a whole
            with pytest.raises(FileRejected):
                read_raw(raw.body, raw.key, contract)
            continue
        # WHEN ingested THEN exactly its bad rows are rejected
        result = ingest(raw.body, raw.key, contract)
        assert (result.rows_in, result.rows_rejected) == (raw.rows, raw.bad_rows), raw.key
