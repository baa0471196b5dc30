"""Cross-file ids on DynamoDB (moto's emulation) and the delivery calendar for the freshness checker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from datapipe.contracts import ContractError, default_registry
from datapipe.contracts.model import expand_sources, parse_quality
from datapipe.quality.dedupe import DynamoIdRegistry, split_duplicates
from datapipe.quality.deliveries import delivered_rows_for_day, due_at, missing_deliveries
from datapipe.quality.service import overdue_deliveries
from datapipe.quality.sources import history_entries
from tests.unit.gate_support import staged, tx_day

TX = default_registry().get("transactions")
INV = default_registry().get("inventory_movements")
NOW = datetime(2026, 3, 3, 2, tzinfo=UTC)
TABLE = "record-ids"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "record_key", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "record_key", "KeyType": "HASH"}],
        )
        yield client


def test_seen_reports_other_runs_only_and_claims_nothing(dynamodb: Any) -> None:
    registry = DynamoIdRegistry(TABLE, client=dynamodb)
    ids = [f"T{i:04d}" for i in range(250)]  # three BatchGetItem pages
    assert registry.claim("transactions", ids[:120], "run-a", NOW, timedelta(days=35)).claimed == ids[:120]
    assert registry.seen("transactions", ids, "run-b", NOW) == {i: "run-a" for i in ids[:120]}
    assert registry.seen("transactions", ids, "run-a", NOW) == {}  # its own claims are not duplicates
    assert dynamodb.scan(TableName=TABLE)["Count"] == 120  # looking wrote nothing


def test_claim_is_conditional_per_id_and_idempotent_for_the_same_run(dynamodb: Any) -> None:
    registry = DynamoIdRegistry(TABLE, client=dynamodb)
    registry.claim("transactions", ["T1", "T2"], "run-a", NOW, timedelta(days=35))
    # a second run holding some of the same ids: those are duplicates, the rest is claimed
    result = registry.claim("transactions", ["T0", "T1", "T2", "T3"], "run-b", NOW, timedelta(days=35))
    assert result.claimed == ["T0", "T3"] and result.duplicates == ["T1", "T2"]
    # the first run's publish retried: its ids are its own again
    assert registry.claim("transactions", ["T1", "T2"], "run-a", NOW, timedelta(days=35)).claimed == [
        "T1",
        "T2",
    ]
    # datasets do not collide
    assert registry.claim("inventory_movements", ["T1"], "run-c", NOW, timedelta(days=35)).claimed == ["T1"]


def test_a_claim_is_one_conditional_put_of_one_write_unit_per_id(dynamodb: Any) -> None:
    """Claims are a write per published row: a PutItem (1 WRU for an item under 1 KB), not a
    transaction's item (2 WRU); duplicates in the input are claimed once, order is kept."""
    from offline_runtime.emulator.metering import item_size, write_units

    calls: list[tuple[str, dict[str, Any]]] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.*", lambda params, model, **_: calls.append((model.name, params))
    )
    registry = DynamoIdRegistry(TABLE, client=dynamodb)
    registry.claim("transactions", ["T5", "T6"], "run-a", NOW, timedelta(days=35))
    ids = [f"T{i}" for i in range(40)] + ["T3", "T4"]  # 40 distinct, two repeated
    calls.clear()
    result = registry.claim("transactions", ids, "run-b", NOW, timedelta(days=35))
    assert result.claimed == [f"T{i}" for i in range(40) if i not in (5, 6)]
    assert result.duplicates == ["T5", "T6"]
    assert {name for name, _ in calls} == {"PutItem"} and len(calls) == 40
    assert all("attribute_not_exists(record_key)" in p["ConditionExpression"] for _, p in calls)
    assert {write_units(item_size(p["Item"])) for _, p in calls} == {1}


def test_an_expired_claim_no_longer_counts(dynamodb: Any) -> None:
    registry = DynamoIdRegistry(TABLE, client=dynamodb)
    registry.claim("transactions", ["T1"], "run-a", NOW, timedelta(days=35))
    later = NOW + timedelta(days=36)  # TTL deletes lazily: the item may still be there
    assert registry.seen("transactions", ["T1"], "run-b", later) == {}
    assert registry.claim("transactions", ["T1"], "run-b", later, timedelta(days=35)).claimed == ["T1"]
    # exactly at expiry the claim still holds
    registry.claim("transactions", ["T9"], "run-a", NOW, timedelta(days=1))
    assert registry.seen("transactions", ["T9"], "run-b", NOW + timedelta(days=1)) == {"T9": "run-a"}


def test_release_gives_back_only_the_runs_own_claims(dynamodb: Any) -> None:
    registry = DynamoIdRegistry(TABLE, client=dynamodb)
    registry.claim("transactions", ["T1"], "run-a", NOW, timedelta(days=35))
    registry.claim("transactions", ["T2"], "run-b", NOW, timedelta(days=35))
    registry.release("transactions", ["T1", "T2"], "run-a")
    assert registry.seen("transactions", ["T1", "T2"], "run-c", NOW) == {"T2": "run-b"}


