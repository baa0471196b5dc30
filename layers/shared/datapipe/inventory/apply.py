"""Applying published inventory_movements to the inventory table: pure planning + the ledger port.

``plan`` groups the movements by store/product (vectorised); ``apply_movements`` hands each group
to a ``StockLedger``, which applies every movement id at most once, and accounts for every row:
movements == applied + duplicates + unknown_movements, or it raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datapipe.inventory.dynamo import MAX_MOVEMENTS_PER_TRANSACTION, DynamoStockLedger
from datapipe.inventory.ledger import (
    ApplyOutcome,
    MovementGroup,
    PurchaseOrderBook,
    StockLedger,
    sales_velocity_update,
)

__all__ = [
    "MAX_MOVEMENTS_PER_TRANSACTION",
    "ApplyOutcome",
    "ApplyReport",
    "DynamoStockLedger",
    "MovementGroup",
    "PurchaseOrderBook",
    "StockLedger",
    "apply_movements",
    "plan",
    "sales_velocity_update",
]

PLAN_COLUMNS = ("movement_id", "store_id", "product_id", "quantity_change", "reason")


def _plain(column: pa.ChunkedArray, type_: pa.DataType) -> pa.Array:
    """One contiguous, non-dictionary array of ``type_`` (parquet may hand back either)."""
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    return pc.cast(array, type_)


def plan(table: pa.Table) -> list[MovementGroup]:
    """Movements grouped by (store_id, product_id), sorted by store, product, movement id.

    A movement id repeated within the table is planned once (its first row): the repeat is the
    same movement reported twice and ``apply_movements`` counts it as a duplicate. Group boundaries
    come from one vectorised comparison of the sorted keys; Python only slices the id lists.
    """
    missing = [c for c in PLAN_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"movements table lacks column(s): {', '.join(missing)}")
    if table.num_rows == 0:
        return []
    for name in PLAN_COLUMNS:
        if table.column(name).null_count:
            raise ValueError(f"movements column {name} has {table.column(name).null_count} null(s)")
    n_in = table.num_rows
    day = (
        pc.cast(
            pc.cast(_plain(table.column("event_time"), pa.timestamp("us", tz="UTC")), pa.date32()),
            pa.string(),
        )
        if "event_time" in table.column_names
        else pa.nulls(n_in, pa.string())
    )
    reference = (
        _plain(table.column("reference_id"), pa.string())
        if "reference_id" in table.column_names
        else pa.nulls(n_in, pa.string())
    )
    t = pa.table(
        {
            "movement_id": _plain(table.column("movement_id"), pa.string()),
            "store_id": _plain(table.column("store_id"), pa.string()),
            "product_id": _plain(table.column("product_id"), pa.string()),
            "quantity_change": _plain(table.column("quantity_change"), pa.int64()),
            "reason": _plain(table.column("reason"), pa.string()),
            "_day": day,
            "_ref": reference,
            "_row": pa.array(np.arange(n_in, dtype=np.int64)),
        }
    )
    first_rows = t.group_by("movement_id", use_threads=False).aggregate([("_row", "min")])["_row_min"]
    if len(first_rows) != t.num_rows:
        t = t.take(first_rows)
    is_sale = pc.equal(t.column("reason"), "SALE")
    sales = pc.if_else(is_sale, pc.negate(t.column("quantity_change")), pa.scalar(0, pa.int64()))
    t = t.append_column("_sales", sales).sort_by(
        [("store_id", "ascending"), ("product_id", "ascending"), ("movement_id", "ascending")]
    )
    stores, products = t.column("store_id").combine_chunks(), t.column("product_id").combine_chunks()
    n = t.num_rows
    changed = pc.or_(
        pc.not_equal(stores.slice(1), stores.slice(0, n - 1)),
        pc.not_equal(products.slice(1), products.slice(0, n - 1)),
    )
    starts = np.concatenate(([0], np.flatnonzero(changed.to_numpy(zero_copy_only=False)) + 1, [n]))
    ids = t.column("movement_id").to_pylist()
    quantities = t.column("quantity_change").to_pylist()
    sold = t.column("_sales").to_pylist()
    days = t.column("_day").to_pylist()
    reasons = t.column("reason").to_pylist()
    refs = [r or None for r in t.column("_ref").to_pylist()]
    return [
        MovementGroup(
            store_id=stores[int(lo)].as_py(),
            product_id=products[int(lo)].as_py(),
            movement_ids=ids[lo:hi],
            quantities=quantities[lo:hi],
            sales=sold[lo:hi],
            days=days[lo:hi],
            reasons=reasons[lo:hi],
            references=refs[lo:hi],
        )
        for lo, hi in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True)
    ]


@dataclass(frozen=True)
class ApplyReport:
    """Counts of one apply run; every movement row is applied, a duplicate, or for an unknown item.

    units_applied: net change of on_hand over the applied movements. unknown: (store_id,
    product_id, movement_ids) per unknown item, for the operators' report.
    """

    movements: int
    applied: int
    duplicates: int
    unknown_movements: int
    units_applied: int
    unknown: list[tuple[str, str, list[str]]] = field(default_factory=list)
    velocity_updates: int = 0  # items whose demand history was updated
    orders_closed: list[str] = field(default_factory=list)  # po_ids closed by deliveries
    deliveries_without_order: int = 0

    def __post_init__(self) -> None:
        if self.movements != self.applied + self.duplicates + self.unknown_movements:
            raise ValueError(
                f"movements ({self.movements}) != applied ({self.applied}) + duplicates "
                f"({self.duplicates}) + unknown ({self.unknown_movements})"
            )
        listed = sum(len(ids) for _, _, ids in self.unknown)
        if listed != self.unknown_movements:
            raise ValueError(f"unknown lists {listed} movements, counts say {self.unknown_movements}")


def _check_outcome(group: MovementGroup, outcome: ApplyOutcome) -> None:
    """A ledger must account for each movement of the group exactly once."""
    reported = outcome.applied + outcome.duplicates + outcome.unknown
    if len(reported) != len(group.movement_ids) or set(reported) != set(group.movement_ids):
        raise RuntimeError(
            f"ledger outcome for {group.store_id}/{group.product_id} does not account for its "
            f"{len(group.movement_ids)} movements exactly once: {outcome}"
        )


def apply_movements(
    table: pa.Table, ledger: StockLedger, orders: PurchaseOrderBook | None = None
) -> ApplyReport:
    """Apply every movement once; then record the newly applied sales per business day (demand)
    and close the purchase orders the deliveries fill.

    Demand is recorded only with movements applied now (a replay adds nothing) and on the day each
    movement happened: a late or re-sent file never counts as a new day. Deliveries are matched
    whether applied now or already (a replay after a crash between the two steps still closes
    the order; closing is conditional on the order being open, so it happens once).
    """
    groups = plan(table)
    planned = sum(len(g.movement_ids) for g in groups)
    applied = duplicates = unknown_movements = units = velocity_updates = without_order = 0
    unknown: list[tuple[str, str, list[str]]] = []
    closed: list[str] = []
    for group in groups:
        outcome = ledger.apply_group(group)
        _check_outcome(group, outcome)
        applied += len(outcome.applied)
        duplicates += len(outcome.duplicates)
        units += group.quantity_of(outcome.applied)
        if outcome.unknown:
            unknown_movements += len(outcome.unknown)
            unknown.append((group.store_id, group.product_id, list(outcome.unknown)))
        sold = group.sales_by_day(outcome.applied)
        if sold:  # sales of the movements applied now: none on a replay
            ledger.record_demand(group.store_id, group.product_id, sold)
            velocity_updates += 1
        if orders is not None:
            for movement_id, quantity, reference in group.deliveries(outcome.applied + outcome.duplicates):
                po = orders.receive(group.store_id, group.product_id, quantity, movement_id, reference)
                if po is None:
                    without_order += 1
                else:
                    closed.append(po)
    return ApplyReport(
        movements=table.num_rows,
        applied=applied,
        duplicates=duplicates + (table.num_rows - planned),  # ids repeated within the table
        unknown_movements=unknown_movements,
        units_applied=units,
        unknown=unknown,
        velocity_updates=velocity_updates,
        orders_closed=closed,
        deliveries_without_order=without_order,
    )
