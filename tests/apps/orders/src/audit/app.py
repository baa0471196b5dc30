"""EventBridge consumer: audits processed orders; refuses (raises for) an order id starting with 'bad'."""

from __future__ import annotations

from typing import Any

from orders_lib import table


def handler(event: dict[str, Any], context: Any) -> None:
    order_id = event["detail"]["order_id"]
    if order_id.startswith("bad"):
        raise RuntimeError(f"audit refuses {order_id}")
    table().put_item(Item={"pk": f"audit#{order_id}", "status": event["detail"]["status"]})
