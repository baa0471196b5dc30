"""Demand per calendar day, and the replenishment parameters derived from it.

Units sold are kept per business day (the day of the movement, not the day its file arrived), so
a re-sent file adds nothing new (its movements are duplicates in the ledger) and a late file adds
to the day it is about, never a new day. The average is over *calendar* days, zero-sale days
included: an item that sells 12 on Monday and nothing else all week sells 12/7 a day, not 12.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from datapipe.inventory.stock import reorder_point_for, safety_stock_for

DEMAND_WINDOW_DAYS = 28  # four whole weeks: every weekday weighs the same


def merge_daily_sales(
    days: Mapping[str, int], sold: Mapping[str, int], window_days: int = DEMAND_WINDOW_DAYS
) -> dict[str, int]:
    """``days`` plus the units of ``sold`` (both keyed by ISO date), keeping the last window."""
    for day, units in sold.items():
        if units < 0:
            raise ValueError(f"units sold must be >= 0, got {units} on {day}")
    merged = dict(days)
    for day, units in sold.items():
        merged[day] = merged.get(day, 0) + int(units)
    if not merged:
        return merged
    newest = max(date.fromisoformat(d) for d in merged)
    oldest = newest - timedelta(days=window_days - 1)
    return {d: u for d, u in sorted(merged.items()) if date.fromisoformat(d) >= oldest}


@dataclass(frozen=True)
class Demand:
    avg_daily_sales: float
    daily_sales_std: float
    days: int  # calendar days counted


def daily_demand(days: Mapping[str, int], as_of: date, window_days: int = DEMAND_WINDOW_DAYS) -> Demand:
    """Mean and standard deviation of units sold per calendar day, from the first day seen (or the
    window's start) to ``as_of``: days without a sale count as 0."""
    if not days:
        return Demand(0.0, 0.0, 0)
    first = min(date.fromisoformat(d) for d in days)
    start = max(first, as_of - timedelta(days=window_days - 1))
    span = (as_of - start).days + 1
    if span < 1:
        raise ValueError(f"as_of {as_of} is before the first day with sales {first}")
    series = [int(days.get((start + timedelta(days=i)).isoformat(), 0)) for i in range(span)]
    std = statistics.pstdev(series) if span > 1 else 0.0
    return Demand(sum(series) / span, std, span)


@dataclass(frozen=True)
class Replenishment:
    """What the stock master should say for an item, given its demand and lead time."""

    avg_daily_sales: float
    daily_sales_std: float
    safety_stock: int
    reorder_point: int


def replenishment_for(
    demand: Demand, lead_time_days: float, review_days: float, service_z: float = 1.65
) -> Replenishment:
    """Safety stock z·σ·√(L+R) and reorder point d·L + SS, from the demand."""
    safety = safety_stock_for(demand.daily_sales_std, lead_time_days, review_days, service_z)
    return Replenishment(
        round(demand.avg_daily_sales, 6),
        round(demand.daily_sales_std, 6),
        safety,
        reorder_point_for(demand.avg_daily_sales, lead_time_days, safety),
    )


def reorder_point_gap(reorder_threshold: int, expected: Replenishment) -> int:
    """How far a configured reorder point sits below demand x lead time + safety stock (0: fine)."""
    return max(0, expected.reorder_point - reorder_threshold)
