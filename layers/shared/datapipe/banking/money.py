"""Money as ``Decimal``: amounts rounded to their currency's minor units, half to even.

Banker's rounding (ROUND_HALF_EVEN) does not drift upwards over many roundings: 0.125 -> 0.12,
0.135 -> 0.14. Every amount end of day stores is already at its currency's minor units (cents
for USD, none for JPY, three decimals for BHD); nothing is ever a float.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from datapipe.reference.codes import CURRENCY_MINOR_UNITS

ZERO = Decimal(0)


def minor_units(currency: str) -> int:
    try:
        return CURRENCY_MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"{currency!r} is not an ISO 4217 currency with minor units") from None


def rounded(amount: Decimal, currency: str) -> Decimal:
    """``amount`` at ``currency``'s minor units, half to even."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_EVEN)


def to_decimal(value: Any) -> Decimal:
    """A stored or queried amount (Decimal, int, text; never a float) as a Decimal; None is 0."""
    if value is None:
        return ZERO
    if isinstance(value, float):
        raise TypeError("amounts are never floats (a float would lose cents)")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not an amount: {str(value)[:40]!r}") from None


def text(amount: Decimal) -> str:
    """An amount as JSON carries it: a string, without an exponent (1E+2 -> "100")."""
    return format(amount, "f")
