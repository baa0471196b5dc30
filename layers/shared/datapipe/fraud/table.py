"""Vectorised fraud scoring of a whole transactions table (numpy; no Python loop over rows).

Amounts are converted to USD (``to_usd``, one call per distinct currency and day) before any
threshold; time-of-day rules use the local hour (the row's UTC offset, else its state's zone).
Transactions are ordered by (event time, transaction id); a ``FraudHistory`` of earlier files
is merged in as context rows, so velocity and the usual amount see every earlier transaction
whichever file brought it, and the same transactions score the same however they are split.

Velocity: rows with a card are sorted by (card, time) -- one packed int64 argsort when it fits,
ties put in transaction-id order -- and each row's window start is found by one
``np.searchsorted`` over a monotone key in which different cards are more than a window apart.

Usual amount: the median of the account's previous ``usual_history`` positive USD amounts
(strictly before the transaction), read from a (rows x usual_history) window of the rows sorted
by (account, time), in chunks so memory stays bounded.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from datapipe.fraud.history import FraudHistory, ToUsd, txn_ref, updated_history
from datapipe.fraud.localtime import STATE_ZONES
from datapipe.fraud.localtime import _zone as _zone_info
from datapipe.fraud.rules import (
    ALERT_TEXT_FIELDS,
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
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
PARALLEL_MIN_ROWS = 100_000  # below this, starting two threads costs more than it saves
_ALERT_COLUMNS = ("transaction_id", "amount", *ALERT_TEXT_FIELDS)


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
    amount_usd: FloatArray | None = None  # NaN where the amount could not be converted
    local_hour: IntArray | None = None
    unconverted: int = 0  # rows with an amount but no USD rate: amount rules cannot fire on them

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
                amount_usd=None
                if self.amount_usd is None or np.isnan(self.amount_usd[i])
                else float(self.amount_usd[i]),
                local_hour=None if self.local_hour is None or not has_time[k] else int(self.local_hour[i]),
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


class _Ids:
    """A table's transaction ids (an Arrow array), then earlier files' context rows, which the
    history knows by ``txn_ref`` only. Equal times are ordered context rows first (in history
    order: they came in earlier files), then the table's rows by transaction id."""

    def __init__(self, arr: Any, n: int, extra: list[str] | None = None) -> None:
        self.arr = pa.nulls(n, pa.string()) if arr is None else pc.cast(arr, pa.string())
        self.extra = extra or []  # txn_refs of the context rows after the table's
        self._fresh: set[str] | None = None

    def concat(self, extra: list[str]) -> _Ids:
        return _Ids(self.arr, 0, [*self.extra, *extra])

    def get(self, rows: IntArray) -> list[str]:
        """The ids of table rows (not of context rows)."""
        return ["" if v is None else str(v) for v in self.arr.take(pa.array(rows)).to_pylist()]

    def tie_keys(self, rows: IntArray) -> list[str]:
        """What equal times are ordered by: context rows by position, then the table's by id."""
        n = len(self.arr)
        out = [""] * rows.shape[0]
        own = np.flatnonzero(rows < n)
        for k, v in zip(own.tolist(), self.arr.take(pa.array(rows[own])).to_pylist(), strict=True):
            out[k] = "\x01" + ("" if v is None else str(v))
        for k in np.flatnonzero(rows >= n).tolist():
            out[k] = f"\x00{int(rows[k]) - n:012d}"
        return out

    def rank(self, rows: IntArray) -> IntArray:
        order = np.asarray(pc.sort_indices(pa.array(self.tie_keys(rows), pa.string())), dtype=np.int64)
        rank = np.empty(order.size, dtype=np.int64)
        rank[order] = np.arange(order.size)
        return rank

    def fresh_refs(self) -> set[str]:
        """The ``txn_ref`` of the table's transactions (a history row among them is not earlier)."""
        if self._fresh is None:
            self._fresh = {txn_ref(v) for v in self.arr.to_pylist() if v}
        return self._fresh


def _ties_by_id(order: IntArray, keys: IntArray, rows: IntArray, ids: _Ids) -> IntArray:
    """After an unstable argsort, put rows with equal keys in ``_Ids.tie_keys`` order (ties are rare).
    ``order`` indexes ``rows``, which index ``ids``."""
    dup = keys[1:] == keys[:-1]
    if not dup.any():
        return order
    order = order.copy()
    starts = np.flatnonzero(np.concatenate(([True], ~dup)))
    ends = np.concatenate((starts[1:], [keys.shape[0]]))
    multi = (ends - starts) > 1
    for lo, hi in zip(starts[multi].tolist(), ends[multi].tolist(), strict=True):
        run = order[lo:hi]
        names = ids.tie_keys(rows[run])
        order[lo:hi] = run[sorted(range(hi - lo), key=lambda k: (names[k], int(run[k])))]
    return order


