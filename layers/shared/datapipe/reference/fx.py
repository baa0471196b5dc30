"""Amounts in any currency -> USD (the base currency), with the latest rate on or before a date.

Rates are ``units_per_usd`` (how many units of the currency one US dollar buys), as the
``fx_rates`` dataset publishes them. ``FxRates.reference()`` is a bundled snapshot of approximate
rates for the common currencies, used until (and besides) a published ``fx_rates`` file: it is
dated 2026-01-01, so any later published rate wins.

    rates = FxRates.reference().merged(FxRates.from_table(published_fx_table))
    rates.to_usd(Decimal("2500"), "JPY", date(2026, 11, 21))   # Decimal('16.67'), or None
    rates.to_usd_array(amounts, currencies, dates)             # vectorised, nulls where no rate
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datapipe.ports import ObjectStore

BASE_CURRENCY = "USD"
REFERENCE_DATE = date(2026, 1, 1)
# approximate units per USD on REFERENCE_DATE (a fallback, not a trading rate)
REFERENCE_UNITS_PER_USD = {
    "USD": "1",
    "EUR": "0.92",
    "GBP": "0.79",
    "JPY": "150",
    "CAD": "1.36",
    "MXN": "17.0",
    "AUD": "1.52",
    "CHF": "0.88",
    "CNY": "7.2",
    "INR": "83",
    "BRL": "5.0",
    "KRW": "1330",
    "SEK": "10.5",
    "NOK": "10.6",
    "DKK": "6.9",
    "PLN": "4.0",
    "CZK": "23",
    "HUF": "360",
    "TRY": "32",
    "ZAR": "18.5",
    "SGD": "1.34",
    "HKD": "7.8",
    "NZD": "1.64",
    "THB": "36",
    "PHP": "56",
    "IDR": "15600",
    "MYR": "4.7",
    "ILS": "3.7",
    "AED": "3.6725",
    "SAR": "3.75",
    "KWD": "0.307",
    "BHD": "0.376",
    "OMR": "0.3845",
    "JOD": "0.709",
    "TND": "3.1",
    "CLP": "930",
    "COP": "3900",
    "PEN": "3.75",
    "ARS": "850",
    "VND": "24500",
    "EGP": "30.9",
    "NGN": "1400",
    "KES": "130",
    "ISK": "138",
    "UGX": "3800",
    "PYG": "7300",
    "XOF": "605",
    "XAF": "605",
    "RON": "4.6",
    "BGN": "1.8",
    "TWD": "31.5",
    "PKR": "280",
    "BDT": "110",
    "DOP": "58",
    "GTQ": "7.8",
    "CRC": "520",
    "UYU": "39",
    "MAD": "10",
    "QAR": "3.64",
}


@dataclass(frozen=True)
class Rate:
    currency: str
    rate_date: date
    units_per_usd: Decimal


class FxRates:
    """Daily rates per currency; lookups take the latest rate on or before the given date."""

    def __init__(self, rates: Iterable[Rate]) -> None:
        by_currency: dict[str, dict[date, Decimal]] = {}
        for r in rates:
            if r.units_per_usd <= 0:
                raise ValueError(f"{r.currency} on {r.rate_date}: units_per_usd must be > 0")
            by_currency.setdefault(r.currency, {})[r.rate_date] = r.units_per_usd
        self._days: dict[str, np.ndarray] = {}
        self._values: dict[str, list[Decimal]] = {}
        for currency, days in by_currency.items():
            ordered = sorted(days)
            self._days[currency] = np.array([d.toordinal() for d in ordered], dtype=np.int64)
            self._values[currency] = [days[d] for d in ordered]
        self._rates = [
            Rate(c, date.fromordinal(int(d)), v)
            for c in self._days
            for d, v in zip(self._days[c], self._values[c], strict=True)
        ]

    @classmethod
    @lru_cache(maxsize=1)
    def reference(cls) -> FxRates:
        """The bundled snapshot (approximate rates on 2026-01-01)."""
        return cls(Rate(c, REFERENCE_DATE, Decimal(v)) for c, v in REFERENCE_UNITS_PER_USD.items())

    @classmethod
    def from_table(cls, table: pa.Table) -> FxRates:
        """From an ``fx_rates`` table (rate_date, currency, units_per_usd)."""
        rows = table.select(["rate_date", "currency", "units_per_usd"]).to_pylist()
        return cls(
            Rate(str(r["currency"]), _as_date(r["rate_date"]), Decimal(str(r["units_per_usd"])))
            for r in rows
            if r["currency"] and r["rate_date"] is not None and r["units_per_usd"] is not None
        )

    def merged(self, other: FxRates) -> FxRates:
        """These rates and ``other``'s; on the same currency and day, ``other`` wins."""
        return FxRates([*self._rates, *other._rates])

    @property
    def currencies(self) -> list[str]:
        return sorted(self._days)

    def rate(self, currency: str, on: date) -> Decimal | None:
        """Units of ``currency`` per USD on ``on`` (the latest rate on or before it), or None."""
        if currency == BASE_CURRENCY:
            return Decimal(1)
        days = self._days.get(currency)
        if days is None:
            return None
        i = int(np.searchsorted(days, on.toordinal(), side="right")) - 1
        return self._values[currency][i] if i >= 0 else None

    def to_usd(self, amount: Decimal, currency: str, on: date) -> Decimal | None:
        """``amount`` of ``currency`` in USD (cents rounded half-even), or None without a rate."""
        rate = self.rate(currency, on)
        if rate is None:
            return None
        return (amount / rate).quantize(Decimal("0.01"))

    def converter(self) -> Callable[[float, str, date], float]:
        """``to_usd(amount, currency, on)`` as the fraud rules take it (``datapipe.fraud.ToUsd``):
        unrounded (the table path asks for the factor of 1 unit), LookupError without a rate."""

        def to_usd(amount: float, currency: str, on: date) -> float:
            rate = self.rate(currency, on)
            if rate is None:
                raise LookupError(f"no {currency} rate on or before {on}")
            return float(amount) / float(rate)

        return to_usd

    def to_usd_array(
        self,
        amounts: pa.Array | pa.ChunkedArray,
        currencies: pa.Array | pa.ChunkedArray,
        days: pa.Array | pa.ChunkedArray,
    ) -> pa.Array:
        """Vectorised ``to_usd`` as float64: amounts (numeric), currency codes, and dates or
        timestamps (their UTC date); null where any input is null or no rate is known."""
        amount = np.asarray(
            pc.fill_null(pc.cast(amounts, pa.float64()), np.nan).to_numpy(zero_copy_only=False)
        )
        if pa.types.is_timestamp(days.type):
            days = pc.cast(pc.cast(days, pa.timestamp("us")), pa.date32())
        ordinal = (
            np.asarray(
                pc.fill_null(pc.cast(days, pa.int32()), -1).to_numpy(zero_copy_only=False), dtype=np.int64
            )
            + date(1970, 1, 1).toordinal()
        )
        rate = np.full(len(amount), np.nan)
        day_known = np.asarray(pc.is_valid(days).to_numpy(zero_copy_only=False), dtype=bool)
        encoded = pc.dictionary_encode(currencies)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        codes = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        for i, currency in enumerate(encoded.dictionary.to_pylist()):
            rows = np.flatnonzero(codes == i)
            if currency == BASE_CURRENCY:
                rate[rows] = 1.0
                continue
            known = self._days.get(currency)
            if known is None or len(rows) == 0:
                continue
            at = np.searchsorted(known, ordinal[rows], side="right") - 1
            values = np.array([float(v) for v in self._values[currency]])
            found = at >= 0
            rate[rows[found]] = values[at[found]]
        rate[~day_known] = np.nan
        usd = amount / rate
        return pa.array(usd, type=pa.float64(), from_pandas=True)  # NaN -> null


def _as_date(value: object) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def load_published(store: ObjectStore, curated_bucket: str, latest_days: int = 10) -> FxRates:
    """The published ``fx_rates`` of the latest ``latest_days`` days in the curated table
    (partitions ``rate_day=YYYY-MM-DD``), merged over the bundled reference snapshot."""
    import io

    import pyarrow.parquet as pq

    prefix = "curated/fx_rates/"
    keys = [
        k for k in store.list_keys(curated_bucket, prefix) if k.endswith(".parquet") or "." not in k[-12:]
    ]
    days = sorted(
        {k[len(prefix) :].split("/", 1)[0] for k in keys if k[len(prefix) :].startswith("rate_day=")}
    )
    wanted = set(days[-latest_days:])
    tables = []
    for key in keys:
        part = key[len(prefix) :].split("/", 1)[0]
        if part in wanted:
            table = pq.read_table(io.BytesIO(store.get(curated_bucket, key).body))
            if "rate_date" not in table.column_names:
                table = table.append_column("rate_date", pa.array([part.split("=", 1)[1]] * table.num_rows))
            tables.append(table)
    rates = FxRates.reference()
    return (
        rates.merged(FxRates.from_table(pa.concat_tables(tables, promote_options="default")))
        if tables
        else rates
    )
