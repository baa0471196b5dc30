"""Prices an order (called by the state machine, by bare ARN and by lambda:invoke)."""

from __future__ import annotations

import json
import time
from typing import Any

from orders_lib import total


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    priced = float(total(event))
    print(  # an Embedded Metric Format line, as Powertools' Metrics writes one
        json.dumps(
            {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": "Orders",
                            "Dimensions": [["service"]],
                            "Metrics": [{"Name": "OrderValue", "Unit": "None"}],
                        }
                    ],
                },
                "service": "price",
                "OrderValue": priced,
            }
        )
    )
    return {"order_id": event["order_id"], "total": priced}
