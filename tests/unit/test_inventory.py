"""Inventory: the crossing rule, the suggested order, planning movements, and applying them once.

The DynamoDB tests run against moto's DynamoDB emulation (``mock_aws``): real TransactWriteItems
conditions, cancellation reasons and streams, no hand-written stand-ins for AWS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pyarrow as pa
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from datapipe.inventory import (
    ApplyOutcome,
    ApplyReport,
    DynamoStockLedger,
    MovementGroup,
    StockItem,
    apply_movements,
    detect_crossing,
    item_from_image,
    low_stock_from_record,
    plan,
    safety_stock_for,
    sales_velocity_update,
    suggested_order_quantity,
)

REGION = "us-east-1"
INVENTORY = "inventory"
LEDGER = "movement-ledger"
DAY = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


# ------------------------------------------------------------------ helpers


def image(**attrs: Any) -> dict[str, Any]:
    """A stream image in attribute-value JSON (str -> S, numbers -> N)."""
    return {
        k: {"S": v} if isinstance(v, str) else {"BOOL": v} if isinstance(v, bool) else {"N": str(v)}
        for k, v in attrs.items()
    }


def item(on_hand: int, threshold: int = 20, **extra: Any) -> StockItem:
    return StockItem("S001", "P0001", on_hand, threshold, **extra)


def stream_record(
    event_name: str,
    old: dict[str, Any] | None,
    new: dict[str, Any] | None,
    event_id: str = "evt-1",
    created: float | None = 1_772_442_000.0,
) -> dict[str, Any]:
    change: dict[str, Any] = {
        "Keys": {"store_id": {"S": "S001"}, "product_id": {"S": "P0001"}},
        "SequenceNumber": "111",
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    }
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    if created is not None:
        change["ApproximateCreationDateTime"] = created
    return {"eventID": event_id, "eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": change}


def movements(rows: list[tuple[str, str, str, int, str]]) -> pa.Table:
    """A published inventory_movements table: (movement_id, store, product, quantity, reason) rows."""
    times = [DAY + timedelta(minutes=i) for i in range(len(rows))]
    return pa.table(
        {
            "movement_id": [r[0] for r in rows],
            "store_id": [r[1] for r in rows],
            "product_id": [r[2] for r in rows],
            "quantity_change": pa.array([r[3] for r in rows], pa.int64()),
            "reason": [r[4] for r in rows],
            "event_time": pa.array(times, pa.timestamp("us", tz="UTC")),
            "event_date": pa.array([t.date() for t in times], pa.date32()),
            "lineage_run_id": ["run-1"] * len(rows),
        }
    )


class MemoryLedger:
    """The domain's StockLedger port in memory (not an AWS API), for the pure accounting tests."""

    def __init__(self, items: dict[tuple[str, str], int]) -> None:
        self.on_hand = dict(items)
        self.seen: set[str] = set()
        self.demand_calls: list[tuple[str, str, dict[str, int]]] = []

    def apply_group(self, group: MovementGroup) -> ApplyOutcome:
        key = (group.store_id, group.product_id)
        new = [m for m in group.movement_ids if m not in self.seen]
        dups = [m for m in group.movement_ids if m in self.seen]
        if key not in self.on_hand:
            return ApplyOutcome([], dups, new, item_unknown=True)
        self.seen.update(new)
        self.on_hand[key] += group.quantity_of(new)
        return ApplyOutcome(new, dups)

    def record_demand(self, store_id: str, product_id: str, sold_by_day: dict[str, int]) -> None:
        self.demand_calls.append((store_id, product_id, sold_by_day))


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    """moto DynamoDB with the inventory table (stream on, as in template.yaml) and the ledger."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName=INVENTORY,
            KeySchema=[
                {"AttributeName": "store_id", "KeyType": "HASH"},
                {"AttributeName": "product_id", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "store_id", "AttributeType": "S"},
                {"AttributeName": "product_id", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        client.create_table(
            TableName=LEDGER,
            KeySchema=[{"AttributeName": "movement_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "movement_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def put_stock(client: Any, store: str, product: str, on_hand: int, **extra: Any) -> None:
    attrs: dict[str, Any] = {"store_id": store, "product_id": product, "on_hand": on_hand, **extra}
    client.put_item(TableName=INVENTORY, Item=image(**attrs))


def stock(client: Any, store: str, product: str) -> dict[str, Any] | None:
    got: dict[str, Any] | None = client.get_item(
        TableName=INVENTORY,
        Key={"store_id": {"S": store}, "product_id": {"S": product}},
        ConsistentRead=True,
    ).get("Item")
    return got


def on_hand(client: Any, store: str, product: str) -> int:
    got = stock(client, store, product)
    assert got is not None, f"{store}/{product} is not in the inventory table"
    return int(got["on_hand"]["N"])


def ledger_ids(client: Any) -> set[str]:
    ids: set[str] = set()
    for page in client.get_paginator("scan").paginate(TableName=LEDGER):
        ids.update(i["movement_id"]["S"] for i in page["Items"])
    return ids


def transaction_sizes(client: Any) -> list[int]:
    """Records how many actions each TransactWriteItems call carries (a botocore hook, no stubbing)."""
    sizes: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sizes.append(len(params["TransactItems"]))

    client.meta.events.register("provide-client-params.dynamodb.TransactWriteItems", record)
    return sizes


# ------------------------------------------------------------------ stream images


def test_item_from_image_reads_every_attribute() -> None:
    got = item_from_image(
        image(
            store_id="S001",
            product_id="P0001",
            on_hand=-3,
            reorder_threshold=20,
            avg_daily_sales=12.5,
            lead_time_days=2,
            review_days=0.5,
            safety_stock=7,
            min_order_qty=6,
            case_pack=12,
        )
    )
    assert got == StockItem("S001", "P0001", -3, 20, 12.5, 2.0, 0.5, 7, 6, 12)


def test_item_from_image_defaults_missing_and_null_optional_attributes() -> None:
    raw = image(store_id="S001", product_id="P0001", on_hand=5, reorder_threshold=8)
    raw["safety_stock"] = {"NULL": True}
    got = item_from_image(raw)
    assert (got.avg_daily_sales, got.lead_time_days, got.review_days) == (0.0, 0.0, 1.0)
    assert (got.safety_stock, got.min_order_qty, got.case_pack) == (0, 1, 1)


@pytest.mark.parametrize("missing", ["store_id", "product_id", "on_hand", "reorder_threshold"])
def test_item_from_image_names_the_missing_required_attribute(missing: str) -> None:
    raw = image(store_id="S001", product_id="P0001", on_hand=5, reorder_threshold=8)
    del raw[missing]
    with pytest.raises(ValueError, match=f"required attribute.*{missing}"):
        item_from_image(raw)


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("on_hand", {"S": "12"}, "on_hand must be a number"),
        ("on_hand", {"N": "12.5"}, "on_hand must be an integer"),
        ("store_id", {"N": "1"}, "store_id must be a string"),
        ("case_pack", {"N": "0"}, "case_pack must be >= 1"),
        ("avg_daily_sales", {"N": "-1"}, "avg_daily_sales must be"),
        ("reorder_threshold", {"BOOL": True}, "reorder_threshold has unsupported type BOOL"),
        ("on_hand", 12, "on_hand is not in DynamoDB attribute-value form"),
    ],
)
def test_item_from_image_rejects_malformed_attributes(attribute: str, value: Any, message: str) -> None:
    raw = image(store_id="S001", product_id="P0001", on_hand=5, reorder_threshold=8)
    raw[attribute] = value
    with pytest.raises(ValueError, match=message):
        item_from_image(raw)


# ------------------------------------------------------------------ the crossing rule


@pytest.mark.parametrize(
    ("event_name", "old", "new", "expected"),
    [
        ("INSERT", None, item(19), True),  # starts below
        ("INSERT", None, item(20), False),  # at the threshold is not below
        ("MODIFY", item(25), item(19), True),  # crosses
        ("MODIFY", item(20), item(19), True),  # from exactly the threshold
        ("MODIFY", item(19), item(12), False),  # already low: no second event
        ("MODIFY", item(30), item(20), False),  # down to the threshold, not below
        ("MODIFY", item(12), item(60), False),  # restock
        ("MODIFY", item(15, 10), item(15, 20), True),  # threshold raised over an unchanged on_hand
        ("MODIFY", item(15, 20), item(15, 10), False),  # threshold lowered: re-armed, not a crossing
        ("MODIFY", item(15, 10), item(12, 20), True),  # each image against its own threshold
        ("MODIFY", item(25, 30), item(19, 20), False),  # was already low against its old threshold
        ("REMOVE", item(25), None, False),
        ("REMOVE", item(5), None, False),
    ],
)
def test_detect_crossing(
    event_name: str, old: StockItem | None, new: StockItem | None, expected: bool
) -> None:
    assert detect_crossing(event_name, old, new) is expected


def test_restock_rearms_the_rule_and_the_next_drop_crosses_again() -> None:
    levels = [30, 25, 19, 15, 4, 50, 40, 18, 17, 60, 20, 19]
    crossings = [
        i for i in range(1, len(levels)) if detect_crossing("MODIFY", item(levels[i - 1]), item(levels[i]))
    ]
    assert crossings == [2, 7, 11]


@pytest.mark.parametrize(
    ("event_name", "old", "new", "message"),
    [
        ("MODIFY", None, item(5), "OldImage"),
        ("INSERT", None, None, "NewImage"),
        ("TTL_EXPIRE", item(5), item(4), "unknown stream event name"),
    ],
)
def test_detect_crossing_refuses_records_it_cannot_judge(
    event_name: str, old: StockItem | None, new: StockItem | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        detect_crossing(event_name, old, new)


# ------------------------------------------------------------------ suggested order


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # target = 10 x (2 + 1) + 5 = 35; 35 - 12 = 23
        ({"on_hand": 12}, 23),
        ({"on_hand": 12, "case_pack": 12}, 24),  # 23 -> two cases
        ({"on_hand": 11, "case_pack": 12}, 24),  # 24 is a whole number of cases: not rounded up
        # negative on_hand counts as 0 (an unscanned delivery, not backorders): 35 -> three cases
        ({"on_hand": -7, "case_pack": 12}, 36),
        ({"on_hand": 12, "on_order": 20}, 3),  # position 32: 35 - 32 = 3
        ({"on_hand": -7, "on_order": 20}, 15),  # position 0 + 20: 35 - 20 = 15
        ({"on_hand": 12, "min_order_qty": 30, "case_pack": 12}, 36),  # min 30 -> three cases
        ({"on_hand": 12, "min_order_qty": 30}, 30),
        ({"on_hand": 100, "case_pack": 6}, 6),  # target met (threshold above it): one case
        ({"on_hand": 100}, 1),  # ... and never 0
        # 2.2 x 25 = 55.00000000000001 in floats: 55, not 56
        ({"on_hand": 0, "avg_daily_sales": 2.2, "lead_time_days": 24, "safety_stock": 0}, 55),
        ({"on_hand": 100, "min_order_qty": 0}, 1),  # no minimum configured: still one unit
        (
            {
                "on_hand": 0,
                "avg_daily_sales": 2.5,
                "lead_time_days": 1.5,
                "review_days": 0.5,
                "safety_stock": 0,
            },
            5,
        ),
        ({"on_hand": 0, "avg_daily_sales": 2.5, "lead_time_days": 1.5, "safety_stock": 0}, 7),  # 6.25 -> 7
    ],
)
def test_suggested_order_quantity(fields: dict[str, Any], expected: int) -> None:
    params: dict[str, Any] = {
        "avg_daily_sales": 10.0,
        "lead_time_days": 2.0,
        "review_days": 1.0,
        "safety_stock": 5,
    } | fields
    on_hand_units = params.pop("on_hand")
    assert suggested_order_quantity(StockItem("S001", "P0001", on_hand_units, 200, **params)) == expected


@pytest.mark.parametrize(
    ("std", "lead", "review", "z", "expected"),
    [
        (2.0, 3.0, 1.0, 1.65, 7),  # 1.65 x 2 x sqrt(3 + 1) = 6.6
        (1.0, 0.5, 0.5, 2.0, 2),  # exactly 2: not rounded up
        (0.0, 5.0, 1.0, 1.65, 0),
        (3.0, 0.0, 0.0, 1.65, 0),  # no lead time and no review period: no exposure
        (3.0, 0.0, 1.0, 1.65, 5),  # no lead time, but a day to the next review: 4.95
        (1.5, 8.0, 1.0, 2.33, 11),  # 2.33 x 1.5 x 3 = 10.485
    ],
)
def test_safety_stock_for(std: float, lead: float, review: float, z: float, expected: int) -> None:
    assert safety_stock_for(std, lead, review, z) == expected


def test_safety_stock_for_uses_z_1_65_by_default_and_rejects_negatives() -> None:
    assert safety_stock_for(4.0, 1.0) == 10  # review 1 day by default: 1.65 x 4 x sqrt(2) = 9.33
    with pytest.raises(ValueError, match="daily_sales_std"):
        safety_stock_for(-1.0, 2.0)
    with pytest.raises(ValueError, match="lead_time_days"):
        safety_stock_for(1.0, float("nan"))


# ------------------------------------------------------------------ LowStockDetected


STOCK = {
    "store_id": "S001",
    "product_id": "P0001",
    "reorder_threshold": 20,
    "lead_time_days": 2,
    "safety_stock": 5,
    "case_pack": 12,
}


def test_low_stock_from_record_on_a_crossing() -> None:
    old = image(on_hand=25, avg_daily_sales=10, **STOCK)
    new = image(on_hand=12, avg_daily_sales=10, **STOCK)
    low = low_stock_from_record(stream_record("MODIFY", old, new, event_id="abc123"))
    assert low is not None
    detail = low.to_detail()
    expected_id = hashlib.sha256(json.dumps(["S001", "P0001", "abc123"], separators=(",", ":")).encode())
    assert (
        detail
        == {
            "store_id": "S001",
            "product_id": "P0001",
            "on_hand": 12,
            "reorder_threshold": 20,
            "suggested_order_qty": 24,  # 10 x 3 + 5 - 12 = 23 -> two cases of 12
            "avg_daily_sales": 10.0,
            "lead_time_days": 2.0,
            "safety_stock": 5,
            "crossing_id": expected_id.hexdigest()[:24],
            "detected_at": "2026-03-02T09:00:00Z",
            "stream_event_id": "abc123",
            "on_order": 0,
            "position": 12,
            "unscanned_delivery_suspected": False,
        }
    )
    json.dumps(detail)  # EventBridge-ready as it is


def test_crossing_id_is_stable_per_stream_record_and_differs_between_records() -> None:
    old, new = image(on_hand=25, **STOCK), image(on_hand=12, **STOCK)
    first = low_stock_from_record(stream_record("MODIFY", old, new, event_id="e1"))
    redelivered = low_stock_from_record(stream_record("MODIFY", old, new, event_id="e1"))
    other = low_stock_from_record(stream_record("MODIFY", old, new, event_id="e2"))
    assert first is not None and redelivered is not None and other is not None
    assert first.crossing_id == redelivered.crossing_id
    assert first.detected_at == redelivered.detected_at
    assert other.crossing_id != first.crossing_id
    assert len(first.crossing_id) == 24
    int(first.crossing_id, 16)


def test_low_stock_from_record_is_none_without_a_crossing_and_needs_an_event_id() -> None:
    low, lower, high = image(on_hand=12, **STOCK), image(on_hand=8, **STOCK), image(on_hand=40, **STOCK)
    assert low_stock_from_record(stream_record("MODIFY", low, lower)) is None
    assert low_stock_from_record(stream_record("MODIFY", high, image(on_hand=35, **STOCK))) is None
    assert low_stock_from_record(stream_record("REMOVE", low, None)) is None
    inserted = low_stock_from_record(stream_record("INSERT", None, low))
    assert inserted is not None and inserted.on_hand == 12
    record = stream_record("MODIFY", high, low)
    del record["eventID"]
    with pytest.raises(ValueError, match="eventID"):
        low_stock_from_record(record)


def test_detected_at_falls_back_to_now_without_a_creation_time() -> None:
    now = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    record = stream_record("INSERT", None, image(on_hand=1, **STOCK), created=None)
    low = low_stock_from_record(record, now=now)
    assert low is not None and low.detected_at == now


# ------------------------------------------------------------------ velocity


@pytest.mark.parametrize(
    ("old", "units", "alpha", "expected"),
    [(10.0, 20.0, 0.2, 12.0), (10.0, 0.0, 0.2, 8.0), (10.0, 30.0, 1.0, 30.0), (4.0, 8.0, 0.5, 6.0)],
)
def test_sales_velocity_update(old: float, units: float, alpha: float, expected: float) -> None:
    assert sales_velocity_update(old, units, alpha) == pytest.approx(expected)


@pytest.mark.parametrize(("old", "units", "alpha"), [(1.0, 1.0, 0.0), (1.0, 1.0, 1.5), (1.0, -2.0, 0.2)])
def test_sales_velocity_update_rejects_nonsense(old: float, units: float, alpha: float) -> None:
    with pytest.raises(ValueError):
        sales_velocity_update(old, units, alpha)


# ------------------------------------------------------------------ planning


def test_plan_groups_by_store_and_product_with_sums_and_sales() -> None:
    table = movements(
        [
            ("m06", "S002", "P0001", -2, "SALE"),
            ("m01", "S001", "P0002", -3, "SALE"),
            ("m02", "S001", "P0001", 48, "DELIVERY"),
            ("m03", "S001", "P0002", -1, "ADJUSTMENT"),  # a loss, but not a sale
            ("m04", "S001", "P0002", 2, "RETURN"),
            ("m05", "S001", "P0002", -4, "SALE"),
        ]
    )
    groups = plan(table)
    assert [(g.store_id, g.product_id) for g in groups] == [
        ("S001", "P0001"),
        ("S001", "P0002"),
        ("S002", "P0001"),
    ]
    assert [g.movement_ids for g in groups] == [["m02"], ["m01", "m03", "m04", "m05"], ["m06"]]
    assert [g.quantities for g in groups] == [[48], [-3, -1, 2, -4], [-2]]
    assert [g.quantity for g in groups] == [48, -6, -2]
    assert [g.sales_units for g in groups] == [0, 7, 2]
    assert groups[1].quantity_of(["m01", "m05"]) == -7
    assert groups[1].sales_of(["m03", "m04", "m05"]) == 4


def test_plan_reads_chunked_dictionary_encoded_columns_like_plain_ones() -> None:
    rows = [(f"m{i:02d}", f"S00{i % 2}", f"P000{i % 3}", -(i + 1), "SALE") for i in range(12)]
    plain = movements(rows)
    chunked = pa.concat_tables([plain.slice(0, 5), plain.slice(5)])
    encoded = chunked.set_column(
        chunked.schema.get_field_index("reason"), "reason", chunked.column("reason").dictionary_encode()
    ).set_column(
        chunked.schema.get_field_index("store_id"), "store_id", chunked.column("store_id").dictionary_encode()
    )
    assert encoded.column("reason").num_chunks == 2
    assert plan(encoded) == plan(plain)
    assert len(plan(plain)) == 6


def test_plan_keeps_the_first_row_of_a_repeated_movement_id() -> None:
    table = movements(
        [
            ("m01", "S001", "P0001", -1, "SALE"),
            ("m02", "S001", "P0002", -2, "SALE"),
            ("m01", "S001", "P0002", -5, "SALE"),  # same movement reported again
        ]
    )
    groups = plan(table)
    assert [(g.product_id, g.movement_ids, g.quantity) for g in groups] == [
        ("P0001", ["m01"], -1),
        ("P0002", ["m02"], -2),
    ]
    ledger = MemoryLedger({("S001", "P0001"): 10, ("S001", "P0002"): 10})
    report = apply_movements(table, ledger)
    assert (report.movements, report.applied, report.duplicates) == (3, 2, 1)
    assert ledger.on_hand == {("S001", "P0001"): 9, ("S001", "P0002"): 8}


def test_plan_of_an_empty_table_and_refusals() -> None:
    assert plan(movements([])) == []
    with pytest.raises(ValueError, match=r"lacks column.*reason"):
        plan(movements([("m01", "S001", "P0001", -1, "SALE")]).drop_columns(["reason"]))
    with_null = pa.table(
        {
            "movement_id": ["m01", "m02"],
            "store_id": ["S001", None],
            "product_id": ["P0001", "P0001"],
            "quantity_change": [-1, -1],
            "reason": ["SALE", "SALE"],
        }
    )
    with pytest.raises(ValueError, match="store_id has 1 null"):
        plan(with_null)


def test_apply_report_refuses_counts_that_do_not_add_up() -> None:
    ApplyReport(
        movements=5,
        applied=3,
        duplicates=1,
        unknown_movements=1,
        units_applied=0,
        unknown=[("S", "P", ["x"])],
    )
    with pytest.raises(ValueError, match="movements"):
        ApplyReport(movements=5, applied=3, duplicates=1, unknown_movements=0, units_applied=0)
    with pytest.raises(ValueError, match="unknown lists"):
        ApplyReport(movements=5, applied=3, duplicates=1, unknown_movements=1, units_applied=0)


class LosingLedger(MemoryLedger):
    """A ledger that forgets to report one movement: apply_movements must not hide it."""

    def apply_group(self, group: MovementGroup) -> ApplyOutcome:
        outcome = super().apply_group(group)
        return ApplyOutcome(outcome.applied[1:], outcome.duplicates, outcome.unknown)


def test_apply_movements_refuses_a_ledger_outcome_that_loses_movements() -> None:
    table = movements([("m01", "S001", "P0001", -1, "SALE"), ("m02", "S001", "P0001", -1, "SALE")])
    with pytest.raises(RuntimeError, match="exactly once"):
        apply_movements(table, LosingLedger({("S001", "P0001"): 10}))


def test_apply_movements_records_demand_per_day_only_with_newly_applied_sales() -> None:
    table = movements(
        [
            ("m01", "S001", "P0001", -3, "SALE"),
            ("m02", "S001", "P0001", 24, "DELIVERY"),
            ("m03", "S001", "P0001", -2, "SALE"),
            ("m04", "S001", "P0002", 12, "DELIVERY"),  # no sales: velocity untouched
            ("m05", "S001", "P0003", -1, "SALE"),  # unknown item
        ]
    )
    ledger = MemoryLedger({("S001", "P0001"): 10, ("S001", "P0002"): 0})
    ledger.seen.add("m03")  # applied by an earlier run
    report = apply_movements(table, ledger)
    assert ledger.demand_calls == [("S001", "P0001", {"2026-03-02": 3})]
    assert (report.applied, report.duplicates, report.unknown_movements, report.units_applied) == (
        3,
        1,
        1,
        33,
    )
    assert report.unknown == [("S001", "P0003", ["m05"])]
    assert report.velocity_updates == 1


# ------------------------------------------------------------------ DynamoDB (moto)


def test_moto_returns_cancellation_reasons_per_action(dynamodb: Any) -> None:
    """The adapter reads CancellationReasons: index i is action i, "None" where nothing failed."""
    put_stock(dynamodb, "S001", "P0001", 10)
    dynamodb.put_item(TableName=LEDGER, Item={"movement_id": {"S": "m2"}})
    actions: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": LEDGER,
                "Item": {"movement_id": {"S": m}},
                "ConditionExpression": "attribute_not_exists(movement_id)",
            }
        }
        for m in ("m1", "m2", "m3")
    ]
    actions.append(
        {
            "Update": {
                "TableName": INVENTORY,
                "Key": {"store_id": {"S": "S001"}, "product_id": {"S": "NOPE"}},
                "UpdateExpression": "ADD on_hand :q",
                "ConditionExpression": "attribute_exists(product_id)",
                "ExpressionAttributeValues": {":q": {"N": "-1"}},
            }
        }
    )
    with pytest.raises(ClientError) as caught:
        dynamodb.transact_write_items(TransactItems=actions)
    assert caught.value.response["Error"]["Code"] == "TransactionCanceledException"
    codes = [r["Code"] for r in caught.value.response["CancellationReasons"]]  # type: ignore[typeddict-item]
    assert codes == ["None", "ConditionalCheckFailed", "None", "ConditionalCheckFailed"]
    assert ledger_ids(dynamodb) == {"m2"}  # nothing of the cancelled transaction was written


def test_dynamodb_cannot_multiply_in_an_update_expression(dynamodb: Any) -> None:
    """Why update_velocity reads first: ``SET a = a * :k + :b`` is not valid DynamoDB syntax."""
    put_stock(dynamodb, "S001", "P0001", 10, avg_daily_sales=5)
    with pytest.raises(ClientError, match="Syntax error"):
        dynamodb.update_item(
            TableName=INVENTORY,
            Key={"store_id": {"S": "S001"}, "product_id": {"S": "P0001"}},
            UpdateExpression="SET avg_daily_sales = avg_daily_sales * :keep + :add",
            ExpressionAttributeValues={":keep": {"N": "0.8"}, ":add": {"N": "1"}},
        )


def test_replaying_the_same_table_applies_nothing_the_second_time(dynamodb: Any) -> None:
    put_stock(dynamodb, "S001", "P0001", 50, reorder_threshold=20, avg_daily_sales=10)
    put_stock(dynamodb, "S001", "P0002", 5, reorder_threshold=20)
    table = movements(
        [
            ("m01", "S001", "P0001", -4, "SALE"),
            ("m02", "S001", "P0001", -6, "SALE"),
            ("m03", "S001", "P0002", 24, "DELIVERY"),
            ("m04", "S001", "P0001", 1, "RETURN"),
        ]
    )
    ledger = DynamoStockLedger(INVENTORY, LEDGER, client=dynamodb)
    first = apply_movements(table, ledger)
    assert (first.movements, first.applied, first.duplicates, first.unknown_movements) == (4, 4, 0, 0)
    assert first.units_applied == 15
    assert (on_hand(dynamodb, "S001", "P0001"), on_hand(dynamodb, "S001", "P0002")) == (41, 29)
    velocity = stock(dynamodb, "S001", "P0001")
    assert velocity is not None and Decimal(velocity["avg_daily_sales"]["N"]) == Decimal(
        10
    )  # 0.2x10 + 0.8x10
    second = apply_movements(table, ledger)
    assert (second.applied, second.duplicates, second.unknown_movements, second.units_applied) == (0, 4, 0, 0)
    assert second.duplicates == second.movements
    assert (on_hand(dynamodb, "S001", "P0001"), on_hand(dynamodb, "S001", "P0002")) == (41, 29)
    assert second.velocity_updates == 0
    assert ledger_ids(dynamodb) == {"m01", "m02", "m03", "m04"}


def test_movements_for_an_unknown_item_are_reported_not_dropped_and_apply_once_it_exists(
    dynamodb: Any,
) -> None:
    put_stock(dynamodb, "S001", "P0001", 30)
    table = movements(
        [
            ("m01", "S001", "P0001", -5, "SALE"),
            ("m02", "S001", "P9000", -2, "SALE"),
            ("m03", "S001", "P9000", -1, "SALE"),
            ("m04", "S009", "P0001", -1, "SALE"),  # known product, unknown store
        ]
    )
    ledger = DynamoStockLedger(INVENTORY, LEDGER, client=dynamodb)
    report = apply_movements(table, ledger)
    assert (report.applied, report.duplicates, report.unknown_movements) == (1, 0, 3)
    assert report.unknown == [("S001", "P9000", ["m02", "m03"]), ("S009", "P0001", ["m04"])]
    assert on_hand(dynamodb, "S001", "P0001") == 25  # other items untouched by the failures
    assert stock(dynamodb, "S001", "P9000") is None  # the conditional ADD did not create it
    assert stock(dynamodb, "S009", "P0001") is None
    assert ledger_ids(dynamodb) == {"m01"}  # unknown movements are not marked applied
    put_stock(dynamodb, "S001", "P9000", 10)
    again = apply_movements(table, ledger)
    assert (again.applied, again.duplicates, again.unknown_movements) == (2, 1, 1)
    assert on_hand(dynamodb, "S001", "P9000") == 7


def test_a_group_of_150_movements_applies_in_chunks_of_99(dynamodb: Any) -> None:
    put_stock(dynamodb, "S001", "P0001", 1000)
    rows = [(f"m{i:03d}", "S001", "P0001", -(i % 4 + 1), "SALE") for i in range(150)]
    table = movements(rows)
    sizes = transaction_sizes(dynamodb)
    report = apply_movements(table, DynamoStockLedger(INVENTORY, LEDGER, client=dynamodb))
    total = sum(r[3] for r in rows)
    assert (report.applied, report.duplicates, report.units_applied) == (150, 0, total)
    assert sizes == [100, 52]  # 99 puts + 1 update, then 51 + 1
    assert on_hand(dynamodb, "S001", "P0001") == 1000 + total
    assert len(ledger_ids(dynamodb)) == 150


def test_duplicates_spread_over_both_chunks_are_skipped_and_the_rest_applied(dynamodb: Any) -> None:
    put_stock(dynamodb, "S001", "P0001", 0)
    rows = [(f"m{i:03d}", "S001", "P0001", i + 1, "DELIVERY") for i in range(150)]
    earlier = {"m005", "m098", "m099", "m149"}
    for m in earlier:
        dynamodb.put_item(TableName=LEDGER, Item={"movement_id": {"S": m}})
    sizes = transaction_sizes(dynamodb)
    report = apply_movements(movements(rows), DynamoStockLedger(INVENTORY, LEDGER, client=dynamodb))
    expected = sum(r[3] for r in rows if r[0] not in earlier)
    assert (report.applied, report.duplicates, report.units_applied) == (146, 4, expected)
    assert on_hand(dynamodb, "S001", "P0001") == expected
    assert sizes == [100, 98, 52, 50]  # each chunk retried once without its duplicates
    assert len(ledger_ids(dynamodb)) == 150


def test_an_unknown_item_with_more_than_99_movements_writes_nothing(dynamodb: Any) -> None:
    rows = [(f"m{i:03d}", "S001", "P9999", -1, "SALE") for i in range(120)]
    sizes = transaction_sizes(dynamodb)
    report = apply_movements(movements(rows), DynamoStockLedger(INVENTORY, LEDGER, client=dynamodb))
    assert (report.applied, report.unknown_movements) == (0, 120)
    assert report.unknown == [("S001", "P9999", [r[0] for r in rows])]
    assert sizes == [100]  # the second chunk is not tried: the item is missing for it too
    assert ledger_ids(dynamodb) == set()


def test_mixed_known_unknown_and_duplicate_movements(dynamodb: Any) -> None:
    put_stock(dynamodb, "S001", "P0001", 40, avg_daily_sales=5)
    put_stock(dynamodb, "S002", "P0001", 12)
    table = movements(
        [
            ("m01", "S001", "P0001", -3, "SALE"),  # duplicate
            ("m02", "S001", "P0001", -4, "SALE"),
            ("m03", "S001", "P0001", 10, "DELIVERY"),
            ("m04", "S002", "P0001", -2, "ADJUSTMENT"),  # duplicate
            ("m05", "S002", "P0001", -1, "SALE"),
            ("m06", "S003", "P0001", -1, "SALE"),  # unknown
            ("m07", "S001", "P0404", 6, "DELIVERY"),  # unknown
        ]
    )
    for m in ("m01", "m04"):
        dynamodb.put_item(TableName=LEDGER, Item={"movement_id": {"S": m}})
    report = apply_movements(table, DynamoStockLedger(INVENTORY, LEDGER, client=dynamodb))
    assert (report.movements, report.applied, report.duplicates, report.unknown_movements) == (7, 3, 2, 2)
    assert report.units_applied == 5
    assert report.unknown == [("S001", "P0404", ["m07"]), ("S003", "P0001", ["m06"])]
    assert (on_hand(dynamodb, "S001", "P0001"), on_hand(dynamodb, "S002", "P0001")) == (46, 11)
    s1 = stock(dynamodb, "S001", "P0001")
    assert s1 is not None and s1["daily_sales"] == {
        "M": {"2026-03-02": {"N": "4"}}
    }  # m02 only: m01 was applied
    assert Decimal(s1["avg_daily_sales"]["N"]) == Decimal(4)  # one calendar day so far
    s2 = stock(dynamodb, "S002", "P0001")
    assert s2 is not None and Decimal(s2["avg_daily_sales"]["N"]) == Decimal(1)
    assert ledger_ids(dynamodb) == {"m01", "m02", "m03", "m04", "m05"}


def test_update_velocity_on_dynamodb(dynamodb: Any) -> None:
    put_stock(dynamodb, "S001", "P0001", 40, avg_daily_sales=12.5)
    put_stock(dynamodb, "S001", "P0002", 40)
    ledger = DynamoStockLedger(INVENTORY, LEDGER, client=dynamodb, velocity_alpha=0.2)
    assert ledger.update_velocity("S001", "P0001", 20) == pytest.approx(14.0)  # 0.2x20 + 0.8x12.5
    assert ledger.update_velocity("S001", "P0001", 0) == pytest.approx(11.2)
    assert ledger.update_velocity("S001", "P0002", 7) == pytest.approx(7.0)  # no history: seeded
    assert ledger.update_velocity("S001", "P0003", 7) is None
    assert stock(dynamodb, "S001", "P0003") is None
    got = stock(dynamodb, "S001", "P0001")
    assert got is not None and Decimal(got["avg_daily_sales"]["N"]) == Decimal("11.2")
    assert int(got["on_hand"]["N"]) == 40


def test_update_velocity_rereads_when_the_value_changed_under_it(dynamodb: Any) -> None:
    """A concurrent writer changes avg_daily_sales between our read and our write (in moto)."""
    put_stock(dynamodb, "S001", "P0001", 40, avg_daily_sales=10)
    other = boto3.client("dynamodb", region_name=REGION)
    raced: list[bool] = []

    def concurrent_write(**_: Any) -> None:
        if not raced:
            raced.append(True)
            other.update_item(
                TableName=INVENTORY,
                Key={"store_id": {"S": "S001"}, "product_id": {"S": "P0001"}},
                UpdateExpression="SET avg_daily_sales = :v",
                ExpressionAttributeValues={":v": {"N": "20"}},
            )

    dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", concurrent_write)
    ledger = DynamoStockLedger(INVENTORY, LEDGER, client=dynamodb)
    assert ledger.update_velocity("S001", "P0001", 30) == pytest.approx(22.0)  # from 20, not from 10
    assert raced == [True]


def test_applying_through_the_stream_raises_one_low_stock_event_per_crossing(dynamodb: Any) -> None:
    """End to end in moto: movements -> inventory stream -> the crossing rule, replay included."""
    stream_arn = dynamodb.describe_table(TableName=INVENTORY)["Table"]["LatestStreamArn"]
    # a planner-fixed reorder point: this test is about the crossing, not about deriving the point
    put_stock(
        dynamodb,
        "S001",
        "P0001",
        130,
        reorder_threshold=20,
        avg_daily_sales=20,
        case_pack=12,
        reorder_point_fixed=True,
    )
    rows = [(f"m{i:03d}", "S001", "P0001", -1, "SALE") for i in range(120)]  # 130 -> 31 -> 10
    ledger = DynamoStockLedger(INVENTORY, LEDGER, client=dynamodb)
    apply_movements(movements(rows), ledger)
    apply_movements(movements(rows), ledger)  # replay: no stock change, no stream record
    restock = [("d001", "S001", "P0001", 48, "DELIVERY"), ("s001", "S001", "P0001", -40, "SALE")]
    apply_movements(movements(restock[:1]), ledger)  # 10 -> 58: re-armed
    apply_movements(movements(restock[1:]), ledger)  # 58 -> 18: crosses again

    streams = boto3.client("dynamodbstreams", region_name=REGION)
    records: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records += streams.get_records(ShardIterator=iterator)["Records"]
    lows = [low for r in records if (low := low_stock_from_record(r)) is not None]
    assert [(low.on_hand, low.reorder_threshold) for low in lows] == [(10, 20), (18, 20)]
    assert len({low.crossing_id for low in lows}) == 2
    # the first crossing is on the second chunk's ADD, before that run's demand update
    assert lows[0].avg_daily_sales == 20.0
    assert lows[0].suggested_order_qty == 12  # 20 x (0 + 1) + 0 - 10 = 10 -> one case of 12
