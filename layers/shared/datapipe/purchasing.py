"""Purchase orders raised from low-stock crossings: one per crossing, whatever the redeliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from datapipe.inventory.orders import CREATED, item_key


def purchase_order(low_stock: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The order for one LowStockDetected detail; its id is the crossing id, so a redelivered
    reorder request maps to the same order (the table write is conditional on that id).

    ``on_order_seen`` is the item's on_order when the crossing was detected: the order is
    created only if it is still that (``DynamoPurchaseOrders.create``), so two crossings seen
    before either order landed cannot both order."""
    now = now or datetime.now(UTC)
    return {
        "po_id": f"PO-{low_stock['crossing_id']}",
        "crossing_id": low_stock["crossing_id"],
        "store_id": low_stock["store_id"],
        "product_id": low_stock["product_id"],
        "item_key": item_key(low_stock["store_id"], low_stock["product_id"]),
        "quantity": int(low_stock["suggested_order_qty"]),
        "on_hand_at_detection": int(low_stock["on_hand"]),
        "position_at_detection": int(low_stock.get("position", low_stock["on_hand"])),
        "on_order_seen": int(low_stock.get("on_order", 0)),
        "unscanned_delivery_suspected": bool(low_stock.get("unscanned_delivery_suspected", False)),
        "reorder_threshold": int(low_stock["reorder_threshold"]),
        "status": CREATED,
        "created_at": now.isoformat(),
    }
