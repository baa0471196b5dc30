"""Stock items, the low-stock crossing rule and the suggested order, from DynamoDB stream records.

An item raises ``LowStockDetected`` when its *inventory position* crosses below its reorder
point, not on every update while it stays low. The position is what is on hand plus what is on
order: once an order is placed the position is back up, so further sales before the delivery do
not order again. A negative on_hand is counted as 0 (and flagged): in a store it almost always
means a delivery was sold before it was scanned in, not that customers are owed goods.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict

REQUIRED_ATTRIBUTES = ("store_id", "product_id", "on_hand", "reorder_threshold")
EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")
# Sums of float parameters (e.g. 0.1 x 3) land a hair above an integer; rounding to this many
# places before ceil keeps that noise from ordering one more unit (or case) than the formula says.
_CEIL_DIGITS = 9


@dataclass(frozen=True)
class StockItem:
    """One store/product row of the inventory table.

    on_hand may be negative (sold before a delivery was scanned in); on_order is the quantity of
    open purchase orders, maintained with them (``DynamoPurchaseOrders``).
    """

    store_id: str
    product_id: str
    on_hand: int
    reorder_threshold: int
    avg_daily_sales: float = 0.0
    lead_time_days: float = 0.0
    review_days: float = 1.0
    safety_stock: int = 0
    min_order_qty: int = 1
    case_pack: int = 1
    on_order: int = 0

    def __post_init__(self) -> None:
        for name in ("avg_daily_sales", "lead_time_days", "review_days"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.safety_stock < 0:
            raise ValueError(f"safety_stock must be >= 0, got {self.safety_stock}")
        if self.min_order_qty < 0:
            raise ValueError(f"min_order_qty must be >= 0, got {self.min_order_qty}")
        if self.case_pack < 1:
            raise ValueError(f"case_pack must be >= 1, got {self.case_pack}")
        if self.on_order < 0:
            raise ValueError(f"on_order must be >= 0, got {self.on_order}")

    @property
    def unscanned_delivery_suspected(self) -> bool:
        """Negative stock: something was sold that the system never saw arrive."""
        return self.on_hand < 0

    @property
    def position(self) -> int:
        """Inventory position: on hand (negative counted as 0) + on order."""
        return max(self.on_hand, 0) + self.on_order

    @property
    def below_threshold(self) -> bool:
        return self.position < self.reorder_threshold


def _attribute(image: Mapping[str, Any], name: str) -> Any:
    """The plain value of one attribute-value entry, or None when absent or NULL."""
    raw = image.get(name)
    if raw is None or (isinstance(raw, Mapping) and raw.get("NULL") is True):
        return None
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise ValueError(f"attribute {name} is not in DynamoDB attribute-value form: {raw!r}")
    ((kind, value),) = raw.items()
    if kind == "S":
        return str(value)
    if kind == "N":
        try:
            return Decimal(str(value))
        except InvalidOperation as exc:
            raise ValueError(f"attribute {name} is not a number: {value!r}") from exc
    raise ValueError(f"attribute {name} has unsupported type {kind} (expected S or N)")


def _string(image: Mapping[str, Any], name: str) -> str | None:
    value = _attribute(image, name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"attribute {name} must be a string (S), got a number")
    return value


def _number(image: Mapping[str, Any], name: str) -> Decimal | None:
    value = _attribute(image, name)
    if value is not None and not isinstance(value, Decimal):
        raise ValueError(f"attribute {name} must be a number (N), got a string: {value!r}")
    if value is not None and not value.is_finite():
        raise ValueError(f"attribute {name} must be finite, got {value}")
    return value


def _integer(image: Mapping[str, Any], name: str) -> int | None:
    value = _number(image, name)
    if value is None:
        return None
    if value != value.to_integral_value():
        raise ValueError(f"attribute {name} must be an integer, got {value}")
    return int(value)


def item_from_image(image: Mapping[str, Any]) -> StockItem:
    """Parse a stream image (``{"on_hand": {"N": "12"}, ...}``); optional attributes default.

    Raises ``ValueError`` naming the attribute when a required one is missing or any is malformed,
    so a bad record fails loudly instead of raising a wrong order.
    """
    missing = [name for name in REQUIRED_ATTRIBUTES if _attribute(image, name) is None]
    if missing:
        raise ValueError(f"stock image lacks required attribute(s): {', '.join(missing)}")
    store_id, product_id = _string(image, "store_id"), _string(image, "product_id")
    on_hand, threshold = _integer(image, "on_hand"), _integer(image, "reorder_threshold")
    assert store_id is not None and product_id is not None and on_hand is not None and threshold is not None

    def real(name: str, default: float) -> float:
        value = _number(image, name)
        return default if value is None else float(value)

    def whole(name: str, default: int) -> int:
        value = _integer(image, name)
        return default if value is None else value

    return StockItem(
        store_id=store_id,
        product_id=product_id,
        on_hand=on_hand,
        reorder_threshold=threshold,
        avg_daily_sales=real("avg_daily_sales", 0.0),
        lead_time_days=real("lead_time_days", 0.0),
        review_days=real("review_days", 1.0),
        safety_stock=whole("safety_stock", 0),
        min_order_qty=whole("min_order_qty", 1),
        case_pack=whole("case_pack", 1),
        on_order=whole("on_order", 0),
    )


def detect_crossing(event_name: str, old: StockItem | None, new: StockItem | None) -> bool:
    """True when this change takes the item from "not low" to "low" (position < reorder_threshold).

    - INSERT: the new item already starts below its threshold.
    - MODIFY: the old image was not low against the *old* threshold and the new image is low against
      the *new* threshold. So raising a threshold above an unchanged on_hand is a crossing (the
      planner has just declared this stock level too low, and wants an order), and lowering it below
      on_hand re-arms the rule exactly as a restock does.
    - REMOVE: never (the item is gone; nothing to order for).
    Updates while the item stays low return False: one crossing, one order.
    """
    if event_name not in EVENT_NAMES:
        raise ValueError(f"unknown stream event name {event_name!r}; expected one of {EVENT_NAMES}")
    if event_name == "REMOVE":
        return False
    if new is None:
        raise ValueError(f"{event_name} record without NewImage: the stream must carry new images")
    if event_name == "INSERT":
        return new.below_threshold
    if old is None:
        raise ValueError("MODIFY record without OldImage: the stream must be NEW_AND_OLD_IMAGES")
    return not old.below_threshold and new.below_threshold


def _ceil(value: float) -> int:
    return math.ceil(round(value, _CEIL_DIGITS))


def suggested_order_quantity(item: StockItem) -> int:
    """Order-up-to quantity for a periodic-review item, in whole cases, never zero.

        target = avg_daily_sales x (lead_time_days + review_days) + safety_stock
        order  = max(ceil(target - position), min_order_qty, 1), rounded UP to a multiple of case_pack

    The order covers demand until the delivery arrives (lead time) and until the next chance to
    order (review period), plus the safety stock, less what is already on hand or on order. A
    negative on_hand counts as 0: ordering it again would double-stock the unscanned delivery.
    At least one case even when the target is met: this is only asked for a crossing.
    """
    target = item.avg_daily_sales * (item.lead_time_days + item.review_days) + item.safety_stock
    units = max(_ceil(target - item.position), item.min_order_qty, 1)
    return -(-units // item.case_pack) * item.case_pack


def safety_stock_for(
    daily_sales_std: float, lead_time_days: float, review_days: float = 1.0, service_z: float = 1.65
) -> int:
    """Safety stock = ceil(z x daily_sales_std x sqrt(lead_time_days + review_days)).

    With periodic review the stock must cover demand variation over the lead time *and* the
    review period (the order just placed must last until the next order arrives): independent
    days add variances, so the deviation grows with sqrt(L + R). z = 1.65 covers it on ~95% of
    replenishment cycles (cycle service level).
    """
    for name, value in (
        ("daily_sales_std", daily_sales_std),
        ("lead_time_days", lead_time_days),
        ("review_days", review_days),
    ):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if not math.isfinite(service_z) or service_z < 0:
        raise ValueError(f"service_z must be a finite number >= 0, got {service_z!r}")
    return _ceil(service_z * daily_sales_std * math.sqrt(lead_time_days + review_days))


def reorder_point_for(avg_daily_sales: float, lead_time_days: float, safety_stock: int) -> int:
    """Reorder point = ceil(demand x lead time + safety stock): order when the position drops
    below what will be sold before a delivery can arrive, plus the buffer."""
    return _ceil(avg_daily_sales * lead_time_days + safety_stock)


def crossing_id(store_id: str, product_id: str, stream_event_id: str) -> str:
    """Deterministic id of one crossing: a redelivered stream record maps to the same purchase order."""
    key = json.dumps([store_id, product_id, stream_event_id], separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()[:24]


class LowStockDetected(BaseModel):
    """Detail of the LowStockDetected event: what crossed, and the order the formula suggests."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store_id: str
    product_id: str
    on_hand: int
    reorder_threshold: int
    suggested_order_qty: int
    avg_daily_sales: float
    lead_time_days: float
    safety_stock: int
    crossing_id: str
    detected_at: datetime
    stream_event_id: str
    on_order: int = 0
    position: int = 0
    unscanned_delivery_suspected: bool = False

    def to_detail(self) -> dict[str, Any]:
        """JSON-ready dict (detected_at as ISO 8601) for EventBridge."""
        return self.model_dump(mode="json")


