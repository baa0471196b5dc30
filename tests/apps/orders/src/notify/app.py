"""SNS subscriber: records that the order's notice went out (with the attribute that routed it)."""

from __future__ import annotations

import json
from typing import Any

from orders_lib import table


def handler(event: dict[str, Any], context: Any) -> None:
    for record in event["Records"]:
        sns = record["Sns"]
        order = json.loads(sns["Message"])
        table().put_item(
            Item={"pk": f"notice#{order['order_id']}", "kind": sns["MessageAttributes"]["kind"]["Value"]}
        )
