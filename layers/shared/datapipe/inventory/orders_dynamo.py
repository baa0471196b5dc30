"""Purchase orders on DynamoDB, kept in step with the inventory item's ``on_order``.

Creating an order and adding its quantity to ``on_order`` is one TransactWriteItems: a
conditional Put of the order (``attribute_not_exists(po_id)``: a redelivered request is a
duplicate) and an Update of the item conditional on ``on_order`` still being what the crossing
saw (two crossings detected before either order landed cannot both order). Closing an order by a
delivery is one transaction too: the order's status (conditional on it being open) and
``ADD on_order -quantity`` on the item.
"""

from __future__ import annotations

from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from datapipe.ddb import condition_failed
from datapipe.inventory.orders import CREATED, DELIVERED, OPEN, SENT, item_key

_SER, _DE = TypeSerializer(), TypeDeserializer()
CREATED_OK, DUPLICATE, STALE = "created", "duplicate", "stale"


def _reasons(exc: ClientError) -> list[str]:
    reasons = exc.response.get("CancellationReasons")  # type: ignore[typeddict-item]
    if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException" or not isinstance(
        reasons, list
    ):
        raise exc
    return [str(r.get("Code") or "None") for r in reasons]


class DynamoPurchaseOrders:
    def __init__(self, orders_table: str, inventory_table: str, client: Any = None) -> None:
        self._db: Any = client or boto3.client("dynamodb")
        self._orders = orders_table
        self._inventory = inventory_table

    def _item_key(self, store_id: str, product_id: str) -> dict[str, Any]:
        return {"store_id": {"S": store_id}, "product_id": {"S": product_id}}

    def create(self, order: dict[str, Any]) -> str:
        """ "created", "duplicate" (this po_id exists) or "stale" (on_order changed since the
        crossing was seen, or the item is gone: re-evaluate, do not order blindly)."""
        seen = int(order.get("on_order_seen", 0))
        if seen == 0:
            condition = (
                "attribute_exists(product_id) AND (attribute_not_exists(on_order) OR on_order = :seen)"
            )
        else:
            condition = "attribute_exists(product_id) AND on_order = :seen"
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._orders,
                            "Item": {k: _SER.serialize(v) for k, v in order.items() if v is not None},
                            "ConditionExpression": "attribute_not_exists(po_id)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._inventory,
                            "Key": self._item_key(order["store_id"], order["product_id"]),
                            "UpdateExpression": "ADD on_order :q",
                            "ConditionExpression": condition,
                            "ExpressionAttributeValues": {
                                ":q": {"N": str(int(order["quantity"]))},
                                ":seen": {"N": str(seen)},
                            },
                        }
                    },
                ]
            )
        except ClientError as exc:
            put, update = _reasons(exc)
            if put == "ConditionalCheckFailed":
                return DUPLICATE
            if update == "ConditionalCheckFailed":
                return STALE
            raise
        return CREATED_OK

    def get(self, po_id: str) -> dict[str, Any] | None:
        item = self._db.get_item(
            TableName=self._orders, Key={"po_id": {"S": po_id}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else {k: _DE.deserialize(v) for k, v in item.items()}

    def mark_sent(self, po_id: str) -> bool:
        """CREATED -> SENT (the supplier has it); False if the order is not CREATED."""
        try:
            self._db.update_item(
                TableName=self._orders,
                Key={"po_id": {"S": po_id}},
                UpdateExpression="SET #s = :sent",
                ConditionExpression="#s = :created",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":sent": {"S": SENT}, ":created": {"S": CREATED}},
            )
            return True
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise

    def open_orders(self, store_id: str, product_id: str) -> list[dict[str, Any]]:
        """Open orders of one item, oldest first (GSI ``by_item``)."""
        resp = self._db.query(
            TableName=self._orders,
            IndexName="by_item",
            KeyConditionExpression="item_key = :k",
            ExpressionAttributeValues={":k": {"S": item_key(store_id, product_id)}},
            ScanIndexForward=True,
        )
        orders = [{k: _DE.deserialize(v) for k, v in i.items()} for i in resp.get("Items", [])]
        return [o for o in orders if o.get("status") in OPEN]

    def receive(
        self, store_id: str, product_id: str, quantity: int, movement_id: str, reference_id: str | None = None
    ) -> str | None:
        """Close the order a DELIVERY fills: the one it references, else the item's oldest open one.
        Returns the closed po_id, or None (no open order: nothing was on order for it, or a
        replay of a delivery that closed it already)."""
        if reference_id:
            order = self.get(reference_id)
            if order is None or order.get("status") not in OPEN:
                return None
        else:
            candidates = self.open_orders(store_id, product_id)
            if not candidates:
                return None
            order = candidates[0]
        try:
            self._db.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": self._orders,
                            "Key": {"po_id": {"S": order["po_id"]}},
                            "UpdateExpression": "SET #s = :delivered, delivered_qty = :d, delivered_by = :m",
                            "ConditionExpression": "#s IN (:created, :sent)",
                            "ExpressionAttributeNames": {"#s": "status"},
                            "ExpressionAttributeValues": {
                                ":delivered": {"S": DELIVERED},
                                ":created": {"S": CREATED},
                                ":sent": {"S": SENT},
                                ":d": {"N": str(int(quantity))},
                                ":m": {"S": movement_id},
                            },
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._inventory,
                            "Key": self._item_key(store_id, product_id),
                            "UpdateExpression": "ADD on_order :neg",
                            "ConditionExpression": "attribute_exists(product_id)",
                            "ExpressionAttributeValues": {":neg": {"N": str(-int(order["quantity"]))}},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _reasons(exc)[0] == "ConditionalCheckFailed":
                return None  # closed meanwhile
            raise
        return str(order["po_id"])
