"""The stock ledger port: what applying movements needs from the inventory store.

Each movement id is applied at most once, whatever the replays: the ledger remembers applied ids
and changes ``on_hand`` in the same atomic step, so a re-run of a file (retry, replay) is safe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class MovementGroup:
    """All movements of one store/product in a table.

    ``quantities`` and ``sales`` are per movement (aligned with ``movement_ids``) so a ledger can
    apply any subset -- a chunk, or what is left after the duplicates -- with the right sum.
    ``sales[i]`` is the units sold by movement i (-quantity_change for SALE rows, else 0).
    """

    store_id: str
    product_id: str
    movement_ids: list[str]
    quantities: list[int]
    sales: list[int] = field(default_factory=list)
    days: list[str | None] = field(default_factory=list)  # business day (ISO) of each movement
    reasons: list[str] = field(default_factory=list)
    references: list[str | None] = field(default_factory=list)  # e.g. the PO a DELIVERY fills

    def __post_init__(self) -> None:
        n = len(self.movement_ids)
        for name, empty in (("sales", 0), ("days", None), ("reasons", ""), ("references", None)):
            if not getattr(self, name):
                object.__setattr__(self, name, [empty] * n)
        if not n == len(self.quantities) == len(self.sales) == len(self.days) == len(self.reasons):
            raise ValueError("movement_ids, quantities, sales, days and reasons must be aligned")
        if len(self.references) != n:
            raise ValueError("references must be aligned with movement_ids")
        if len(set(self.movement_ids)) != len(self.movement_ids):
            raise ValueError(f"movement ids repeat within {self.store_id}/{self.product_id}")

    @property
    def quantity(self) -> int:
        """Net change of on_hand if every movement is applied."""
        return sum(self.quantities)

    @property
    def sales_units(self) -> int:
        return sum(self.sales)

    def quantity_of(self, movement_ids: list[str]) -> int:
        by_id = dict(zip(self.movement_ids, self.quantities, strict=True))
        return sum(by_id[m] for m in movement_ids)

    def sales_of(self, movement_ids: list[str]) -> int:
        by_id = dict(zip(self.movement_ids, self.sales, strict=True))
        return sum(by_id[m] for m in movement_ids)

    def sales_by_day(self, movement_ids: list[str]) -> dict[str, int]:
        """Units sold per business day by these movements (days without a date are skipped)."""
        wanted = set(movement_ids)
        out: dict[str, int] = {}
        for m, sold, day in zip(self.movement_ids, self.sales, self.days, strict=True):
            if m in wanted and sold > 0 and day is not None:
                out[day] = out.get(day, 0) + sold
        return out

    def deliveries(self, movement_ids: list[str]) -> list[tuple[str, int, str | None]]:
        """(movement_id, quantity, reference) of the DELIVERY movements among these."""
        wanted = set(movement_ids)
        return [
            (m, q, ref)
            for m, q, reason, ref in zip(
                self.movement_ids, self.quantities, self.reasons, self.references, strict=True
            )
            if m in wanted and reason == "DELIVERY"
        ]


@dataclass(frozen=True)
class ApplyOutcome:
    """What ``apply_group`` did with each movement of a group.

    applied: ids applied now; duplicates: ids the ledger already had (applied by an earlier run);
    unknown: ids not applied because the store/product is not in the inventory table
    (``item_unknown``). Nothing of an unknown item is written, so a replay after the item is
    created applies them.
    """

    applied: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    item_unknown: bool = False


class StockLedger(Protocol):
    def apply_group(self, group: MovementGroup) -> ApplyOutcome:
        """Apply every not-yet-applied movement of the group atomically (per chunk) and say which."""
        ...

    def record_demand(self, store_id: str, product_id: str, sold_by_day: dict[str, int]) -> Any:
        """Add units sold per business day to the item's demand history and re-derive its
        average, safety stock and reorder point; None if the item is unknown."""
        ...


class PurchaseOrderBook(Protocol):
    def receive(
        self, store_id: str, product_id: str, quantity: int, movement_id: str, reference_id: str | None = None
    ) -> str | None:
        """Close the open order a delivery fills; its po_id, or None when none was open."""
        ...


def sales_velocity_update(old_avg: float, units_sold_today: float, alpha: float = 0.2) -> float:
    """Exponential moving average of daily sales: alpha x today + (1 - alpha) x old.

    alpha = 0.2 weighs the last ~5 days most (a day's weight halves in about three days), so a
    promotion or a holiday moves the reorder point quickly without one odd day dominating it.
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    for name, value in (("old_avg", old_avg), ("units_sold_today", units_sold_today)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return alpha * units_sold_today + (1 - alpha) * old_avg