def test_release_of_a_run_that_claimed_nothing_reads_in_batches_and_deletes_nothing(dynamodb: Any) -> None:
    registry = DynamoIdRegistry(TABLE, client=dynamodb)
    registry.claim("transactions", ["T1"], "run-a", NOW, timedelta(days=30))
    calls: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    ids = [f"T{i}" for i in range(250)]  # T1 is run-a's
    registry.release("transactions", ids, "run-b")  # refused by the gate: never claimed
    assert calls == ["BatchGetItem"] * 3
    calls.clear()
    registry.release("transactions", ids, "run-a")
    assert calls == ["BatchGetItem"] * 3 + ["DeleteItem"]
    assert registry.seen("transactions", ["T1"], "run-b", NOW) == {}


def test_split_duplicates_keeps_row_order() -> None:
    table = tx_day(TX, "S001", date(2026, 3, 2), 5)
    ids = table.column("transaction_id").to_pylist()
    keep, dup = split_duplicates(table, "transaction_id", [ids[1], ids[3]])
    assert keep.column("transaction_id").to_pylist() == [ids[0], ids[2], ids[4]]
    assert dup.column("transaction_id").to_pylist() == [ids[1], ids[3]]
    same, none = split_duplicates(table, "transaction_id", [])
    assert same.num_rows == 5 and none.num_rows == 0


# ------------------------------------------------------------------ calendar


def test_calendar_ranges_expand_and_typos_are_refused() -> None:
    assert expand_sources(["S008..S011", "online"], "w") == ("S008", "S009", "S010", "S011", "online")
    for bad in (["S010..S001"], ["S1..S010"], ["S001...S002"], [], ["A", "A"]):
        with pytest.raises(ContractError):
            expand_sources(bad, "w")
    with pytest.raises(ContractError, match="weekdays"):
        parse_quality("t", {"deliveries": [{"sources": ["a"], "weekdays": [0]}]}, set())
    with pytest.raises(ContractError, match="more than one calendar line"):
        parse_quality("t", {"deliveries": [{"sources": ["a"]}, {"sources": ["a"]}]}, set())
    with pytest.raises(ContractError, match="named group"):
        parse_quality("t", {"sources": {"key_pattern": "pos-S[0-9]+"}}, set())
    with pytest.raises(ContractError, match="not a column"):
        parse_quality("t", {"dedupe": {"column": "nope"}}, {"id"})


def test_contracts_name_every_store_and_region_in_the_calendar() -> None:
    stores = {s for line in TX.quality.deliveries for s in line.sources}
    assert {f"S{i:03d}" for i in range(1, 61)} | {"online"} == stores
    regions = {line.file: line.sources for line in INV.quality.deliveries}
    assert regions["region-01"] == tuple(f"S{i:03d}" for i in range(1, 11))


def test_missing_deliveries_after_the_due_time_only() -> None:
    day = date(2026, 3, 2)
    due = due_at(TX.quality.deliveries[0], day)
    assert due == datetime(2026, 3, 3, 6, tzinfo=UTC)
    delivered = {f"S{i:03d}": 1_650 for i in range(1, 61)} | {"online": 4_000}
    delivered.pop("S017")
    delivered["S018"] = 19  # under the 20-row floor
    assert missing_deliveries(TX, day, delivered, due - timedelta(seconds=1)) == []
    missing = missing_deliveries(TX, day, delivered, due)
    assert [(m.source, m.reason, m.rows) for m in missing] == [
        ("S017", "not delivered", 0),
        ("S018", "too few rows", 19),
    ]
    assert missing[0].to_dict()["business_day"] == "2026-03-02"


def test_weekdays_not_in_the_calendar_expect_nothing() -> None:
    contract = default_registry().get("transactions")
    from dataclasses import replace

    weekdays_only = replace(
        contract,
        quality=replace(
            contract.quality, deliveries=(replace(contract.quality.deliveries[0], weekdays=(1, 2, 3, 4, 5)),)
        ),
    )
    sunday = date(2026, 3, 8)
    assert missing_deliveries(weekdays_only, sunday, {}, datetime(2026, 3, 10, tzinfo=UTC)) == []
    assert (
        len(
            missing_deliveries(
                weekdays_only, sunday - timedelta(days=1), {}, datetime(2026, 3, 10, tzinfo=UTC)
            )
        )
        == 0
    )
    assert (
        len(missing_deliveries(weekdays_only, date(2026, 3, 6), {}, datetime(2026, 3, 10, tzinfo=UTC))) == 60
    )


def test_overdue_deliveries_read_the_published_history(store: Any) -> None:
    day = date(2026, 3, 2)
    for s in ("S001", "S002"):
        table = tx_day(TX, s, day, 400)  # well above the floors
        for key, record in history_entries(TX, table, f"transactions/{day}/pos-{s}.csv", f"run-{s}", "t"):
            store.put("curated", key, json.dumps(record).encode(), "application/json")
    overdue = overdue_deliveries(store, "curated", TX, day, datetime(2026, 3, 4, tzinfo=UTC))
    assert {m.source for m in overdue} == {f"S{i:03d}" for i in range(3, 61)} | {"online"}
    records = [json.loads(store.body("curated", k)) for k in store.keys("curated")]
    assert delivered_rows_for_day(records, day) == {"S001": 400, "S002": 400}


def test_history_entries_split_a_region_file_by_store() -> None:
    table = staged(INV, 4, store_id=["S001", "S002", "S002", "S001"], event_time=[NOW] * 4)
    entries = dict(history_entries(INV, table, "inventory_movements/d/region-01.csv", "r1", "t"))
    assert sorted(entries) == [
        "history/inventory_movements/source=S001/2026-03-03/r1.json",
        "history/inventory_movements/source=S002/2026-03-03/r1.json",
    ]
