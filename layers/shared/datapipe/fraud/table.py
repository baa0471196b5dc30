"""Vectorised fraud scoring of a whole transactions table (numpy; no Python loop over rows).

Velocity: rows with a card are sorted by (card, time, row) and each row's window start is found by
one ``np.searchsorted`` over a monotone int64 key in which rows of different cards are always more
than a window apart. Usually the key packs (card code, time) into one int64, with time bits to
spare beyond a window, and one SIMD argsort orders it; when it cannot fit (huge time spans), the
key is the running sum of time gaps, each gap -- and every card boundary -- clamped to window + 1
microsecond: in-window distances stay exact and the sum stays below rows x (window + 1).
Ties in time count in row order: the 4th of four simultaneous swipes is the 4th transaction.

Account median: rows sorted by (account, amount) -- one packed int64 sort of (account, cents)
for decimal amounts -- and the exact median of each account read at the group offsets (mean of
the two middle values for an even count), over all the account's transactions in the table, the
current one included.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from datapipe.fraud.rules import (
    DEFAULT_POLICY,
    RULES,
    SEVERITIES,
    Facts,
    FraudAlert,
    FraudPolicy,
    amount_value,
    make_alert,
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
_US_PER_HOUR = 3_600_000_000
PARALLEL_MIN_ROWS = 100_000  # below this, starting two threads costs more than it saves
_ALERT_COLUMNS = (
    "transaction_id",
    "account_id",
    "card_id",
    "customer_id",
    "amount",
    "currency",
    "merchant",
    "merchant_category",
    "channel",
    "location_state",
    "home_state",
    "account_type",
)


@dataclass(frozen=True)
class ScoredTransactions:
    """Scores of a table, row-aligned with it; ``alerts`` turns the flagged rows into FraudAlerts.

    ``rules`` is a bitmask per row, bit i meaning ``rule_names[i]`` fired. ``velocity``,
    ``account_median`` (NaN when unknown) and ``account_history`` are the numbers the rules saw,
    kept so each alert can say them.
    """

    score: FloatArray
    severity: npt.NDArray[np.uint8]  # index into SEVERITIES
    rules: npt.NDArray[np.uint16]
    rule_names: list[str]
    velocity: npt.NDArray[np.int32]
    account_median: FloatArray
    account_history: IntArray
    policy: FraudPolicy

    def __len__(self) -> int:
        return int(self.score.shape[0])

    def fired(self, rule: str) -> BoolArray:
        """Rows where ``rule`` fired."""
        bit = self.rule_names.index(rule)
        return (self.rules >> np.uint16(bit) & 1).astype(bool)

    def alert_rows(self, min_severity: str = "LOW") -> IntArray:
        """Row indices with at least one fired rule and a severity at or above ``min_severity``."""
        if min_severity not in SEVERITIES:
            raise ValueError(f"min_severity must be one of {SEVERITIES}, not {min_severity!r}")
        floor = SEVERITIES.index(min_severity)
        return np.flatnonzero((self.rules != 0) & (self.severity >= floor)).astype(np.int64)

    def severity_counts(self) -> dict[str, int]:
        """Alerts (rows with a fired rule) per severity."""
        codes = np.bincount(self.severity[self.rules != 0], minlength=len(SEVERITIES))
        return {name: int(codes[i]) for i, name in enumerate(SEVERITIES)}

    def alerts(self, table: pa.Table, min_severity: str = "LOW") -> list[FraudAlert]:
        """One alert per flagged row of ``table`` (the table that was scored), in row order."""
        if table.num_rows != len(self):
            raise ValueError(f"table has {table.num_rows} rows, scores have {len(self)}")
        rows = self.alert_rows(min_severity)
        if rows.size == 0:
            return []
        present = [c for c in _ALERT_COLUMNS if c in table.column_names]
        timed = ["event_time"] if "event_time" in table.column_names else []
        flagged = table.select(present + timed).take(pa.array(rows))
        records = flagged.select(present).to_pylist()
        micros, has_time = _micros(_column(flagged, "event_time"), rows.size)
        out: list[FraudAlert] = []
        for k, (i, record) in enumerate(zip(rows.tolist(), records, strict=True)):
            parsed = amount_value(record.get("amount"))
            median = float(self.account_median[i])
            facts = Facts(
                amount_text="" if parsed is None else parsed[0],
                currency=record.get("currency"),
                location_state=record.get("location_state"),
                home_state=record.get("home_state"),
                card_id=record.get("card_id"),
                channel=record.get("channel"),
                merchant=record.get("merchant"),
                merchant_category=record.get("merchant_category"),
                velocity=int(self.velocity[i]),
                account_median=None if np.isnan(median) else median,
                account_history=int(self.account_history[i]),
                event_us=int(micros[k]) if has_time[k] else None,
            )
            out.append(make_alert(record, int(self.rules[i]), float(self.score[i]), facts, self.policy))
        return out


def _column(table: pa.Table, name: str) -> Any:
    """The column as one Array (dictionary-decoded), or None if the table lacks it."""
    if name not in table.column_names:
        return None
    col = table.column(name)
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    if pa.types.is_dictionary(arr.type):
        arr = arr.cast(arr.type.value_type)
    return arr


def _codes(arr: Any, n: int) -> IntArray:
    """Integer code per distinct string, -1 for null or empty (never grouped together)."""
    if arr is None:
        return np.full(n, -1, dtype=np.int64)
    encoded = pc.dictionary_encode(arr)
    codes: IntArray = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    empty = pc.index(encoded.dictionary, "").as_py()
    if empty >= 0:
        codes[codes == empty] = -1
    return codes


def _mask(arr: Any, n: int) -> BoolArray:
    """Boolean array with nulls as False."""
    if arr is None:
        return np.zeros(n, dtype=bool)
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _is_in(arr: Any, values: tuple[str, ...], n: int) -> BoolArray:
    if arr is None or not values:
        return np.zeros(n, dtype=bool)
    return _mask(pc.is_in(arr, value_set=pa.array(list(values), type=arr.type)), n)


def _valid(arr: Any) -> BoolArray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class _Amounts:
    values: FloatArray  # 0.0 where invalid
    valid: BoolArray
    units: IntArray | None  # exact scaled integers (cents) when read from decimal128
    divisor: float  # values == units / divisor


def _amounts(arr: Any, n: int) -> _Amounts:
    """Amounts as float64 and their validity. decimal128 up to 18 digits is read exactly as scaled
    integers from its buffer and divided once, so the float is the correctly rounded decimal."""
    if arr is None:
        return _Amounts(np.zeros(n), np.zeros(n, dtype=bool), None, 1.0)
    units: IntArray | None = None
    divisor = 1.0
    if pa.types.is_decimal128(arr.type) and arr.type.precision <= 18 and n > 0:
        words = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=2 * (arr.offset + n))
        divisor = float(10**arr.type.scale)
        units = words[2 * arr.offset :: 2]
        values = units / divisor
    else:
        values = np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False))
    valid = _valid(arr) & np.isfinite(values)
    if units is not None:
        units = np.where(valid, units, 0)
    return _Amounts(np.where(valid, values, 0.0), valid, units, divisor)


def _micros(arr: Any, n: int) -> tuple[IntArray, BoolArray]:
    """Epoch microseconds (UTC; a naive timestamp is taken as UTC) and their validity."""
    if arr is None:
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)
    if not pa.types.is_timestamp(arr.type) or arr.type.unit != "us":
        arr = pc.cast(arr, pa.timestamp("us", tz="UTC"))
    values = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return values, _valid(arr)


def _ties_in_row_order(order: IntArray, keys: IntArray) -> IntArray:
    """After an unstable argsort, put rows with equal keys back in row order (ties are rare)."""
    dup = keys[1:] == keys[:-1]
    if not dup.any():
        return order
    in_tie = np.zeros(keys.shape[0], dtype=bool)
    in_tie[1:] |= dup
    in_tie[:-1] |= dup
    pos = np.flatnonzero(in_tie)  # whole runs of equal keys, already in key order
    order = order.copy()
    order[pos] = order[pos][np.lexsort((order[pos], keys[pos]))]
    return order


def card_velocity(
    card: IntArray, micros: IntArray, valid_time: BoolArray, window_us: int
) -> npt.NDArray[np.int32]:
    """Per row: transactions on its card within [t - window, t], itself and earlier rows included
    (ties in time count in row order); 1 for rows without a card or a time."""
    n = card.shape[0]
    out = np.ones(n, dtype=np.int32)
    rows = np.flatnonzero((card >= 0) & valid_time)
    if rows.size == 0:
        return out
    c, t = card[rows], micros[rows]
    t0 = int(t.min())
    time_bits = (int(t.max()) - t0 + window_us + 1).bit_length()
    if int(c.max()).bit_length() + time_bits <= 62:
        # fast path: one packed int64 key (card, time) with card boundaries more than a window apart
        key = (c << time_bits) | (t - t0)
        order = np.argsort(key)  # unstable but SIMD-fast; ties are put back in row order below
        key = key[order]
        order = _ties_in_row_order(order, key)
    else:
        order = np.lexsort((t, c))  # stable: ties keep row order
        cs, ts = c[order], t[order]
        gap = np.empty(rows.size, dtype=np.int64)
        gap[0] = window_us + 1
        np.minimum(np.diff(ts), window_us + 1, out=gap[1:])
        gap[1:][cs[1:] != cs[:-1]] = window_us + 1
        key = np.cumsum(gap)
    start = np.searchsorted(key, key - window_us, side="left")
    out[rows[order]] = (np.arange(rows.size) - start + 1).astype(np.int32)
    return out


def account_medians(account: IntArray, amounts: _Amounts) -> tuple[FloatArray, IntArray]:
    """Per row: the exact median amount of its account (NaN if none) and how many amounts it uses."""
    n = account.shape[0]
    median = np.full(n, np.nan)
    history = np.zeros(n, dtype=np.int64)
    rows = np.flatnonzero((account >= 0) & amounts.valid)
    if rows.size == 0:
        return median, history
    a = account[rows]
    groups = int(account.max()) + 1
    xs: FloatArray | None = None
    if amounts.units is not None:
        u = amounts.units[rows]
        u0 = int(u.min())
        unit_bits = (int(u.max()) - u0).bit_length()
        if (groups - 1).bit_length() + unit_bits <= 62:
            # fast path: sort one packed int64 key (account, amount units); no argsort needed
            packed = np.sort((a << unit_bits) | (u - u0))
            xs = ((packed & ((1 << unit_bits) - 1)) + u0) / amounts.divisor
    if xs is None:
        x = amounts.values[rows]
        xs = x[np.lexsort((x, a))]
    counts = np.bincount(a, minlength=groups)
    starts = np.cumsum(counts) - counts
    present = counts > 0
    lo = starts[present] + (counts[present] - 1) // 2
    hi = starts[present] + counts[present] // 2
    per_group = np.full(groups, np.nan)
    per_group[present] = (xs[lo] + xs[hi]) / 2
    has = account >= 0
    median[has] = per_group[account[has]]
    history[has] = counts[account[has]]
    return median, history


def score_table(table: pa.Table, policy: FraudPolicy = DEFAULT_POLICY) -> ScoredTransactions:
    """Score every row of a transactions table with the policy's rules (missing columns never fire)."""
    n = table.num_rows
    amounts = _amounts(_column(table, "amount"), n)
    amount, has_amount = amounts.values, amounts.valid
    micros, has_time = _micros(_column(table, "event_time"), n)

    def by_card() -> tuple[IntArray, npt.NDArray[np.int32]]:
        card = _codes(_column(table, "card_id"), n)
        return card, card_velocity(card, micros, has_time, policy.velocity_window_us)

    def by_account() -> tuple[FloatArray, IntArray]:
        return account_medians(_codes(_column(table, "account_id"), n), amounts)

    # the two grouped rules (string hashing + sorting, both release the GIL) run side by side
    pool = ThreadPoolExecutor(max_workers=2) if n >= PARALLEL_MIN_ROWS else None
    card_job = pool.submit(by_card) if pool else None
    account_job = pool.submit(by_account) if pool else None

    location, home = _column(table, "location_state"), _column(table, "home_state")
    channel = _column(table, "channel")
    out_of_state = (
        np.zeros(n, dtype=bool)
        if location is None or home is None
        else _mask(pc.not_equal(location, home), n)
    )
    hour = micros // _US_PER_HOUR % 24
    start, end = policy.night_hours
    night = (hour >= start) & (hour < end) if start <= end else (hour >= start) | (hour < end)
    risky = _is_in(_column(table, "merchant_category"), policy.risky_categories, n)
    card_present = _is_in(channel, policy.card_present_channels, n)
    atm = _is_in(channel, ("ATM",), n)

    if pool is not None and card_job is not None and account_job is not None:
        with pool:
            (card, velocity), (median, history) = card_job.result(), account_job.result()
    else:
        (card, velocity), (median, history) = by_card(), by_account()
    with np.errstate(invalid="ignore"):
        above_usual = amount > policy.account_multiple * median  # NaN median compares False
    fired = (
        has_amount & (amount > policy.high_amount) & out_of_state,
        (card >= 0) & has_time & (velocity >= policy.velocity_count),
        has_amount & (history >= policy.min_history) & above_usual,
        risky,
        has_amount & has_time & card_present & night & (amount > policy.night_amount),
        has_amount & atm & (amount > policy.atm_large),
    )
    bits = np.zeros(n, dtype=np.uint16)
    score = np.zeros(n)
    for bit, (mask, weight) in enumerate(zip(fired, policy.weights, strict=True)):
        bits |= mask.astype(np.uint16) << np.uint16(bit)
        # noisy-OR, the same float operations in the same order as rules.combine
        score = np.where(mask, score + weight * (1.0 - score), score)
    codes = (
        (score > policy.medium).astype(np.uint8)
        + (score > policy.high).astype(np.uint8)
        + (score > policy.critical).astype(np.uint8)
    )
    return ScoredTransactions(score, codes, bits, list(RULES), velocity, median, history, policy)