def _group_time_order(
    group: IntArray, t: IntArray, rows: IntArray, ids: _Ids, gap_us: int
) -> tuple[IntArray, IntArray]:
    """(order, key): ``rows`` sorted by (group, time, id), and a monotone int64 key in which rows of
    different groups are more than ``gap_us`` apart and in-group time distances are exact."""
    t0 = int(t.min())
    time_bits = (int(t.max()) - t0 + gap_us + 1).bit_length()
    if int(group.max()).bit_length() + time_bits <= 62:
        key = (group << time_bits) | (t - t0)
        order = np.argsort(key)
        key = key[order]
        return _ties_by_id(order, key, rows, ids), key
    order = np.lexsort((ids.rank(rows), t, group))  # stable: equal (group, time) in tie_keys order
    gs, ts = group[order], t[order]
    gap = np.empty(order.size, dtype=np.int64)
    gap[0] = gap_us + 1
    np.minimum(np.diff(ts), gap_us + 1, out=gap[1:])
    gap[1:][gs[1:] != gs[:-1]] = gap_us + 1
    return order, np.cumsum(gap)


def card_velocity(
    card: IntArray, micros: IntArray, valid_time: BoolArray, window_us: int, ids: _Ids | None = None
) -> npt.NDArray[np.int32]:
    """Per row: transactions on its card within [t - window, t], itself and earlier ones included
    (equal times count in ``_Ids.tie_keys`` order); 1 for rows without a card or a time."""
    n = card.shape[0]
    out = np.ones(n, dtype=np.int32)
    rows = np.flatnonzero((card >= 0) & valid_time)
    if rows.size == 0:
        return out
    order, key = _group_time_order(card[rows], micros[rows], rows, ids or _Ids(None, n), window_us)
    start = np.searchsorted(key, key - window_us, side="left")
    out[rows[order]] = (np.arange(rows.size) - start + 1).astype(np.int32)
    return out


USUAL_CHUNK = 131_072


def usual_amounts(
    account: IntArray, micros: IntArray, eligible: BoolArray, usd: FloatArray, ids: _Ids, keep: int
) -> tuple[FloatArray, IntArray]:
    """Per row: median of the account's previous ``keep`` eligible USD amounts (strictly before
    it in (time, ``_Ids.tie_keys``) order; NaN when none) and how many it used. Every row with an account
    and a time gets a value; only ``eligible`` rows (positive USD amounts) are in the history."""
    n = account.shape[0]
    median = np.full(n, np.nan)
    count = np.zeros(n, dtype=np.int64)
    rows = np.flatnonzero(account >= 0)
    if rows.size == 0:
        return median, count
    order, _ = _group_time_order(account[rows], micros[rows], rows, ids, 1)
    sorted_rows = rows[order]
    g = account[sorted_rows]
    ok = eligible[sorted_rows]
    vals = np.where(ok, usd[sorted_rows], np.inf)
    # eligible rows strictly before each row (in sorted order), and at the start of its group
    elig_vals = vals[ok]
    before: IntArray = np.cumsum(ok, dtype=np.int64) - ok.astype(np.int64)
    first = np.flatnonzero(np.concatenate(([True], g[1:] != g[:-1])))
    group_start: IntArray = np.repeat(before[first], np.diff(np.concatenate((first, [g.size]))))
    available = np.minimum(before - group_start, keep)
    steps = np.arange(1, keep + 1)
    result = np.full(sorted_rows.size, np.nan)
    # rows grouped by how many earlier amounts they have: each group's window is (rows x c), and
    # np.partition finds its middle order statistics without sorting every window
    for c in range(1, keep + 1):
        sel_all = np.flatnonzero(available == c)
        lo_k, hi_k = (c - 1) // 2, c // 2
        for lo in range(0, sel_all.size, USUAL_CHUNK):
            sel = sel_all[lo : lo + USUAL_CHUNK]
            window = elig_vals[before[sel, None] - steps[None, :c]]
            part = np.partition(window, [lo_k, hi_k] if lo_k != hi_k else lo_k, axis=1)
            result[sel] = (part[:, lo_k] + part[:, hi_k]) / 2
    median[sorted_rows] = result
    count[sorted_rows] = available
    return median, count


