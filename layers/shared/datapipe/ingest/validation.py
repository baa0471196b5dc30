"""Vectorised row validation against a contract (Arrow compute, no per-row Python on valid rows).

Every rule yields a boolean mask over the batch; a row is rejected when any mask is set for it.
Only the rejected rows are visited in Python, to write their reasons. Unique columns are checked
last, among rows that pass every other rule, so exactly one copy of a duplicated key survives.
"""

from __future__ import annotations

import heapq
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import islice
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datapipe.contracts import ColumnSpec, DatasetContract, RowRule
from datapipe.ingest.reader import RawBatch, RowReject
from datapipe.ingest.unique import DEFAULT_MEMORY_BYTES, SeenKeys, fingerprints
from datapipe.reference import CURRENCY_MINOR_UNITS, reference_set
from datapipe.reference.codes import DESCRIPTIONS
from datapipe.reference.fx import FxRates

INT_RE = r"^[+-]?\d{1,18}$"
FLOAT_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-](0\d|1[0-4]):[0-5]\d)$"
DATE_RE = r"^\d{4}-\d{2}-\d{2}$"
# Publishable range: Parquet holds more, but publish goes through pandas (nanoseconds: 1677-2262);
# a year-0000 value once passed ingest and crashed publish.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
BOOL_TRUE = ["true", "1", "yes"]
BOOL_FALSE = ["false", "0", "no"]

LINEAGE_COLUMNS = (
    "lineage_source_key",
    "lineage_source_version",
    "lineage_source_etag",
    "lineage_ingest_run_id",
    "lineage_source_row",
)


@dataclass
class Lineage:
    source_key: str
    source_version: str
    source_etag: str
    ingest_run_id: str


@dataclass
class FileContext:
    """What validation carries from one batch of a file to the next, and what row rules need
    besides the row: when the file arrived (clock skew, maximum age) and the USD rates."""

    arrival: datetime | None = None
    fx: FxRates = field(default_factory=FxRates.reference)
    seen: dict[str, SeenKeys] = field(default_factory=dict)
    unique_memory_bytes: int = DEFAULT_MEMORY_BYTES
    """Per unique column, in-memory uniqueness state before it spills to disk (IngestLimits)."""

    def seen_keys(self, column: str) -> SeenKeys:
        if column not in self.seen:
            self.seen[column] = SeenKeys(self.unique_memory_bytes)
        return self.seen[column]

    def close(self) -> None:
        """Frees the uniqueness state and removes its spill files (the file is done, or failed)."""
        for keys in self.seen.values():
            keys.close()

    def __enter__(self) -> FileContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Failure:
    column: str | None
    rule: str
    mask: np.ndarray
    message: str


REJECT_CHUNK_ROWS = 4_096
"""Rejects are materialised (RowReject objects, then JSON) at most this many rows at a time."""


@dataclass
class ValidationResult:
    """One batch's outcome. Rejected rows are kept as columns and masks, not as Python objects:
    ``reject_chunks`` builds their RowRejects a chunk at a time, so that a batch in which every
    row is rejected costs one chunk of Python objects, not one per row."""

    valid: pa.Table
    rows_in: int
    rows_rejected: int
    rejects_by_rule: Counter[str] = field(default_factory=Counter)
    null_counts: dict[str, int] = field(default_factory=dict)
    pending: _RejectRows | None = field(default=None, repr=False)

    @property
    def rows_valid(self) -> int:
        return int(self.valid.num_rows)

    def reject_chunks(self, size: int = REJECT_CHUNK_ROWS) -> Iterator[list[RowReject]]:
        """The batch's rejects in source-row order, ``size`` at a time."""
        if self.pending is not None:
            yield from self.pending.chunks(size)

    @property
    def rejects(self) -> list[RowReject]:
        """Every reject of the batch at once (tests, small batches); ingest streams ``reject_chunks``."""
        return [r for chunk in self.reject_chunks() for r in chunk]


def arrow_type(col: ColumnSpec) -> pa.DataType:
    return {
        "string": pa.string(),
        "int": pa.int64(),
        "decimal": pa.decimal128(col.precision, col.scale),
        "float": pa.float64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "date": pa.date32(),
        "bool": pa.bool_(),
    }[col.type]


def _mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Boolean Arrow array -> numpy bool, nulls as False (bitmaps unpacked directly)."""
    if isinstance(arr, pa.BooleanArray) and len(arr):
        validity, values = arr.buffers()
        end = arr.offset + len(arr)
        bits = np.unpackbits(np.frombuffer(values, dtype=np.uint8), count=end, bitorder="little")
        if validity is not None and arr.null_count:
            bits &= np.unpackbits(np.frombuffer(validity, dtype=np.uint8), count=end, bitorder="little")
        return bits[arr.offset :].view(bool)
    filled = pc.fill_null(arr, False)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def _layout(arr: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray] | None:
    """Value offsets and data bytes of a binary/string array, or None for other layouts."""
    if not isinstance(arr, pa.Array) or not (pa.types.is_binary(arr.type) or pa.types.is_string(arr.type)):
        return None
    _, offsets_buf, data_buf = arr.buffers()
    if offsets_buf is None:
        return None
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    return offsets, data


def _decode_per_value(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Python decode of every value: the reference behaviour, kept for layouts _layout cannot read."""
    bad = np.zeros(len(arr), dtype=bool)
    decoded: list[str | None] = []
    for i, raw in enumerate(arr.to_pylist()):
        try:
            decoded.append(raw.decode("utf-8") if raw is not None else None)
        except UnicodeDecodeError:
            decoded.append(None)
            bad[i] = True
    return pa.array(decoded, type=pa.string()), bad


