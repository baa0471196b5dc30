"""Supermarket inventory: low-stock crossings from the inventory stream, and applying movements.

``stock``: stock items, the crossing rule and the suggested order. ``apply``: planning published
movements per store/product and applying each movement once through a ``StockLedger``
(``DynamoStockLedger`` on DynamoDB, in ``dynamo``).
"""

from typing import Any

from datapipe.inventory.demand import (
    Demand,
    Replenishment,
    daily_demand,
    merge_daily_sales,
    reorder_point_gap,
    replenishment_for,
)
from datapipe.inventory.ledger import ApplyOutcome, MovementGroup, StockLedger, sales_velocity_update
from datapipe.inventory.orders import PurchaseOrder, item_key
from datapipe.inventory.stock import (
    LowStockDetected,
    StockItem,
    crossing_id,
    detect_crossing,
    item_from_image,
    low_stock_from_record,
    reorder_point_for,
    safety_stock_for,
    suggested_order_quantity,
)

# The stream monitor needs only ``stock``: applying movements (pyarrow) loads on first use, so
# the monitor's cold start does not pay for pyarrow.
_LAZY = {
    "ApplyReport": "apply",
    "apply_movements": "apply",
    "plan": "apply",
    "DynamoStockLedger": "dynamo",
    "DynamoPurchaseOrders": "orders_dynamo",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"datapipe.inventory.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'datapipe.inventory' has no attribute {name!r}")


__all__ = [
    "ApplyOutcome",
    "ApplyReport",
    "Demand",
    "DynamoPurchaseOrders",
    "DynamoStockLedger",
    "LowStockDetected",
    "MovementGroup",
    "PurchaseOrder",
    "Replenishment",
    "StockItem",
    "StockLedger",
    "apply_movements",
    "crossing_id",
    "daily_demand",
    "detect_crossing",
    "item_from_image",
    "item_key",
    "low_stock_from_record",
    "merge_daily_sales",
    "plan",
    "reorder_point_for",
    "reorder_point_gap",
    "replenishment_for",
    "safety_stock_for",
    "sales_velocity_update",
    "suggested_order_quantity",
]
