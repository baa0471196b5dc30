"""Prices an order (called by the state machine, by bare ARN and by lambda:invoke)."""

from __future__ import annotations

from typing import Any

from orders_lib import total


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"order_id": event["order_id"], "total": float(total(event))}