def _decode_invalid_utf8(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Binary column holding invalid UTF-8 -> strings with the undecodable values as null.

    Only values containing a byte >= 0x80 can be invalid, so only those (found with numpy) are
    decoded in Python; the rest of the column is cast in one vectorised step.
    """
    layout = _layout(arr)
    if layout is None:
        return _decode_per_value(arr)
    offsets, data = layout
    high = np.flatnonzero(data[offsets[0] : offsets[-1]] >= 0x80) + offsets[0]
    rows = np.unique(np.searchsorted(offsets, high, side="right") - 1)
    bad = np.zeros(len(arr), dtype=bool)
    for i, raw in zip(rows.tolist(), arr.take(pa.array(rows, type=pa.int64())).to_pylist(), strict=True):
        if raw is None:
            continue
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            bad[i] = True
    try:
        text = pc.if_else(pa.array(bad), pa.scalar(None, arr.type), arr).cast(pa.string())
    except pa.ArrowInvalid:  # Arrow and Python disagree on some byte sequence: trust Python
        return _decode_per_value(arr)
    return text, bad


def _blank_to_null(text: pa.Array) -> pa.Array:
    """'' -> null by rewriting the validity bitmap (no copy of the values)."""
    layout = _layout(text)
    if layout is None or not pa.types.is_string(text.type):
        return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    offsets, _ = layout
    empty = offsets[1:] == offsets[:-1]
    if not empty.any():
        return text
    keep = ~empty & _mask(pc.is_valid(text))
    bits = np.zeros(text.offset + len(text), dtype=bool)
    bits[text.offset :] = keep
    validity = pa.py_buffer(np.packbits(bits, bitorder="little"))
    buffers = text.buffers()
    return pa.Array.from_buffers(
        pa.string(), len(text), [validity, buffers[1], buffers[2]], offset=text.offset
    )


def _to_text(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Binary/string -> trimmed UTF-8 strings with '' as null, plus a mask of invalid UTF-8."""
    bad = np.zeros(len(arr), dtype=bool)
    if pa.types.is_binary(arr.type):
        ascii_text = _ascii_as_string(arr)
        try:
            text = ascii_text if ascii_text is not None else arr.cast(pa.string())
        except pa.ArrowInvalid:
            text, bad = _decode_invalid_utf8(arr)
    else:
        text = arr
    if _may_need_trim(text):
        text = pc.utf8_trim_whitespace(text)
    return _blank_to_null(text), bad


def _ascii_as_string(arr: pa.Array) -> pa.Array | None:
    """A binary column of ASCII bytes only, as strings sharing its buffers (ASCII is valid UTF-8,
    so the validating cast would copy the values to change nothing); None otherwise."""
    layout = _layout(arr)
    if layout is None:
        return None
    offsets, data = layout
    body = data[offsets[0] : offsets[-1]]
    if len(body) and int(body.max()) >= 0x80:
        return None
    return pa.Array.from_buffers(pa.string(), len(arr), arr.buffers(), arr.null_count, arr.offset)


def _may_need_trim(text: pa.Array) -> bool:
    """False when no value can start or end with whitespace, so trimming would change nothing.

    Every character ``utf8_trim_whitespace`` removes is ASCII at most 0x20 or a multi-byte
    character (lead byte >= 0xC2, last byte >= 0x80): values whose first and last bytes are
    printable ASCII are left as they are.
    """
    layout = _layout(text)
    if layout is None:
        return True
    offsets, data = layout
    if offsets[-1] == offsets[0]:
        return False
    # an empty value reads a neighbour's byte instead: at worst a trim that was not needed
    edges = np.concatenate((data.take(offsets[:-1], mode="clip"), data.take(offsets[1:] - 1, mode="clip")))
    return bool(((edges - np.uint8(0x21)) >= 0x5F).any())  # outside 0x21-0x7F


def _longest_bytes(text: pa.Array) -> int:
    """Bytes of the longest value (an upper bound on its characters); -1 for an empty array."""
    layout = _layout(text)
    if layout is None:
        return int(pc.max(pc.binary_length(text)).as_py() or 0) if len(text) else -1
    offsets, _ = layout
    return int(np.diff(offsets).max()) if len(offsets) > 1 else -1


def _decimal_re(col: ColumnSpec) -> str:
    whole = col.precision - col.scale
    return rf"^[+-]?\d{{1,{whole}}}(\.\d{{1,{col.scale}}})?$"


def _fields_as_written(parsed: pa.Array, head: pa.Array) -> np.ndarray:
    """Rows whose parsed timestamp has exactly the fields of its YYYY-MM-DDThh:mm:ss text.

    Same answer as formatting ``parsed`` back and comparing strings (strftime costs ~2 us a row):
    both are fixed-width zero-padded digits, so equal text means equal fields.
    """
    layout = _layout(head)
    if layout is None:
        return _mask(pc.equal(pc.strftime(parsed, format="%Y-%m-%dT%H:%M:%S"), head))
    ok = np.zeros(len(parsed), dtype=bool)
    rows = np.flatnonzero(_mask(pc.is_valid(parsed)))
    if len(rows) == 0:
        return ok
    offsets, data = layout
    width = 19  # a parsed row's head is 19 ASCII characters
    lengths = np.diff(offsets)
    if ((lengths == width) | (lengths == 0)).all():  # values back to back: view them as a matrix
        texts = data[offsets[0] : offsets[-1]].reshape(-1, width)
        pick = (np.cumsum(lengths != 0) - 1)[rows]
    else:
        texts = data[offsets[:-1][rows][:, None] + np.arange(width)]
        pick = np.arange(len(rows))

    def number(*positions: int) -> np.ndarray:
        value = texts[:, positions[0]].astype(np.int32)
        for pos in positions[1:]:
            value = value * 10 + texts[:, pos]
        digits: np.ndarray = value[pick] - 48 * int("1" * len(positions))  # '0' is 48
        return digits

    written = [number(0, 1, 2, 3), *(number(i, i + 1) for i in (5, 8, 11, 14, 17))]
    stamps = parsed.take(pa.array(rows, type=pa.int64()))
    same = np.ones(len(rows), dtype=bool)
    for field_fn, expected in zip(
        (pc.year, pc.month, pc.day, pc.hour, pc.minute, pc.second), written, strict=True
    ):
        same &= field_fn(stamps).to_numpy(zero_copy_only=False) == expected
    ok[rows] = same
    return ok


def _parse(col: ColumnSpec, text: pa.Array) -> tuple[pa.Array, np.ndarray, str]:
    """Typed values (null where unparsable) and the mask of present-but-unparsable values."""
    present = pc.is_valid(text)
    target = arrow_type(col)
    if col.type == "string":
        return text, np.zeros(len(text), dtype=bool), ""
    if col.type == "bool":
        lowered = pc.utf8_lower(text)
        is_true = pc.is_in(lowered, value_set=pa.array(BOOL_TRUE))
        is_false = pc.is_in(lowered, value_set=pa.array(BOOL_FALSE))
        ok = pc.or_(is_true, is_false)
        values = pc.if_else(ok, is_true, pa.scalar(None, pa.bool_()))
        return values, _mask(pc.and_(present, pc.invert(ok))), "not a boolean (true/false)"
    if col.type in ("timestamp", "date"):
        is_ts = col.type == "timestamp"
        values, ok = _parse_utc_seconds(text) if is_ts else _parse_time(False, text)
        what = (
            "not an ISO 8601 timestamp with Z or an offset (YYYY-MM-DDThh:mm:ss[.ffffff]Z|+hh:mm), "
            "years 1900-2199"
            if is_ts
            else "not an ISO 8601 date (YYYY-MM-DD), years 1900-2199"
        )
        return values, _mask(present) & ~ok, what
    pattern, what = {
        "int": (INT_RE, "not an integer"),
        "float": (FLOAT_RE, "not a number"),
        "decimal": (_decimal_re(col), f"not a decimal with at most {col.scale} decimal places"),
    }[col.type]
    ok = pc.fill_null(pc.match_substring_regex(text, pattern), False)
    candidates = pc.if_else(ok, text, pa.scalar(None, pa.string()))
    if col.type == "int":  # Arrow's integer cast refuses an explicit "+" sign
        candidates = pc.replace_substring_regex(candidates, pattern=r"^\+", replacement="")
    values = pc.cast(candidates, target)
    return values, _mask(pc.and_(present, pc.invert(ok))), what


_ZULU_WIDTH = 20  # YYYY-MM-DDThh:mm:ssZ
_ZULU_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_ZULU_MARKS = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":", 19: "Z"}
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def _parse_utc_seconds(text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """``_parse_time`` for timestamps, with the common shape ``YYYY-MM-DDThh:mm:ssZ`` read in
    numpy: digits and separators in place, a real calendar date, hh <= 23, mm and ss <= 59, years
    1900-2199 (what the regex, strptime, the fields-as-written check and the range check accept
    between them). Every other value goes through ``_parse_time``."""
    layout = _layout(text)
    if layout is None:
        return _parse_time(True, text)
    offsets, data = layout
    n = len(text)
    starts = offsets[:-1]
    zulu = (np.diff(offsets) == _ZULU_WIDTH) & _mask(pc.is_valid(text))
    zulu[zulu] = data[starts[zulu] + _ZULU_WIDTH - 1] == ord("Z")
    rows = np.flatnonzero(zulu)
    micros = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    if len(rows):
        if len(rows) == n and offsets[-1] - offsets[0] == n * _ZULU_WIDTH:
            chars = data[offsets[0] : offsets[-1]].reshape(n, _ZULU_WIDTH)
        else:
            chars = data[starts[rows][:, None] + np.arange(_ZULU_WIDTH)]
        digits = chars[:, _ZULU_DIGITS] - np.uint8(ord("0"))  # a non-digit wraps to >= 10
        good = (digits < 10).all(axis=1)
        for pos, mark in _ZULU_MARKS.items():
            good &= chars[:, pos] == ord(mark)
        d = digits.astype(np.int32)
        year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
        month = d[:, 4] * 10 + d[:, 5]
        day = d[:, 6] * 10 + d[:, 7]
        hour = d[:, 8] * 10 + d[:, 9]
        minute = d[:, 10] * 10 + d[:, 11]
        second = d[:, 12] * 10 + d[:, 13]
        good &= (month >= 1) & (month <= 12) & (hour <= 23) & (minute <= 59) & (second <= 59)
        leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
        month_days = _MONTH_DAYS[np.clip(month, 0, 12)] + (leap & (month == 2))
        good &= (day >= 1) & (day <= month_days)
        good &= (year >= EARLIEST.year) & (year < LATEST.year)
        # days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)
        y = year - (month <= 2)
        era = y // 400
        yoe = y - era * 400
        doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
        days = (era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468).astype(np.int64)
        micros[rows] = (days * 86_400 + (hour * 3_600 + minute * 60 + second)) * 1_000_000
        ok[rows] = good
    others = np.flatnonzero(~zulu & _mask(pc.is_valid(text)))
    if len(others):
        values, other_ok = _parse_time(True, text.take(pa.array(others, type=pa.int64())))
        other_ok &= _mask(pc.is_valid(values))
        ticks = pc.fill_null(values.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
        micros[others] = ticks
        ok[others] = other_ok
    return pa.array(micros, type=pa.timestamp("us", tz="UTC"), mask=~ok), ok


def _parse_time(is_ts: bool, text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Timestamps (``timestamp[us, UTC]``) or dates of text values, null where unparsable, and
    the mask of values parsed."""
    shape_ok = pc.match_substring_regex(text, TIMESTAMP_RE if is_ts else DATE_RE)
    shaped = pc.if_else(shape_ok, text, pa.scalar(None, pa.string()))
    head = (
        pc.utf8_slice_codeunits(shaped, 0, 19)
        if is_ts
        else pc.binary_join_element_wise(shaped, "T00:00:00", "")
    )
    parsed = pc.strptime(head, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    # strptime is lenient (Feb 30 -> Mar 2, 12:00:61 -> 12:01:01): the parsed fields must equal
    # the written ones, which proves the calendar date and time exist.
    ok = _fields_as_written(parsed, head)
    kept = pc.if_else(pa.array(ok), shaped if is_ts else head, pa.scalar(None, pa.string()))
    values = pc.cast(kept, pa.timestamp("us", tz="UTC") if is_ts else pa.timestamp("s"))
    stamp = values if is_ts else pc.assume_timezone(values, "UTC")
    in_range = _mask(
        pc.and_(
            pc.greater_equal(stamp, pa.scalar(EARLIEST, stamp.type)),
            pc.less(stamp, pa.scalar(LATEST, stamp.type)),
        )
    )
    ok &= in_range | ~_mask(pc.is_valid(values))
    values = pc.if_else(pa.array(ok), values, pa.scalar(None, values.type))
    if not is_ts:
        values = pc.cast(values, pa.date32())
    return values, ok


def _constraints(col: ColumnSpec, text: pa.Array, values: pa.Array) -> list[_Failure]:
    failures: list[_Failure] = []
    numeric = None
    if col.type in ("int", "decimal", "float"):
        numeric = pc.cast(values, pa.float64())
    if numeric is not None:
        if col.exclusive_minimum is not None:
            failures.append(
                _Failure(
                    col.name,
                    "range",
                    _mask(pc.less_equal(numeric, col.exclusive_minimum)),
                    f"must be > {col.exclusive_minimum:g}",
                )
            )
        if col.minimum is not None:
            failures.append(
                _Failure(
                    col.name, "range", _mask(pc.less(numeric, col.minimum)), f"must be >= {col.minimum:g}"
                )
            )
        if col.maximum is not None:
            failures.append(
                _Failure(
                    col.name, "range", _mask(pc.greater(numeric, col.maximum)), f"must be <= {col.maximum:g}"
                )
            )
        if col.non_zero:
            failures.append(_Failure(col.name, "non_zero", _mask(pc.equal(numeric, 0)), "must not be zero"))
    if col.type == "string" and _longest_bytes(text) > col.max_length:  # chars <= bytes
        too_long = _mask(pc.greater(pc.utf8_length(text), col.max_length))
        if too_long.any():
            failures.append(
                _Failure(col.name, "too_long", too_long, f"longer than {col.max_length} characters")
            )
    if col.reference is not None:
        codes = pa.array(sorted(reference_set(col.reference)), type=pa.string())
        unknown = _mask(pc.and_(pc.is_valid(text), pc.invert(pc.is_in(text, value_set=codes))))
        failures.append(_Failure(col.name, "reference", unknown, f"not {DESCRIPTIONS[col.reference]}"))
    not_allowed: np.ndarray | None = None
    if col.allowed is not None:
        allowed = pa.array(list(col.allowed), type=pa.string())
        not_allowed = _mask(pc.and_(pc.is_valid(text), pc.invert(pc.is_in(text, value_set=allowed))))
        shown = ", ".join(col.allowed[:10])
        failures.append(_Failure(col.name, "allowed_values", not_allowed, f"not one of [{shown}]"))
    if col.pattern is not None and col.type == "string":
        if not_allowed is not None and _allowed_match(col.pattern, col.allowed or ()):
            # an allowed value matches, so only the (few) values outside the list can fail
            bad = np.zeros(len(text), dtype=bool)
            rows = np.flatnonzero(not_allowed)
            if len(rows):
                bad[rows] = _pattern_misses(text.take(pa.array(rows, type=pa.int64())), col.pattern)
        else:
            bad = _pattern_misses(text, col.pattern)
        failures.append(_Failure(col.name, "pattern", bad, f"does not match pattern {col.pattern}"))
    return failures


@lru_cache(maxsize=256)
def _allowed_match(pattern: str, allowed: tuple[str, ...]) -> bool:
    """Whether every allowed value matches the pattern (same regex engine as the row check)."""
    matches = pc.match_substring_regex(pa.array(list(allowed), type=pa.string()), pattern)
    return bool(pc.all(matches).as_py()) if len(allowed) else True


def _low_cardinality(text: pa.Array, sample: int = 1024, max_distinct: int = 64) -> bool:
    """Guess from an evenly spaced sample whether a column has few distinct values."""
    if len(text) < 4 * sample:
        return False
    picks = pa.array(np.linspace(0, len(text) - 1, sample).astype(np.int64))
    return int(pc.count_distinct(text.take(picks)).as_py()) <= max_distinct


def _pattern_misses(text: pa.Array, pattern: str) -> np.ndarray:
    """Present values that do not match ``pattern`` (null never misses).

    RE2 costs ~100 ns a value; a column of state or category codes has a few dozen distinct
    values, so it is matched once per distinct value and mapped back through the dictionary.
    """
    simple = _simple_class(pattern)
    layout = _layout(text)
    if simple is not None and layout is not None:
        table, shortest, longest = simple
        offsets, data = layout
        lengths = np.diff(offsets)
        outside = np.flatnonzero(~table[data[offsets[0] : offsets[-1]]]) + offsets[0]
        fits = (lengths >= shortest) & (lengths <= longest)
        fits[np.searchsorted(offsets, outside, side="right") - 1] = False
        misses: np.ndarray = ~fits & _mask(pc.is_valid(text))
        return misses
    if _low_cardinality(text):
        encoded = pc.dictionary_encode(text)
        misses = pc.invert(pc.match_substring_regex(encoded.dictionary, pattern))
        return _mask(misses.take(encoded.indices))
    return _mask(pc.invert(pc.match_substring_regex(text, pattern)))


SIMPLE_CLASS = re.compile(r"\^\[([A-Za-z0-9_-]+)\]\{(\d+),(\d+)\}\$")


@lru_cache(maxsize=256)
def _simple_class(pattern: str) -> tuple[np.ndarray, int, int] | None:
    """For a pattern ``^[class]{m,n}$`` over ASCII letters, digits, '_' and '-': a table of the
    bytes the class holds (RE2 itself decides, one ASCII character at a time) and m, n.

    A value matches exactly when it has m to n bytes and each is in the table: the class holds
    ASCII only, so a value that matches has as many characters as bytes, and a byte outside the
    table (any byte of a multi-byte character too) is a character outside the class.
    """
    found = SIMPLE_CLASS.fullmatch(pattern)
    if found is None or int(found.group(3)) > 1000:  # RE2's repeat limit: let RE2 answer
        return None
    ascii_chars = pa.array([chr(b) for b in range(128)], type=pa.string())
    try:
        in_class = pc.match_substring_regex(ascii_chars, f"^[{found.group(1)}]$")
    except pa.ArrowInvalid:  # e.g. a reversed range: the row check reports it as before
        return None
    table = np.zeros(256, dtype=bool)
    table[:128] = _mask(in_class)
    return table, int(found.group(2)), int(found.group(3))


def _duplicates(codes: pa.Array, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask of later occurrences among candidate rows, and each row's first-occurrence index.

    ``codes`` are the column's dictionary codes (null for null values, which never repeat).
    """
    n = len(codes)
    dup = np.zeros(n, dtype=bool)
    first_of = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(candidates & _mask(pc.is_valid(codes)))
    if len(idx) == 0:
        return dup, first_of
    picked = codes.to_numpy(zero_copy_only=False)[idx].astype(np.int64)
    first_pos = np.full(int(picked.max()) + 1, n, dtype=np.int64)
    np.minimum.at(first_pos, picked, idx)  # earliest candidate row holding each value
    first_rows = first_pos[picked]
    later = first_rows != idx
    dup[idx[later]] = True
    first_of[idx[later]] = first_rows[later]
    return dup, first_of


def _hashed_duplicates(
    values: pa.Array, hashed: np.ndarray, candidates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``_duplicates`` for a string key from its fingerprints, still exact: equal values have
    equal fingerprints, so only rows sharing a fingerprint (repeats, and the odd collision) are
    compared, by value, in row order."""
    n = len(values)
    dup = np.zeros(n, dtype=bool)
    first_of = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(candidates & _mask(pc.is_valid(values)))
    if len(idx) < 2:
        return dup, first_of
    order = np.argsort(hashed[idx], kind="stable")  # equal fingerprints: rows in order
    runs = hashed[idx][order]
    same = runs[1:] == runs[:-1]
    if not same.any():
        return dup, first_of
    shared = np.zeros(len(runs), dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    at = np.flatnonzero(shared)
    rows = idx[order[at]]
    run_of = np.cumsum(np.concatenate(([True], runs[at][1:] != runs[at][:-1])))
    first: dict[tuple[int, Any], int] = {}
    picked = values.take(pa.array(rows, type=pa.int64())).to_pylist()
    for run, row, value in zip(run_of.tolist(), rows.tolist(), picked, strict=True):
        earliest = first.setdefault((run, value), row)
        if earliest != row:
            dup[row] = True
            first_of[row] = earliest
    return dup, first_of


_Checked = tuple[pa.Array, pa.Array, list[_Failure], "pa.Array | None"]


def _check_column(col: ColumnSpec, raw: pa.Array | None, n: int) -> _Checked:
    """Text, typed values and failures (every rule but uniqueness) of one column.

    A unique column also returns its dictionary codes: hashing is the costly half of the
    duplicate check, which then only has to compare integers among the surviving rows.
    """
    failures: list[_Failure] = []
    if raw is None:
        text: pa.Array = pa.nulls(n, type=pa.string())
        bad_utf8 = np.zeros(n, dtype=bool)
    else:
        text, bad_utf8 = _to_text(raw)
    if bad_utf8.any():
        failures.append(_Failure(col.name, "encoding", bad_utf8, "value is not valid UTF-8"))
    if col.required:
        missing = _mask(pc.is_null(text)) & ~bad_utf8
        failures.append(_Failure(col.name, "required", missing, "required value is missing"))
    values, unparsable, what = _parse(col, text)
    if unparsable.any():
        failures.append(_Failure(col.name, "type", unparsable, what))
    failures.extend(_constraints(col, text, values))
    codes = pc.dictionary_encode(values).indices if col.unique and col.type != "string" else None
    return text, values, failures, codes


def validate(
    batch: RawBatch, contract: DatasetContract, lineage: Lineage, ctx: FileContext | None = None
) -> ValidationResult:
    """One batch: typed valid rows and one reject per invalid row. ``ctx`` carries uniqueness
    from the file's earlier batches (a fresh one when the batch is the whole file)."""
    if ctx is None:
        with FileContext() as own:
            return _validate(batch, contract, lineage, own)
    return _validate(batch, contract, lineage, ctx)


def _validate(
    batch: RawBatch, contract: DatasetContract, lineage: Lineage, ctx: FileContext
) -> ValidationResult:
    n = batch.num_rows
    failures: list[_Failure] = []
    typed: dict[str, pa.Array] = {}
    texts: dict[str, pa.Array] = {}
    codes: dict[str, pa.Array] = {}
    for col in contract.input_columns:
        text, values, column_failures, codes_or_none = _check_column(col, batch.columns.get(col.name), n)
        texts[col.name] = text
        typed[col.name] = values
        failures.extend(column_failures)
        if codes_or_none is not None:
            codes[col.name] = codes_or_none

    for col in contract.columns:
        if col.derived is not None:
            typed[col.name] = _derive(col, texts, n)
    failures.extend(row_rule_failures(contract, texts, typed, failures, ctx))

    invalid = np.zeros(n, dtype=bool)
    for f in failures:
        invalid |= f.mask
    first_seen: dict[str, np.ndarray] = {}
    for name in contract.unique_columns:
        # a string key's fingerprints serve both checks; other types compare dictionary codes
        hashed = fingerprints(typed[name]) if name not in codes else None
        if hashed is not None:
            dup, first_of = _hashed_duplicates(typed[name], hashed, ~invalid)
        else:
            dup, first_of = _duplicates(codes[name], ~invalid)
        first_row = np.where(first_of >= 0, batch.row_numbers[np.maximum(first_of, 0)], -1)
        # across batches: the surviving keys against every key kept earlier in the file
        keep = np.flatnonzero(~invalid & ~dup & _mask(pc.is_valid(typed[name])))
        if len(keep):
            if hashed is not None:
                keys = hashed[keep]
            else:
                keys = fingerprints(texts[name].take(pa.array(keep, type=pa.int64())))
            earlier = ctx.seen_keys(name).first_rows(keys, batch.row_numbers[keep])
            hit = earlier >= 0
            dup[keep[hit]] = True
            first_row[keep[hit]] = earlier[hit]
        if dup.any():
            failures.append(_Failure(name, "unique", dup, "duplicate value"))
            first_seen[name] = first_row
            invalid |= dup

    by_rule: Counter[str] = Counter(f"{r.column or '*'}:{r.rule}" for r in batch.pre_rejects)
    bad_rows = np.flatnonzero(invalid)
    _count_reasons(failures, by_rule)
    pending = (
        _RejectRows(batch, texts, failures, first_seen, bad_rows)
        if len(bad_rows) or batch.pre_rejects
        else None
    )

    keep = pa.array(~invalid)
    columns: dict[str, Any] = {name: typed[name].filter(keep) for name in contract.column_names}
    for part in contract.partitions:
        source = columns[part.source]
        columns[part.name] = source.cast(pa.string()) if pa.types.is_date(source.type) else _date_text(source)
    kept_rows = batch.row_numbers[~invalid]
    m = len(kept_rows)
    columns["lineage_source_key"] = pa.repeat(pa.scalar(lineage.source_key, pa.string()), m)
    columns["lineage_source_version"] = pa.repeat(pa.scalar(lineage.source_version, pa.string()), m)
    columns["lineage_source_etag"] = pa.repeat(pa.scalar(lineage.source_etag, pa.string()), m)
    columns["lineage_ingest_run_id"] = pa.repeat(pa.scalar(lineage.ingest_run_id, pa.string()), m)
    columns["lineage_source_row"] = pa.array(kept_rows, type=pa.int64())
    valid = pa.table(columns)
    nulls = {name: int(valid.column(name).null_count) for name in contract.column_names}
    rejected = len(batch.pre_rejects) + len(bad_rows)
    return ValidationResult(valid, batch.rows_in, rejected, by_rule, nulls, pending)


def _derive(col: ColumnSpec, texts: dict[str, pa.Array], n: int) -> pa.Array:
    """A derived column: ``utc_offset_minutes:<timestamp column>`` is the offset the source wrote
    (+05:30 -> 330, -08:00 -> -480), null for Z or an unparsable value."""
    kind, _, source = (col.derived or "").partition(":")
    assert kind == "utc_offset_minutes", kind
    text = texts.get(source)
    if text is None:
        return pa.nulls(n, type=pa.int64())
    layout = _layout(text)
    if layout is not None:
        return _utc_offset_minutes(text, *layout)
    zone = pc.extract_regex(text, r"(?P<sign>[+-])(?P<hh>\d\d):(?P<mm>\d\d)$")
    hh = pc.cast(pc.struct_field(zone, "hh"), pa.int64())
    mm = pc.cast(pc.struct_field(zone, "mm"), pa.int64())
    minutes = pc.add(pc.multiply(hh, 60), mm)
    negative = pc.equal(pc.struct_field(zone, "sign"), "-")
    signed = pc.if_else(negative, pc.negate(minutes), minutes)
    return pc.if_else(pc.is_valid(zone), signed, pa.scalar(None, pa.int64()))


_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[ord("0") : ord("9") + 1] = True


def _utc_offset_minutes(text: pa.Array, offsets: np.ndarray, data: np.ndarray) -> pa.Array:
    """What the regex ``([+-])(\\d\\d):(\\d\\d)$`` extracts, read from each value's last six
    bytes in numpy (an ASCII tail is the same in bytes and characters)."""
    n = len(text)
    minutes = np.zeros(n, dtype=np.int64)
    found = np.zeros(n, dtype=bool)
    rows = np.flatnonzero((np.diff(offsets) >= 6) & _mask(pc.is_valid(text)))
    rows = rows[_DIGIT[data[offsets[1:][rows] - 1]]]  # an offset ends in a digit ("Z" does not)
    if len(rows):
        tail = data[offsets[1:][rows][:, None] - 6 + np.arange(6)]
        sign = tail[:, 0]
        match = (
            ((sign == ord("+")) | (sign == ord("-")))
            & _DIGIT[tail[:, 1]]
            & _DIGIT[tail[:, 2]]
            & (tail[:, 3] == ord(":"))
            & _DIGIT[tail[:, 4]]
            & _DIGIT[tail[:, 5]]
        )
        digits = tail.astype(np.int64) - ord("0")
        value = (digits[:, 1] * 10 + digits[:, 2]) * 60 + digits[:, 4] * 10 + digits[:, 5]
        minutes[rows] = np.where(sign == ord("-"), -value, value)
        found[rows] = match
    return pa.array(minutes, type=pa.int64(), mask=~found)


def _present(arr: pa.Array) -> np.ndarray:
    return _mask(pc.is_valid(arr))


def _in(arr: pa.Array, values: tuple[str, ...] | list[str]) -> np.ndarray:
    return _mask(pc.is_in(arr, value_set=pa.array(list(values), type=pa.string())))


def row_rule_failures(
    contract: DatasetContract,
    texts: dict[str, pa.Array],
    typed: dict[str, pa.Array],
    earlier: list[_Failure],
    ctx: FileContext,
) -> list[_Failure]:
    """Every row rule as a mask over the batch. A rule judges only values that passed their own
    column's checks (a malformed amount is reported once, as a type error, not also as a sign)."""
    column_bad: dict[str, np.ndarray] = {}
    for f in earlier:
        if f.column is not None:
            column_bad[f.column] = column_bad.get(f.column, False) | f.mask
    n = len(next(iter(typed.values()))) if typed else 0

    def ok(name: str | None) -> np.ndarray:
        """Rows whose value of ``name`` is present and passed its column's checks."""
        if name is None:
            return np.zeros(n, dtype=bool)
        good = _present(typed[name])
        bad = column_bad.get(name)
        return good & ~bad if isinstance(bad, np.ndarray) else good

    out: list[_Failure] = []
    for rule in contract.row_rules:
        mask, message = _row_rule(rule, texts, typed, ok, ctx, n)
        if mask is not None and mask.any():
            out.append(_Failure(rule.column, rule.name, mask, message))
    return out


def _row_rule(
    rule: RowRule, texts: dict[str, pa.Array], typed: dict[str, pa.Array], ok: Any, ctx: FileContext, n: int
) -> tuple[np.ndarray | None, str]:
    col = typed[rule.column]
    if rule.kind == "sign_by_category":
        assert rule.category_column is not None
        values = pc.cast(col, pa.float64())
        judged = ok(rule.column) & ok(rule.category_column)
        bad = np.zeros(n, dtype=bool)
        category = typed[rule.category_column]
        wrong: list[str] = []
        for sign in ("positive", "negative", "non_zero"):
            cats = [c for c, s in rule.signs if s == sign]
            if not cats:
                continue
            test = {"positive": pc.less_equal, "negative": pc.greater_equal, "non_zero": pc.equal}[sign]
            hit = judged & _in(category, cats) & _mask(test(values, 0))
            if hit.any():
                wrong.append(sign.replace("_", "-"))
            bad |= hit
        signs = ", ".join(f"{c} {s.replace('_', '-')}" for c, s in rule.signs)
        return bad, f"sign does not match {rule.category_column} ({signs})"
    if rule.kind == "required_when":
        assert rule.category_column is not None
        missing = ~_present(col) & ok(rule.category_column) & _in(typed[rule.category_column], rule.values)
        return missing, f"required when {rule.category_column} is one of {list(rule.values)}"
    if rule.kind == "not_equal":
        assert rule.other_column is not None
        same = ok(rule.column) & ok(rule.other_column) & _mask(pc.equal(col, typed[rule.other_column]))
        return same, f"must differ from {rule.other_column}"
    if rule.kind == "currency_minor_units":
        assert rule.currency_column is not None
        judged = ok(rule.column) & ok(rule.currency_column)
        decimals = _decimals_used(col)
        if decimals is None:
            decimals = pc.utf8_length(
                pc.struct_field(pc.extract_regex(texts[rule.column], r"\.(?P<frac>\d*?)0*$"), "frac")
            )
            decimals = pc.fill_null(decimals, 0)
        known = sorted(CURRENCY_MINOR_UNITS)
        minor = pc.take(
            pa.array([CURRENCY_MINOR_UNITS[c] for c in known], type=pa.int32()),
            pc.index_in(typed[rule.currency_column], value_set=pa.array(known, type=pa.string())),
        )
        too_many = judged & _mask(pc.greater(decimals, minor))
        return too_many, "more decimals than the currency's ISO 4217 minor units"
    if rule.kind == "max_in_base_currency":
        assert rule.currency_column is not None and rule.date_column is not None
        judged = ok(rule.column) & ok(rule.currency_column) & ok(rule.date_column)
        usd = ctx.fx.to_usd_array(
            pc.abs(pc.cast(col, pa.float64())), typed[rule.currency_column], typed[rule.date_column]
        )
        no_rate = judged & ~_present(usd)
        over = judged & _mask(pc.greater(usd, float(rule.value or 0)))
        limit = f"{rule.value:,.0f}" if rule.value is not None else "?"
        if no_rate.any():  # reported under the same rule: the limit cannot be checked
            return over | no_rate, f"above {limit} USD, or no USD rate known for the currency on that date"
        return over, f"above the {limit} USD limit once converted"
    if rule.kind == "reference_when":
        assert rule.category_column is not None and rule.reference is not None
        applies = ok(rule.category_column) & _in(typed[rule.category_column], rule.values)
        codes = sorted(reference_set(rule.reference))
        valid = _present(col) & _in(col, codes)
        return applies & ~valid, (
            f"must be {DESCRIPTIONS[rule.reference]} when {rule.category_column} is {list(rule.values)}"
        )
    if rule.kind in ("not_after_arrival", "max_age"):
        if ctx.arrival is None:
            return None, ""
        judged = ok(rule.column)
        if rule.kind == "not_after_arrival":
            limit_at = ctx.arrival + timedelta(minutes=rule.tolerance_minutes)
            late = judged & _mask(pc.greater(col, pa.scalar(limit_at, col.type)))
            return (
                late,
                f"after the file arrived ({ctx.arrival:%Y-%m-%dT%H:%M}Z) + {rule.tolerance_minutes:g} min",
            )
        oldest = ctx.arrival - timedelta(days=rule.max_age_days)
        old = judged & _mask(pc.less(col, pa.scalar(oldest, col.type)))
        return old, f"more than {rule.max_age_days:g} days before the file arrived"
    raise ValueError(f"unknown row rule kind {rule.kind}")


def _decimals_used(values: pa.Array) -> pa.Array | None:
    """Decimal places of each value with trailing zeros dropped (15.80 -> 1, 7 -> 0), read from
    the unscaled integers of a decimal128 of precision <= 18 (they fit the low 64-bit word).

    For a value parsed from text this is what the text's fraction shows once its trailing zeros
    are dropped. None for other types and layouts (the caller reads the text instead).
    """
    if not (
        isinstance(values, pa.Array)
        and pa.types.is_decimal128(values.type)
        and values.type.precision <= 18
        and sys.byteorder == "little"
    ):
        return None
    scale = values.type.scale
    words = np.frombuffer(values.buffers()[1], dtype=np.int64)
    units = np.abs(words[2 * values.offset : 2 * (values.offset + len(values)) : 2])
    used = np.full(len(values), scale, dtype=np.int32)
    for zeros in range(1, scale + 1):
        used[units % 10**zeros == 0] = scale - zeros
    return pa.array(used, type=pa.int32())


_DAY = {"s": 86_400, "ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _date_text(source: pa.Array) -> pa.Array:
    """YYYY-MM-DD of a UTC timestamp column, as strftime would print it but ~30x cheaper.

    Day numbers are floored in numpy, and only the distinct days (a file holds few) are printed,
    by Arrow's date32 -> string cast.
    """
    if not (pa.types.is_timestamp(source.type) and source.type.tz == "UTC" and isinstance(source, pa.Array)):
        return pc.strftime(source, format="%Y-%m-%d")
    ticks = pc.fill_null(source.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    days = pa.array(ticks // _DAY[source.type.unit], type=pa.int32()).cast(pa.date32())
    if source.null_count:
        days = pc.if_else(pc.is_valid(source), days, pa.scalar(None, pa.date32()))
    encoded = pc.dictionary_encode(days)
    return encoded.dictionary.cast(pa.string()).take(encoded.indices)


def _count_reasons(failures: list[_Failure], by_rule: Counter[str]) -> None:
    """Adds each failure's rows to ``by_rule`` under ``column:rule``, keys in the order a
    row-by-row pass meets them (first failing row, then the failure's place in the list), so
    that ties in ``most_common`` break as they always have."""
    firsts: dict[str, tuple[int, int]] = {}
    counts: dict[str, int] = {}
    for order, f in enumerate(failures):
        hits = int(np.count_nonzero(f.mask))
        if not hits:
            continue
        key = f"{f.column}:{f.rule}"
        first = (int(np.argmax(f.mask)), order)
        firsts[key] = min(firsts.get(key, first), first)
        counts[key] = counts.get(key, 0) + hits
    for key in sorted(firsts, key=firsts.__getitem__):
        by_rule[key] += counts[key]


class _RejectRows:
    """The rejected rows of one batch, turned into RowRejects ``size`` rows at a time.

    Holds what the batch already held (its text and raw columns, one mask per failure): the
    Python objects of a reject exist only while its chunk is being written.
    """

    def __init__(
        self,
        batch: RawBatch,
        texts: dict[str, pa.Array],
        failures: list[_Failure],
        first_seen: dict[str, np.ndarray],
        bad_rows: np.ndarray,
    ) -> None:
        self.pre_rejects = batch.pre_rejects
        self.row_numbers = batch.row_numbers
        self.raw = batch.columns
        self.texts = texts
        self.failures = [f for f in failures if f.mask.any()]
        self.first_seen = first_seen
        self.bad_rows = bad_rows

    def chunks(self, size: int) -> Iterator[list[RowReject]]:
        rows = (
            reject
            for start in range(0, len(self.bad_rows), size)
            for reject in self._build(self.bad_rows[start : start + size])
        )
        merged = heapq.merge(self.pre_rejects, rows, key=lambda r: r.source_row)
        while chunk := list(islice(merged, size)):
            yield chunk

    def _build(self, bad_rows: np.ndarray) -> list[RowReject]:
        """One RowReject per row of ``bad_rows``, its first failure up front and every failure in
        ``errors``; raw values are fetched per column in one take."""
        picks = pa.array(bad_rows, type=pa.int64())
        records = pa.table({k: v.take(picks) for k, v in self.texts.items()}).to_pylist()
        reasons: dict[int, list[tuple[str | None, str, str]]] = {i: [] for i in bad_rows.tolist()}
        raw: dict[str, dict[int, str | None]] = {}
        for f in self.failures:
            rows = bad_rows[f.mask[bad_rows]]
            if len(rows) == 0:
                continue
            if f.rule == "unique" and f.column is not None:
                first_rows = self.first_seen[f.column][rows].tolist()
                messages = [f"duplicate value, first seen at row {r}" for r in first_rows]
            else:
                messages = [f.message] * len(rows)
            for i, message in zip(rows.tolist(), messages, strict=True):
                reasons[i].append((f.column, f.rule, message))
            if f.column is not None and f.column in self.raw:
                raw.setdefault(f.column, {}).update(_raw_values(self.raw[f.column], rows))
        out: list[RowReject] = []
        for i, row_no, record in zip(
            bad_rows.tolist(), self.row_numbers[bad_rows].tolist(), records, strict=True
        ):
            row_reasons = reasons[i]
            column, rule, message = row_reasons[0]
            out.append(
                RowReject(
                    source_row=int(row_no),
                    column=column,
                    rule=rule,
                    value=raw[column][i] if column in raw else None,
                    message=f"{column}: {message}" if column else message,
                    record={
                        "errors": [
                            {"column": c, "rule": r, "value": raw[c][i] if c in raw else None, "message": m}
                            for c, r, m in row_reasons
                        ],
                        "values": record,
                    },
                )
            )
        return out


def _raw_values(arr: pa.Array, rows: np.ndarray) -> dict[int, str | None]:
    """Values as read (bytes shown with backslash escapes), cut to 500 characters, by row."""
    shown: dict[int, str | None] = {}
    for i, value in zip(rows.tolist(), arr.take(pa.array(rows, type=pa.int64())).to_pylist(), strict=True):
        if isinstance(value, bytes):
            shown[i] = value.decode("utf-8", "backslashreplace")[:500]
        else:
            shown[i] = None if value is None else str(value)[:500]
    return shown
