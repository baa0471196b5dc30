"""functions/purchase_orders/app.py imported directly: reorder requests from the SQS queue."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.handlers.direct import DirectHandler, direct_handler, sample


@pytest.fixture(scope="module")
def orders(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "PurchaseOrderFunction") as handler:
        yield handler


def message(orders: DirectHandler, body: str) -> dict[str, Any]:
    """An SQS record in the standard shape, carrying ``body``."""
    record = copy.deepcopy(sample(orders.stack, "purchase_orders_reorder_request.json")["Records"][0])
    record.update(messageId=str(uuid.uuid4()), body=body)
    return record


def low_stock_event(orders: DirectHandler, **detail: Any) -> dict[str, Any]:
    event = json.loads(sample(orders.stack, "purchase_orders_reorder_request.json")["Records"][0]["body"])
    event["detail"].update(detail)
    return event


@pytest.fixture(autouse=True)
def no_stock_left_behind(orders: DirectHandler) -> Iterator[None]:
    """The handlers' stack is shared: other tests run on an account without stock master data."""
    yield
    detail = low_stock_event(orders)["detail"]
    key = {"store_id": {"S": detail["store_id"]}, "product_id": {"S": detail["product_id"]}}
    orders.stack.client("dynamodb").delete_item(TableName=orders.stack.physical["InventoryTable"], Key=key)


def stock_item(orders: DirectHandler, **extra: Any) -> dict[str, Any]:
    """The inventory item the sample request is about, put in place (fresh: nothing on order)."""
    detail = low_stock_event(orders)["detail"]
    key = {"store_id": {"S": detail["store_id"]}, "product_id": {"S": detail["product_id"]}}
    item = {**key, "on_hand": {"N": str(detail["on_hand"])}, **extra}
    orders.stack.client("dynamodb").put_item(TableName=orders.stack.physical["InventoryTable"], Item=item)
    return key


def order_of(orders: DirectHandler, crossing: str) -> dict[str, Any]:
    table = orders.stack.physical["PurchaseOrdersTable"]
    return dict(
        orders.stack.client("dynamodb").get_item(TableName=table, Key={"po_id": {"S": f"PO-{crossing}"}})[
            "Item"
        ]
    )


def test_a_reorder_request_raises_one_order_sent_to_the_supplier(orders: DirectHandler) -> None:
    key = stock_item(orders)
    crossing = uuid.uuid4().hex[:24]
    event = {"Records": [message(orders, json.dumps(low_stock_event(orders, crossing_id=crossing)))]}
    assert orders(event) == {"batchItemFailures": []}
    assert orders(event) == {"batchItemFailures": []}  # redelivered: answered, not doubled
    item = order_of(orders, crossing)
    assert item["quantity"] == {"N": "48"} and item["status"] == {"S": "SENT"}
    assert len(orders.logged("purchase order exists already")) == 1
    stock = orders.stack.client("dynamodb").get_item(
        TableName=orders.stack.physical["InventoryTable"], Key=key
    )
    assert stock["Item"]["on_order"] == {"N": "48"}  # the order is part of the inventory position


def test_a_second_crossing_while_an_order_is_open_orders_nothing(orders: DirectHandler) -> None:
    # GIVEN the item already has 48 on order, and a crossing that was seen before that order landed
    stock_item(orders, on_order={"N": "48"})
    crossing = uuid.uuid4().hex[:24]
    stale = low_stock_event(orders, crossing_id=crossing, on_order=0)
    assert orders({"Records": [message(orders, json.dumps(stale))]}) == {"batchItemFailures": []}
    assert len(orders.logged("reorder request stale: on_order changed since the crossing")) == 1
    with pytest.raises(KeyError):
        order_of(orders, crossing)


def test_an_order_stored_but_not_announced_is_sent_by_the_redelivery(orders: DirectHandler) -> None:
    # GIVEN PutEvents fails once after the order is stored
    stock_item(orders)
    crossing = uuid.uuid4().hex[:24]
    event = {"Records": [message(orders, json.dumps(low_stock_event(orders, crossing_id=crossing)))]}
    rule = orders.stack.faults.fail("events", "PutEvents", "InternalError", times=1)
    failed = orders(event)
    assert rule.injected == 1 and len(failed["batchItemFailures"]) == 1
    assert order_of(orders, crossing)["status"] == {"S": "CREATED"}
    # WHEN SQS redelivers it, THEN the order is announced and sent, not skipped as a duplicate
    assert orders(event) == {"batchItemFailures": []}
    assert order_of(orders, crossing)["status"] == {"S": "SENT"}


def test_foreign_messages_fail_alone_with_their_reason(orders: DirectHandler) -> None:
    # GIVEN a batch of messages of the queue's shape whose bodies are not reorder requests
    bodies = {
        "not json": ("not json at all", "body"),
        "another detail-type": (
            json.dumps({**low_stock_event(orders), "detail-type": "PurchaseOrderCreated"}),
            "body.detail-type",
        ),
        "no crossing id": (json.dumps(low_stock_event(orders, crossing_id=None)), "body.detail.crossing_id"),
        "a JSON list": ("[1, 2]", "body"),
    }
    records = {name: message(orders, body) for name, (body, _) in bodies.items()}
    # WHEN they arrive together (every record of the batch fails)
    response = orders({"Records": list(records.values())})
    # THEN each is reported by its message id (kept when SQS moves it to the DLQ)...
    assert response == {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records.values()]}
    # ...and its reason is logged and kept beside that id
    logged = {line["record_id"]: line for line in orders.logged("record failed")}
    s3 = orders.stack.client("s3")
    bucket = orders.stack.outputs["QuarantineBucketName"]
    for name, (_, field) in bodies.items():
        record_id = records[name]["messageId"]
        assert logged[record_id]["field"] == field, name
        side = json.loads(
            s3.get_object(Bucket=bucket, Key=f"failed-records/purchase-orders/{record_id}.json")[
                "Body"
            ].read()
        )
        assert side["reason"] == logged[record_id]["reason"] and field in side["reason"]
        assert side["event_source_arn"] == records[name]["eventSourceARN"]


def test_a_poison_message_does_not_hold_back_the_good_one(orders: DirectHandler) -> None:
    crossing = uuid.uuid4().hex[:24]
    good = message(orders, json.dumps(low_stock_event(orders, crossing_id=crossing)))
    bad = message(orders, "{")
    assert orders({"Records": [bad, good]}) == {"batchItemFailures": [{"itemIdentifier": bad["messageId"]}]}
