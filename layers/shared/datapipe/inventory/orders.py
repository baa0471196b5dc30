"""Purchase orders and their lifecycle: CREATED -> SENT -> DELIVERED, or CLOSED / CANCELLED.

An order is *open* (its quantity is on order, part of the inventory position) until a delivery
closes it (DELIVERED, whatever the quantity delivered: a short delivery closes the order and the
next review orders again) or a buyer closes or cancels it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

CREATED, SENT, DELIVERED, CLOSED, CANCELLED = "CREATED", "SENT", "DELIVERED", "CLOSED", "CANCELLED"
STATUSES = (CREATED, SENT, DELIVERED, CLOSED, CANCELLED)
OPEN = (CREATED, SENT)
TRANSITIONS: dict[str, tuple[str, ...]] = {
    CREATED: (SENT, DELIVERED, CANCELLED),  # a delivery may beat the supplier's confirmation
    SENT: (DELIVERED, CLOSED),
    DELIVERED: (),
    CLOSED: (),
    CANCELLED: (),
}


class IllegalTransition(ValueError):
    pass


def item_key(store_id: str, product_id: str) -> str:
    return f"{store_id}#{product_id}"


@dataclass(frozen=True)
class PurchaseOrder:
    po_id: str
    store_id: str
    product_id: str
    quantity: int
    status: str = CREATED
    delivered_qty: int = 0
    delivered_by: str | None = None  # the DELIVERY movement that closed it

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"a purchase order needs a positive quantity, got {self.quantity}")
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def on_order(self) -> int:
        """What this order adds to the inventory position."""
        return self.quantity if self.is_open else 0

    def to(self, status: str) -> PurchaseOrder:
        if status not in TRANSITIONS[self.status]:
            raise IllegalTransition(f"{self.po_id}: {self.status} -> {status} is not allowed")
        return replace(self, status=status)

    def receive(self, quantity: int, movement_id: str) -> PurchaseOrder:
        """A delivery against this order closes it (DELIVERED), recording what came."""
        if quantity <= 0:
            raise ValueError(f"a delivery brings a positive quantity, got {quantity}")
        return replace(self.to(DELIVERED), delivered_qty=quantity, delivered_by=movement_id)