def _usd(
    amounts: _Amounts, currency: Any, micros: IntArray, has_time: BoolArray, n: int, to_usd: ToUsd | None
) -> tuple[FloatArray, BoolArray, int]:
    """USD value of each amount: one ``to_usd`` call per distinct (currency, UTC day). Without a
    converter only USD rows convert. Returns (usd, has_usd, rows that had an amount but no rate)."""
    usd = np.full(n, np.nan)
    if currency is None:
        return usd, np.zeros(n, dtype=bool), int(amounts.valid.sum())
    codes = _codes(currency, n)
    names = pc.dictionary_encode(currency).dictionary.to_pylist()
    day = micros // 86_400_000_000
    usable = (codes >= 0) & has_time & amounts.valid
    d0 = int(day[usable].min()) if usable.any() else 0
    days = int(day[usable].max()) - d0 + 1 if usable.any() else 1
    pair = np.where(usable, codes * days + (day - d0), 0)
    present = np.zeros(max(1, len(names) * days), dtype=bool)
    present[pair[usable]] = True
    factors = np.full(present.size, np.nan)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for p in np.flatnonzero(present).tolist():
        name = names[p // days]
        on = (epoch + timedelta(days=d0 + p % days)).date()
        if to_usd is None:
            factors[p] = 1.0 if name == "USD" else np.nan
            continue
        try:
            factors[p] = float(to_usd(1.0, name, on))
        except (LookupError, ValueError, ArithmeticError):
            factors[p] = np.nan
    factors_of_rows = np.where(usable, factors[pair], np.nan)
    usd = amounts.values * factors_of_rows
    has_usd = amounts.valid & np.isfinite(usd)
    return np.where(has_usd, usd, np.nan), has_usd, int((amounts.valid & ~has_usd).sum())


def _local_hours(table: pa.Table, micros: IntArray, has_time: BoolArray, n: int) -> IntArray:
    hour = micros // _US_PER_HOUR % 24
    offsets = _column(table, "event_utc_offset_minutes")
    has_offset = _valid(offsets) if offsets is not None else np.zeros(n, dtype=bool)
    states = _column(table, "location_state")
    if states is not None and (~has_offset).any():
        country = _column(table, "location_country")
        in_us = np.ones(n, dtype=bool) if country is None else _is_in(country, ("US",), n) | ~_valid(country)
        codes = _codes(states, n)
        names = pc.dictionary_encode(states).dictionary.to_pylist()
        zones = sorted({STATE_ZONES[s] for s in names if s in STATE_ZONES})
        zone_of_code = np.array(
            [zones.index(STATE_ZONES[s]) if s in STATE_ZONES else -1 for s in names] or [-1]
        )
        zone = np.where(codes >= 0, zone_of_code[np.maximum(codes, 0)], -1)
        zone = np.where(in_us & ~has_offset & has_time, zone, -1)
        # a zone's UTC offset changes only at DST transitions: one lookup per (zone, UTC hour)
        rows = np.flatnonzero(zone >= 0)
        if rows.size:
            epoch_hour = micros[rows] // _US_PER_HOUR
            h0 = int(epoch_hour.min())
            span = int(epoch_hour.max()) - h0 + 1
            pair = zone[rows] * span + (epoch_hour - h0)
            present = np.zeros(len(zones) * span, dtype=bool)
            present[pair] = True
            offset_us = np.zeros(present.size, dtype=np.int64)
            for p in np.flatnonzero(present).tolist():
                at = _EPOCH_UTC + timedelta(hours=h0 + p % span)
                delta = at.astimezone(_zone_info(zones[p // span])).utcoffset()
                offset_us[p] = 0 if delta is None else int(delta.total_seconds()) * 1_000_000
            inverse = pair
            hour[rows] = (micros[rows] + offset_us[inverse]) // _US_PER_HOUR % 24
    if offsets is not None and has_offset.any():
        minutes = np.asarray(
            offsets.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64
        )
        shifted = (micros + minutes * 60_000_000) // _US_PER_HOUR % 24
        hour = np.where(has_offset, shifted, hour)
    return hour


def score_table(
    table: pa.Table,
    policy: FraudPolicy = DEFAULT_POLICY,
    to_usd: ToUsd | None = None,
    history: FraudHistory | None = None,
) -> ScoredTransactions:
    """Score every row of a transactions table (missing columns never fire).

    ``to_usd``: converts each amount to USD before the thresholds (without it only USD rows have
    a USD amount; the rest are counted in ``unconverted``). ``history``: earlier files' card
    times and account amounts (``FraudHistory``), so the rules see across files."""
    n = table.num_rows
    amounts = _amounts(_column(table, "amount"), n)
    micros, has_time = _micros(_column(table, "event_time"), n)
    usd, has_usd, unconverted = _usd(amounts, _column(table, "currency"), micros, has_time, n, to_usd)
    ids = _Ids(_column(table, "transaction_id"), n)
    card_col, account_col = _column(table, "card_id"), _column(table, "account_id")

    def by_card() -> tuple[IntArray, npt.NDArray[np.int32]]:
        card = _codes(card_col, n)
        if history is None or not history.cards or card_col is None:
            return card, card_velocity(card, micros, has_time, policy.velocity_window_us, ids)
        names = pc.dictionary_encode(card_col).dictionary
        ctx_cards, ctx_t, ctx_ids = history.card_rows(names.to_pylist())
        fresh = ids.fresh_refs()
        keep = [k for k, i in enumerate(ctx_ids) if i not in fresh]
        ctx_code = np.asarray(
            pc.index_in(pa.array([ctx_cards[k] for k in keep], pa.string()), names), dtype=np.int64
        )
        all_card = np.concatenate((card, ctx_code))
        all_t = np.concatenate((micros, np.asarray([ctx_t[k] for k in keep], dtype=np.int64)))
        all_valid = np.concatenate((has_time, np.ones(len(keep), dtype=bool)))
        all_ids = ids.concat([ctx_ids[k] for k in keep])
        return card, card_velocity(all_card, all_t, all_valid, policy.velocity_window_us, all_ids)[:n]

    def by_account() -> tuple[FloatArray, IntArray]:
        account = np.where(has_time, _codes(account_col, n), -1)
        eligible = has_usd & (usd > 0) & has_time
        if history is None or not history.accounts or account_col is None:
            return usual_amounts(account, micros, eligible, usd, ids, policy.usual_history)
        names = pc.dictionary_encode(account_col).dictionary
        ctx_acc, ctx_t, ctx_ids, ctx_usd = history.account_rows(names.to_pylist())
        fresh = ids.fresh_refs()
        keep = [k for k, i in enumerate(ctx_ids) if i not in fresh]
        code = np.asarray(
            pc.index_in(pa.array([ctx_acc[k] for k in keep], pa.string()), names), dtype=np.int64
        )
        median, count = usual_amounts(
            np.concatenate((account, code)),
            np.concatenate((micros, np.asarray([ctx_t[k] for k in keep], dtype=np.int64))),
            np.concatenate((eligible, np.ones(len(keep), dtype=bool))),
            np.concatenate(
                (np.where(eligible, usd, 0.0), np.asarray([ctx_usd[k] for k in keep], dtype=float))
            ),
            ids.concat([ctx_ids[k] for k in keep]),
            policy.usual_history,
        )
        return median[:n], count[:n]

    # the two grouped rules (string hashing + sorting, mostly releasing the GIL) run side by side
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
    hour = _local_hours(table, micros, has_time, n)
    start, end = policy.night_hours
    night = (hour >= start) & (hour < end) if start <= end else (hour >= start) | (hour < end)
    risky = _is_in(_column(table, "merchant_category"), policy.risky_categories, n)
    card_present = _is_in(channel, policy.card_present_channels, n)
    atm = _is_in(channel, ("ATM",), n)

    if pool is not None and card_job is not None and account_job is not None:
        with pool:
            (card, velocity), (median, history_n) = card_job.result(), account_job.result()
    else:
        (card, velocity), (median, history_n) = by_card(), by_account()
    amount = np.where(has_usd, usd, 0.0)
    with np.errstate(invalid="ignore"):
        above_usual = amount > policy.account_multiple * median  # NaN median compares False
    fired = (
        has_usd & (amount > policy.high_amount) & out_of_state,
        (card >= 0) & has_time & (velocity >= policy.velocity_count),
        has_usd & (history_n >= policy.min_history) & above_usual,
        risky,
        has_usd & has_time & card_present & night & (amount > policy.night_amount),
        has_usd & atm & (amount > policy.atm_large),
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
    return ScoredTransactions(
        score, codes, bits, list(RULES), velocity, median, history_n, policy, usd, hour, unconverted
    )


def history_delta(table: pa.Table, scored: ScoredTransactions) -> FraudHistory:
    """This table's rows as profile updates (card times, positive USD amounts): what
    ``DynamoFraudProfiles.save`` merges into the stored profiles after a file is scored."""
    return merged_history(None, table, scored)


def merged_history(history: FraudHistory | None, table: pa.Table, scored: ScoredTransactions) -> FraudHistory:
    """The history to score the next file with: ``history`` plus this table's rows."""
    n = table.num_rows
    micros, has_time = _micros(_column(table, "event_time"), n)
    usd = scored.amount_usd if scored.amount_usd is not None else np.full(n, np.nan)
    card, account = _column(table, "card_id"), _column(table, "account_id")
    return updated_history(
        history or FraudHistory(),
        [None] * n if card is None else card.to_pylist(),
        [None] * n if account is None else account.to_pylist(),
        _Ids(_column(table, "transaction_id"), n).get(np.arange(n)),
        micros,
        has_time,
        usd,
        np.isfinite(usd),
        scored.policy.usual_history,
    )
