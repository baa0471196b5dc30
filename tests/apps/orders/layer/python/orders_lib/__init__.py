"""Code shared by the orders app's functions, shipped as a layer (proves local layers are on the path)."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import boto3


def table() -> Any:
    return boto3.resource("dynamodb").Table(os.environ["ORDERS_TABLE"])


def total(order: dict[str, Any]) -> Decimal:
    items = order.get("items", [])
    if len(items) > int(os.environ.get("MAX_ITEMS", "10")):
        raise ValueError(
            f"order {order.get('order_id')}: {len(items)} items, at most {os.environ['MAX_ITEMS']}"
        )
    return sum((Decimal(str(i["price"])) * int(i.get("qty", 1)) for i in items), Decimal("0"))