def low_stock_from_record(record: Mapping[str, Any], now: datetime | None = None) -> LowStockDetected | None:
    """The LowStockDetected of one DynamoDB stream record, or None when it is not a crossing.

    ``detected_at`` is the record's ApproximateCreationDateTime (when the stock changed), so a
    redelivered record yields the same event; ``now`` (default: the clock) is used only when the
    record lacks it.
    """
    event_name = record.get("eventName")
    event_id = record.get("eventID")
    if not isinstance(event_name, str):
        raise ValueError("stream record lacks eventName")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("stream record lacks eventID")
    change = record.get("dynamodb") or {}
    old_image, new_image = change.get("OldImage"), change.get("NewImage")
    old = item_from_image(old_image) if old_image else None
    new = item_from_image(new_image) if new_image else None
    if not detect_crossing(event_name, old, new):
        return None
    assert new is not None
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):  # boto3's dynamodbstreams client parses it already
        detected_at = created.astimezone(UTC)
    elif created is not None:  # Lambda event: epoch seconds
        detected_at = datetime.fromtimestamp(float(created), tz=UTC)
    else:
        detected_at = now or datetime.now(UTC)
    return LowStockDetected(
        store_id=new.store_id,
        product_id=new.product_id,
        on_hand=new.on_hand,
        reorder_threshold=new.reorder_threshold,
        suggested_order_qty=suggested_order_quantity(new),
        avg_daily_sales=new.avg_daily_sales,
        lead_time_days=new.lead_time_days,
        safety_stock=new.safety_stock,
        crossing_id=crossing_id(new.store_id, new.product_id, event_id),
        detected_at=detected_at,
        stream_event_id=event_id,
        on_order=new.on_order,
        position=new.position,
        unscanned_delivery_suspected=new.unscanned_delivery_suspected,
    )
