"""Daily interest accrual: balance x annual rate / the day-count basis, to the cent, every day.

``ACT/365`` is ACT/365 Fixed (always 365, a leap day accrues 1/365 like any day), ``ACT/360``
divides by 360 (money-market convention: a year of daily accruals pays 365/360 of the rate),
``ACT/ACT`` divides by the days of the accrual day's year (366 in a leap year). Each day's accrual
is rounded half to even to the currency's minor units; the month's accruals are credited on its
last day (or on the day the account closes), so the credit is exactly the sum of the accruals.
Only a positive balance earns interest.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from datapipe.banking.money import ZERO, rounded

DAY_COUNTS = ("ACT/365", "ACT/360", "ACT/ACT")


def year_basis(day_count: str, day: date) -> int:
    if day_count == "ACT/365":
        return 365
    if day_count == "ACT/360":
        return 360
    if day_count == "ACT/ACT":
        return 366 if calendar.isleap(day.year) else 365
    raise ValueError(f"unknown day count {day_count!r}; expected one of {DAY_COUNTS}")


def daily_accrual(
    balance: Decimal, annual_rate: Decimal, day_count: str, day: date, currency: str
) -> Decimal:
    """One day's interest on ``balance`` (the day's closing balance before any credit)."""
    if balance <= ZERO or annual_rate <= ZERO:
        return rounded(ZERO, currency)
    return rounded(balance * annual_rate / Decimal(year_basis(day_count, day)), currency)


@dataclass(frozen=True)
class RateTerms:
    """What a product pays on ``day``: its annual rate and day count, and the feed row it came from."""

    product_code: str
    annual_rate: Decimal
    day_count: str
    effective_date: date


@dataclass(frozen=True)
class RateRow:
    """One row of the ``interest_rates`` feed."""

    feed_date: date
    product_code: str
    annual_rate: Decimal
    day_count: str
    effective_date: date


class RateConflict(ValueError):
    pass


def rates_in_force(rows: list[RateRow], day: date) -> dict[str, RateTerms]:
    """Per product, the row of the day's feed with the latest effective date on or before ``day``
    (a feed may announce tomorrow's rate: it is not applied today). Two rows for one product and
    effective date that disagree are a conflict, never a silent pick."""
    chosen: dict[str, RateRow] = {}
    for row in rows:
        if row.effective_date > day:
            continue
        current = chosen.get(row.product_code)
        if current is None or row.effective_date > current.effective_date:
            chosen[row.product_code] = row
        elif row.effective_date == current.effective_date and (
            row.annual_rate != current.annual_rate or row.day_count != current.day_count
        ):
            raise RateConflict(
                f"product {row.product_code}: two rates effective {row.effective_date} "
                f"({current.annual_rate} {current.day_count}, {row.annual_rate} {row.day_count})"
            )
    return {p: RateTerms(p, r.annual_rate, r.day_count, r.effective_date) for p, r in sorted(chosen.items())}
