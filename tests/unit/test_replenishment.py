"""Replenishment by inventory position, purchase orders with a lifecycle, demand per calendar day.

DynamoDB runs in moto's emulation: the stream, TransactWriteItems conditions, the by_item index.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pyarrow as pa
import pytest
from moto import mock_aws

from datapipe.inventory import (
    DynamoPurchaseOrders,
    DynamoStockLedger,
    StockItem,
    apply_movements,
    daily_demand,
    low_stock_from_record,
    merge_daily_sales,
    reorder_point_for,
    reorder_point_gap,
    replenishment_for,
    safety_stock_for,
    suggested_order_quantity,
)
from datapipe.inventory.orders import (
    CANCELLED,
    CLOSED,
    CREATED,
    DELIVERED,
    SENT,
    IllegalTransition,
    PurchaseOrder,
)
from datapipe.inventory.stock import detect_crossing
from datapipe.purchasing import purchase_order

REGION = "us-east-1"
INVENTORY, LEDGER, ORDERS = "inventory", "ledger", "orders"
DAY = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture
def db() -> Iterator[Any]:
    with mock_aws():
        c = boto3.client("dynamodb", region_name=REGION)
        c.create_table(
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
        c.create_table(
            TableName=LEDGER,
            KeySchema=[{"AttributeName": "movement_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "movement_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        c.create_table(  # as template.yaml's PurchaseOrdersTable
            TableName=ORDERS,
            KeySchema=[{"AttributeName": "po_id", "KeyType": "HASH"}],
            AttributeDefinitions=[
                {"AttributeName": "po_id", "AttributeType": "S"},
                {"AttributeName": "item_key", "AttributeType": "S"},
                {"AttributeName": "created_at", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "by_item",
                    "KeySchema": [
                        {"AttributeName": "item_key", "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield c


def put_item(db: Any, on_hand: int, **attrs: Any) -> None:
    item = {"store_id": "S001", "product_id": "P0001", "on_hand": on_hand, **attrs}
    db.put_item(
        TableName=INVENTORY,
        Item={
            k: {"S": v} if isinstance(v, str) else {"BOOL": v} if isinstance(v, bool) else {"N": str(v)}
            for k, v in item.items()
        },
    )


def get_item(db: Any) -> dict[str, Any]:
    got = db.get_item(
        TableName=INVENTORY,
        Key={"store_id": {"S": "S001"}, "product_id": {"S": "P0001"}},
        ConsistentRead=True,
    )["Item"]
    return got  # type: ignore[no-any-return]


def movement(mid: str, qty: int, reason: str, at: datetime = DAY, reference: str | None = None) -> pa.Table:
    return pa.table(
        {
            "movement_id": [mid],
            "store_id": ["S001"],
            "product_id": ["P0001"],
            "quantity_change": pa.array([qty], pa.int64()),
            "reason": [reason],
            "event_time": pa.array([at], pa.timestamp("us", tz="UTC")),
            "reference_id": pa.array([reference], pa.string()),
        }
    )


class StreamReader:
    """Reads the inventory stream in order, remembering where it stopped."""

    def __init__(self, db: Any) -> None:
        self.streams = boto3.client("dynamodbstreams", region_name=REGION)
        arn = db.describe_table(TableName=INVENTORY)["Table"]["LatestStreamArn"]
        (shard,) = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self.iterator = self.streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]

    def new(self) -> list[dict[str, Any]]:
        resp = self.streams.get_records(ShardIterator=self.iterator)
        self.iterator = resp["NextShardIterator"]
        return resp["Records"]  # type: ignore[no-any-return]


def run_monitor_and_purchasing(reader: StreamReader, orders: DynamoPurchaseOrders) -> list[str]:
    """What the inventory monitor + purchase-order functions do with new stream records."""
    outcomes = []
    for record in reader.new():
        low = low_stock_from_record(record)
        if low is not None:
            outcomes.append(orders.create(purchase_order(low.to_detail(), now=DAY)))
    return outcomes


# ------------------------------------------------------------------ the measured sequence


def test_measured_sequence_raises_one_order_not_three(db: Any) -> None:
    """25 -> sale 18 -> return 21 -> sale 17 -> adjustment 23 -> sale 19, before any delivery.

    Stock master: reorder point 20, lead time 2 days, review 1 day, demand 6/day, safety stock 8,
    case pack 12, minimum order 6. Before: every drop below 20 after a rise above it was a new
    crossing of on_hand: 3 orders before any delivery. Now the crossing is on the position
    (on hand + on order): the first order lifts it to 30, and it never drops below 20 again.
    Order: 6 x (2 + 1) + 8 = 26 to cover, position 18 -> 8 units -> one case of 12.
    """
    master = dict(reorder_threshold=20, lead_time_days=2, review_days=1, avg_daily_sales=6, safety_stock=8)
    put_item(db, 25, case_pack=12, min_order_qty=6, reorder_point_fixed=True, **master)
    ledger = DynamoStockLedger(INVENTORY, LEDGER, client=db)
    orders = DynamoPurchaseOrders(ORDERS, INVENTORY, client=db)
    reader = StreamReader(db)
    reader.new()  # the initial load
    created: list[str] = []
    for i, (qty, reason) in enumerate(
        [(-7, "SALE"), (3, "RETURN"), (-4, "SALE"), (6, "ADJUSTMENT"), (-4, "SALE")]
    ):
        apply_movements(movement(f"m{i}", qty, reason, DAY + timedelta(minutes=i)), ledger, orders)
        created += run_monitor_and_purchasing(reader, orders)
    assert created == ["created"]
    (order,) = db.scan(TableName=ORDERS)["Items"]
    assert int(order["quantity"]["N"]) == 12 and order["status"]["S"] == CREATED
    item = get_item(db)
    assert (int(item["on_hand"]["N"]), int(item["on_order"]["N"])) == (19, 12)  # position 31


def test_negative_on_hand_orders_48_not_96_and_is_flagged() -> None:
    """on_hand -40: demand 13/day, lead 2, review 1, safety stock 6 -> cover 45; case 12.

    Before: -40 counted as 40 units owed, 45 + 40 = 85 -> 96 (8 cases). A supermarket does not
    owe 40 units to customers: shoppers cannot take what is not on the shelf, so -40 means 40
    units were sold that the system never saw arrive (an unscanned delivery). They are on the
    shelf or sold, not missing: ordering them again would double-stock. The position counts
    on_hand as 0, the order covers 45 -> 48 (4 cases), and the item is flagged for a stock count.
    """
    item = StockItem(
        "S001",
        "P0001",
        -40,
        20,
        avg_daily_sales=13,
        lead_time_days=2,
        review_days=1,
        safety_stock=6,
        case_pack=12,
    )
    assert item.position == 0 and item.unscanned_delivery_suspected
    assert suggested_order_quantity(item) == 48


def test_negative_on_hand_crossing_carries_the_flag() -> None:
    def img(on_hand: int) -> dict[str, Any]:
        return {
            "store_id": {"S": "S001"},
            "product_id": {"S": "P0001"},
            "on_hand": {"N": str(on_hand)},
            "reorder_threshold": {"N": "20"},
            "avg_daily_sales": {"N": "13"},
            "lead_time_days": {"N": "2"},
            "safety_stock": {"N": "6"},
            "case_pack": {"N": "12"},
        }

    record = {"eventID": "e1", "eventName": "MODIFY", "dynamodb": {"OldImage": img(25), "NewImage": img(-40)}}
    low = low_stock_from_record(record, now=DAY)
    assert low is not None and low.unscanned_delivery_suspected and low.position == 0
    assert low.suggested_order_qty == 48


@pytest.mark.parametrize(
    ("on_hand", "on_order", "low"), [(20, 0, False), (19, 0, True), (0, 20, False), (-5, 19, True)]
)
def test_crossing_is_on_position_exactly_at_the_reorder_point(on_hand: int, on_order: int, low: bool) -> None:
    before = StockItem("S001", "P0001", 100, 20)
    after = StockItem("S001", "P0001", on_hand, 20, on_order=on_order)
    assert detect_crossing("MODIFY", before, after) is low


# ------------------------------------------------------------------ purchase orders


def test_purchase_order_lifecycle() -> None:
    po = PurchaseOrder("PO-1", "S001", "P0001", 12)
    assert po.is_open and po.on_order == 12
    sent = po.to(SENT)
    done = sent.receive(11, "d1")
    assert (done.status, done.delivered_qty, done.delivered_by, done.on_order) == (DELIVERED, 11, "d1", 0)
    assert po.receive(12, "d0").status == DELIVERED  # a delivery may arrive before the confirmation
    assert sent.to(CLOSED).on_order == 0 and po.to(CANCELLED).on_order == 0
    for bad in ((done, SENT), (done, DELIVERED), (sent, CANCELLED), (po, CLOSED), (po.to(CANCELLED), SENT)):
        with pytest.raises(IllegalTransition):
            bad[0].to(bad[1])
    with pytest.raises(ValueError):
        PurchaseOrder("PO-2", "S001", "P0001", 0)
    with pytest.raises(ValueError):
        sent.receive(0, "d2")


def test_order_creation_is_conditional_on_the_po_id_and_on_what_the_crossing_saw(db: Any) -> None:
    put_item(db, 10, reorder_threshold=20)
    orders = DynamoPurchaseOrders(ORDERS, INVENTORY, client=db)
    detail = {
        "crossing_id": "c1",
        "store_id": "S001",
        "product_id": "P0001",
        "suggested_order_qty": 12,
        "on_hand": 10,
        "reorder_threshold": 20,
        "on_order": 0,
        "position": 10,
    }
    assert orders.create(purchase_order(detail, now=DAY)) == "created"
    assert orders.create(purchase_order(detail, now=DAY)) == "duplicate"  # redelivered request
    # a second crossing detected before the first order landed saw on_order 0: it must not order
    other = detail | {"crossing_id": "c2"}
    assert orders.create(purchase_order(other, now=DAY)) == "stale"
    # one that saw the first order (on_order 12) may
    assert orders.create(purchase_order(other | {"on_order": 12}, now=DAY)) == "created"
    assert int(get_item(db)["on_order"]["N"]) == 24
    assert db.scan(TableName=ORDERS)["Count"] == 2
    # an order for an item that does not exist is not written either
    ghost = detail | {"crossing_id": "c3", "product_id": "P0404"}
    assert orders.create(purchase_order(ghost, now=DAY)) == "stale"
    assert db.scan(TableName=ORDERS)["Count"] == 2


def test_delivery_closes_its_order_once_and_takes_it_off_order(db: Any) -> None:
    put_item(db, 10, reorder_threshold=20, reorder_point_fixed=True)
    ledger = DynamoStockLedger(INVENTORY, LEDGER, client=db)
    orders = DynamoPurchaseOrders(ORDERS, INVENTORY, client=db)
    detail = {
        "crossing_id": "c1",
        "store_id": "S001",
        "product_id": "P0001",
        "suggested_order_qty": 24,
        "on_hand": 10,
        "reorder_threshold": 20,
    }
    assert orders.create(purchase_order(detail, now=DAY)) == "created"
    assert orders.mark_sent("PO-c1") and not orders.mark_sent("PO-c1")
    delivery = movement("d1", 24, "DELIVERY", reference="PO-c1")
    report = apply_movements(delivery, ledger, orders)
    assert report.orders_closed == ["PO-c1"]
    item = get_item(db)
    assert (int(item["on_hand"]["N"]), int(item["on_order"]["N"])) == (34, 0)
    order = orders.get("PO-c1")
    assert order is not None and (order["status"], order["delivered_by"]) == (DELIVERED, "d1")
    again = apply_movements(delivery, ledger, orders)  # the file replayed
    assert again.orders_closed == [] and again.deliveries_without_order == 1
    assert int(get_item(db)["on_order"]["N"]) == 0


def test_delivery_without_a_reference_closes_the_oldest_open_order(db: Any) -> None:
    put_item(db, 0, reorder_threshold=20, reorder_point_fixed=True)
    ledger = DynamoStockLedger(INVENTORY, LEDGER, client=db)
    orders = DynamoPurchaseOrders(ORDERS, INVENTORY, client=db)
    base = {"store_id": "S001", "product_id": "P0001", "on_hand": 0, "reorder_threshold": 20}
    orders.create(purchase_order(base | {"crossing_id": "a", "suggested_order_qty": 12}, now=DAY))
    orders.create(
        purchase_order(
            base | {"crossing_id": "b", "suggested_order_qty": 6, "on_order": 12},
            now=DAY + timedelta(hours=1),
        )
    )
    report = apply_movements(movement("d1", 12, "DELIVERY"), ledger, orders)
    assert report.orders_closed == ["PO-a"]
    assert [o["po_id"] for o in orders.open_orders("S001", "P0001")] == ["PO-b"]
    assert int(get_item(db)["on_order"]["N"]) == 6


# ------------------------------------------------------------------ demand and derived parameters


def test_demand_is_averaged_over_calendar_days_including_days_without_sales() -> None:
    week = {"2026-03-02": 12}  # sold 12 on Monday, nothing the rest of the week
    d = daily_demand(week, as_of=date(2026, 3, 8))
    assert d.days == 7 and d.avg_daily_sales == pytest.approx(12 / 7)
    assert daily_demand({}, as_of=date(2026, 3, 8)).avg_daily_sales == 0.0
    with pytest.raises(ValueError):
        daily_demand(week, as_of=date(2026, 3, 1))


def test_a_late_file_adds_to_its_own_day_and_old_days_leave_the_window() -> None:
    days = merge_daily_sales({"2026-03-01": 5, "2026-03-02": 4}, {"2026-03-01": 3})
    assert days == {"2026-03-01": 8, "2026-03-02": 4}
    assert daily_demand(days, date(2026, 3, 2)).days == 2  # not three
    long = merge_daily_sales({"2026-01-01": 9}, {"2026-03-02": 1})
    assert long == {"2026-03-02": 1}  # 2026-01-01 is more than 28 days back
    with pytest.raises(ValueError):
        merge_daily_sales({}, {"2026-03-02": -1})


def test_replenishment_parameters_from_demand() -> None:
    # 28 days alternating 10 and 20 units: mean 15, sigma 5; lead 2, review 1, z 1.65
    days = {(date(2026, 2, 1) + timedelta(days=i)).isoformat(): 10 if i % 2 else 20 for i in range(28)}
    r = replenishment_for(daily_demand(days, date(2026, 2, 28)), lead_time_days=2, review_days=1)
    assert r.avg_daily_sales == pytest.approx(15) and r.daily_sales_std == pytest.approx(5)
    assert r.safety_stock == 15  # ceil(1.65 x 5 x sqrt(3)) = ceil(14.29)
    assert r.reorder_point == 45  # 15 x 2 + 15
    assert reorder_point_gap(30, r) == 15 and reorder_point_gap(45, r) == 0 and reorder_point_gap(50, r) == 0
    assert reorder_point_for(2.5, 2, 0) == 5 and reorder_point_for(2.5, 2.2, 0) == 6  # 5.5 -> 6


def test_safety_stock_uses_lead_time_plus_review_period() -> None:
    # sqrt(L) would give ceil(1.65 x 4 x 2) = 14 for L = 4; periodic review needs sqrt(4 + 1)
    assert safety_stock_for(4.0, 4.0, 1.0) == 15  # 14.76
    assert safety_stock_for(4.0, 4.0, 0.0) == 14  # continuous review: 13.2


def test_record_demand_on_dynamodb_derives_the_reorder_point(db: Any) -> None:
    put_item(db, 100, reorder_threshold=5, lead_time_days=2, review_days=1)
    ledger = DynamoStockLedger(INVENTORY, LEDGER, client=db)
    sales = pa.concat_tables(
        [movement(f"s{i}", -10, "SALE", DAY + timedelta(days=i % 2 * 2)) for i in range(4)]
    )  # 20 units on Mar 2, 20 on Mar 4, nothing on Mar 3
    apply_movements(sales, ledger)
    item = get_item(db)
    assert item["daily_sales"]["M"] == {"2026-03-02": {"N": "20"}, "2026-03-04": {"N": "20"}}
    # mean 40/3 = 13.33 over three calendar days; sigma 9.43; SS ceil(1.65 x 9.43 x sqrt(3)) = 27
    assert float(item["avg_daily_sales"]["N"]) == pytest.approx(40 / 3, abs=1e-6)
    assert int(item["safety_stock"]["N"]) == 27
    assert int(item["reorder_threshold"]["N"]) == 54  # ceil(13.33 x 2 + 27) = ceil(53.67)
    apply_movements(sales, ledger)  # the same file re-sent: no new day, nothing added
    assert get_item(db)["daily_sales"] == item["daily_sales"]
    assert int(get_item(db)["demand_version"]["N"]) == 1


def test_a_fixed_reorder_point_is_kept_and_the_expected_one_recorded(db: Any) -> None:
    put_item(db, 100, reorder_threshold=5, lead_time_days=2, review_days=1, reorder_point_fixed=True)
    apply_movements(movement("s1", -30, "SALE"), DynamoStockLedger(INVENTORY, LEDGER, client=db))
    item = get_item(db)
    assert int(item["reorder_threshold"]["N"]) == 5
    assert int(item["reorder_point_expected"]["N"]) == 60  # 30/day x 2, no variation yet


def test_record_demand_for_an_unknown_item_creates_nothing(db: Any) -> None:
    ledger = DynamoStockLedger(INVENTORY, LEDGER, client=db)
    assert ledger.record_demand("S001", "P0404", {"2026-03-02": 3}) is None
    assert db.scan(TableName=INVENTORY)["Count"] == 0
