"""The inventory stream through the real wiring: table -> stream mapping -> monitor -> bus -> orders."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import boto3
import pytest

from offline_runtime.emulator.session import drain
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.project import observe_bus


def item(product: str, on_hand: int, threshold: int = 20) -> dict[str, Any]:
    return {
        "store_id": "S900",
        "product_id": product,
        "on_hand": on_hand,
        "reorder_threshold": threshold,
        "avg_daily_sales": Decimal("12"),
        "lead_time_days": Decimal("2"),
        "safety_stock": 10,
        "case_pack": 6,
    }


@pytest.fixture(scope="module")
def table(stack: OfflineStack) -> Any:
    return boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["InventoryTableName"])


def low_stock(stack: OfflineStack, queue: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in drain(stack, queue) if e["detail-type"] == "LowStockDetected"]


def test_only_a_crossing_emits_and_a_restock_rearms(stack: OfflineStack, table: Any) -> None:
    q = observe_bus(stack, "stream-observer-1")
    table.put_item(Item=item("P1", 30))
    stack.wait_idle(60)
    for delta in (-5, -10, -3, -1):  # 30 -> 25 -> 15 (crossing) -> 12 -> 11 (still low)
        table.update_item(
            Key={"store_id": "S900", "product_id": "P1"},
            UpdateExpression="ADD on_hand :d",
            ExpressionAttributeValues={":d": delta},
        )
    stack.wait_idle(60)
    first = low_stock(stack, q)
    assert [(e["on_hand"], e["reorder_threshold"]) for e in first] == [(15, 20)]
    assert first[0]["suggested_order_qty"] % 6 == 0 and first[0]["suggested_order_qty"] >= 12 * 3 + 10 - 15
    table.update_item(
        Key={"store_id": "S900", "product_id": "P1"},
        UpdateExpression="ADD on_hand :d SET on_order = :none",
        ExpressionAttributeValues={":d": 40, ":none": 0},
    )  # restock to 51: the crossing's order delivered (nothing on order any more)
    table.update_item(
        Key={"store_id": "S900", "product_id": "P1"},
        UpdateExpression="ADD on_hand :d",
        ExpressionAttributeValues={":d": -35},
    )  # 16: crosses again
    stack.wait_idle(60)
    assert [e["on_hand"] for e in low_stock(stack, q)] == [16]


def test_insert_already_below_threshold_emits(stack: OfflineStack, table: Any) -> None:
    q = observe_bus(stack, "stream-observer-2")
    table.put_item(Item=item("P2", 3))
    stack.wait_idle(60)
    assert [e["product_id"] for e in low_stock(stack, q)] == ["P2"]


def test_a_poison_record_neither_blocks_nor_loses_the_batch(stack: OfflineStack, table: Any) -> None:
    # GIVEN a batch where one record cannot be read (an item written without on_hand) between crossings
    q = observe_bus(stack, "stream-observer-3")
    failures = stack.physical["InventoryStreamFailureQueue"]
    drain(stack, failures)
    orders_table = stack.physical["PurchaseOrdersTable"]
    dynamodb = stack.client("dynamodb")
    orders_before = {i["po_id"]["S"] for i in dynamodb.scan(TableName=orders_table)["Items"]}
    assert stack.streams is not None
    with stack.streams.paused():
        table.put_item(Item=item("P3", 2))
        table.put_item(Item={"store_id": "S900", "product_id": "P4", "reorder_threshold": 5})  # poison
        table.put_item(Item=item("P5", 1))
    stack.wait_idle(120)
    # THEN both crossings got through (those after the poison possibly more than once: retried)...
    events = drain(stack, q)
    crossings = [e["detail"] for e in events if e["detail-type"] == "LowStockDetected"]
    assert {e["product_id"] for e in crossings} == {"P3", "P5"}
    # ...each crossing raised exactly one purchase order, announced once (a redelivered crossing
    # neither overwrites its order nor announces it again)...
    orders_now = {i["po_id"]["S"]: i for i in dynamodb.scan(TableName=orders_table)["Items"]}
    fresh = {po: i for po, i in orders_now.items() if po not in orders_before}
    created = [e["detail"] for e in events if e["detail-type"] == "PurchaseOrderCreated"]
    assert sorted(fresh) == sorted(f"PO-{c}" for c in {e["crossing_id"] for e in crossings})
    assert sorted(e["po_id"] for e in created) == sorted(fresh)
    for order in created:
        stored = fresh[order["po_id"]]
        assert stored["created_at"]["S"] == order["created_at"]  # the first write stands
    # ...and the poison record was parked in the on-failure queue after the template's bounded
    # retries (MaximumRetryAttempts 3), its reason kept under the sequence number the parked
    # record starts at: the side record names the poison's attribute and is about neither crossing
    (parked,) = drain(stack, failures)
    assert parked["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert parked["requestContext"]["approximateInvokeCount"] == 4
    info = parked["DDBStreamBatchInfo"]
    bucket = stack.outputs["QuarantineBucketName"]
    key = f"failed-records/inventory-monitor/{info['startSequenceNumber']}.json"
    reason = json.loads(stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert reason["record_id"] == info["startSequenceNumber"] and reason["field"] == "dynamodb"
    assert "on_hand" in reason["reason"] and reason["event_source_arn"] == info["streamArn"]
    assert reason["event_id"] not in {e["stream_event_id"] for e in crossings}
