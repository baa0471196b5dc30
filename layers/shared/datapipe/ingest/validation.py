"""Vectorised row validation against a contract (Arrow compute, no per-row Python on valid rows).

Every rule yields a boolean mask over the batch; a row is rejected when any mask is set for it.
Only the rejected rows are visited in Python, to write their reasons. Unique columns are checked
last, among rows that pass every other rule, so exactly one copy of a duplicated key survives.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datapipe.contracts import ColumnSpec, DatasetContract
from datapipe.ingest.reader import RawBatch, RowReject

INT_RE = r"^[+-]?\d{1,18}$"
FLOAT_RE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
TIMESTAMP_RE = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|\+00:00)$"
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
class _Failure:
    column: str | None
    rule: str
    mask: np.ndarray
    message: str


@dataclass
class ValidationResult:
    valid: pa.Table
    rejects: list[RowReject]
    rows_in: int
    rejects_by_rule: Counter[str] = field(default_factory=Counter)
    null_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows_valid(self) -> int:
        return self.valid.num_rows

    @property
    def rows_rejected(self) -> int:
        return len(self.rejects)


def arrow_type(col: ColumnSpec) -> pa.DataType:
    return {
        "string": pa.string(),
        "int": pa.int64(),
        "decimal": pa.decimal128(col.precision, col.scale),
        "float": pa.float64(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "bool": pa.bool_(),
    }[col.type]


def _mask(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Boolean Arrow array -> numpy bool, nulls as False."""
    filled = pc.fill_null(arr, False)
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def _to_text(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Binary/string -> trimmed UTF-8 strings with '' as null, plus a mask of invalid UTF-8."""
    bad = np.zeros(len(arr), dtype=bool)
    if pa.types.is_binary(arr.type):
        try:
            text = arr.cast(pa.string())
        except pa.ArrowInvalid:
            # Slow path, only for a column that really holds invalid UTF-8.
            decoded: list[str | None] = []
            for i, raw in enumerate(arr.to_pylist()):
                try:
                    decoded.append(raw.decode("utf-8") if raw is not None else None)
                except UnicodeDecodeError:
                    decoded.append(None)
                    bad[i] = True
            text = pa.array(decoded, type=pa.string())
    else:
        text = arr
    text = pc.utf8_trim_whitespace(text)
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    return text, bad


def _decimal_re(col: ColumnSpec) -> str:
    whole = col.precision - col.scale
    return rf"^[+-]?\d{{1,{whole}}}(\.\d{{1,{col.scale}}})?$"


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
    if col.type == "timestamp":
        shape_ok = pc.match_substring_regex(text, TIMESTAMP_RE)
        head = pc.utf8_slice_codeunits(pc.if_else(shape_ok, text, pa.scalar(None, pa.string())), 0, 19)
        parsed = pc.strptime(head, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
        # strptime is lenient (Feb 30 -> Mar 1): a round trip proves the calendar date exists.
        roundtrip = pc.strftime(parsed, format="%Y-%m-%dT%H:%M:%S")
        ok = pc.fill_null(pc.equal(roundtrip, head), False)
        values = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), target)
        return values, _mask(pc.and_(present, pc.invert(ok))), (
            "not an ISO 8601 UTC timestamp (YYYY-MM-DDThh:mm:ss[.ffffff]Z)"
        )
    pattern, what = {
        "int": (INT_RE, "not an integer"),
        "float": (FLOAT_RE, "not a number"),
        "decimal": (_decimal_re(col), f"not a decimal with at most {col.scale} decimal places"),
    }[col.type]
    ok = pc.fill_null(pc.match_substring_regex(text, pattern), False)
    values = pc.cast(pc.if_else(ok, text, pa.scalar(None, pa.string())), target)
    return values, _mask(pc.and_(present, pc.invert(ok))), what


def _constraints(col: ColumnSpec, text: pa.Array, values: pa.Array) -> list[_Failure]:
    failures: list[_Failure] = []
    numeric = None
    if col.type in ("int", "decimal", "float"):
        numeric = pc.cast(values, pa.float64())
    if numeric is not None:
        if col.exclusive_minimum is not None:
            failures.append(
                _Failure(col.name, "range", _mask(pc.less_equal(numeric, col.exclusive_minimum)),
                         f"must be > {col.exclusive_minimum:g}")
            )
        if col.minimum is not None:
            failures.append(
                _Failure(col.name, "range", _mask(pc.less(numeric, col.minimum)),
                         f"must be >= {col.minimum:g}")
            )
        if col.maximum is not None:
            failures.append(
                _Failure(col.name, "range", _mask(pc.greater(numeric, col.maximum)),
                         f"must be <= {col.maximum:g}")
            )
        if col.non_zero:
            failures.append(
                _Failure(col.name, "non_zero", _mask(pc.equal(numeric, 0)), "must not be zero")
            )
    if col.allowed is not None:
        allowed = pa.array(list(col.allowed), type=pa.string())
        bad = pc.and_(pc.is_valid(text), pc.invert(pc.is_in(text, value_set=allowed)))
        shown = ", ".join(col.allowed[:10])
        failures.append(_Failure(col.name, "allowed_values", _mask(bad), f"not one of [{shown}]"))
    if col.pattern is not None and col.type == "string":
        bad = pc.invert(pc.match_substring_regex(text, col.pattern))
        failures.append(
            _Failure(col.name, "pattern", _mask(bad), f"does not match pattern {col.pattern}")
        )
    return failures


def _duplicates(values: pa.Array, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mask of later occurrences among candidate rows, and each row's first-occurrence index."""
    n = len(values)
    dup = np.zeros(n, dtype=bool)
    first_of = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(candidates & _mask(pc.is_valid(values)))
    if len(idx) == 0:
        return dup, first_of
    encoded = pc.dictionary_encode(values.take(pa.array(idx))).indices.to_numpy(zero_copy_only=False)
    _, first_pos, inverse = np.unique(encoded, return_index=True, return_inverse=True)
    first_rows = idx[first_pos][inverse]
    later = first_rows != idx
    dup[idx[later]] = True
    first_of[idx[later]] = first_rows[later]
    return dup, first_of


def validate(batch: RawBatch, contract: DatasetContract, lineage: Lineage) -> ValidationResult:
    n = batch.num_rows
    failures: list[_Failure] = []
    typed: dict[str, pa.Array] = {}
    texts: dict[str, pa.Array] = {}
    for col in contract.columns:
        raw = batch.columns.get(col.name)
        if raw is None:
            text: pa.Array = pa.nulls(n, type=pa.string())
            bad_utf8 = np.zeros(n, dtype=bool)
        else:
            text, bad_utf8 = _to_text(raw)
        texts[col.name] = text
        if bad_utf8.any():
            failures.append(_Failure(col.name, "encoding", bad_utf8, "value is not valid UTF-8"))
        if col.required:
            missing = _mask(pc.is_null(text)) & ~bad_utf8
            failures.append(_Failure(col.name, "required", missing, "required value is missing"))
        values, unparsable, what = _parse(col, text)
        if unparsable.any():
            failures.append(_Failure(col.name, "type", unparsable, what))
        failures.extend(_constraints(col, text, values))
        typed[col.name] = values

    invalid = np.zeros(n, dtype=bool)
    for f in failures:
        invalid |= f.mask
    first_seen: dict[str, np.ndarray] = {}
    for name in contract.unique_columns:
        dup, first_of = _duplicates(typed[name], ~invalid)
        if dup.any():
            failures.append(_Failure(name, "unique", dup, "duplicate value"))
            first_seen[name] = first_of
            invalid |= dup

    rejects = list(batch.pre_rejects)
    by_rule: Counter[str] = Counter(f"{r.column or '*'}:{r.rule}" for r in rejects)
    bad_rows = np.flatnonzero(invalid)
    if len(bad_rows):
        records = (
            pa.table({k: v.take(pa.array(bad_rows)) for k, v in texts.items()}).to_pylist()
        )
        reasons: dict[int, list[tuple[str | None, str, str]]] = {int(i): [] for i in bad_rows}
        for f in failures:
            for i in np.flatnonzero(f.mask):
                message = f.message
                if f.rule == "unique" and f.column is not None:
                    first_row = batch.row_numbers[first_seen[f.column][i]]
                    message = f"duplicate value, first seen at row {first_row}"
                reasons[int(i)].append((f.column, f.rule, message))
        for pos, i in enumerate(bad_rows):
            row_no = int(batch.row_numbers[i])
            record = records[pos]
            for column, rule, message in reasons[int(i)]:
                by_rule[f"{column}:{rule}"] += 1
            column, rule, message = reasons[int(i)][0]
            raw_value = _raw_value(batch, column, int(i))
            rejects.append(
                RowReject(
                    source_row=row_no,
                    column=column,
                    rule=rule,
                    value=raw_value,
                    message=f"{column}: {message}" if column else message,
                    record={
                        "errors": [
                            {
                                "column": c,
                                "rule": r,
                                "value": _raw_value(batch, c, int(i)),
                                "message": m,
                            }
                            for c, r, m in reasons[int(i)]
                        ],
                        "values": record,
                    },
                )
            )
    rejects.sort(key=lambda r: r.source_row)

    keep = pa.array(~invalid)
    columns: dict[str, Any] = {name: typed[name].filter(keep) for name in contract.column_names}
    for part in contract.partitions:
        source = columns[part.source]
        columns[part.name] = pc.strftime(source, format="%Y-%m-%d")
    kept_rows = batch.row_numbers[~invalid]
    m = len(kept_rows)
    columns["lineage_source_key"] = pa.repeat(pa.scalar(lineage.source_key, pa.string()), m)
    columns["lineage_source_version"] = pa.repeat(pa.scalar(lineage.source_version, pa.string()), m)
    columns["lineage_source_etag"] = pa.repeat(pa.scalar(lineage.source_etag, pa.string()), m)
    columns["lineage_ingest_run_id"] = pa.repeat(pa.scalar(lineage.ingest_run_id, pa.string()), m)
    columns["lineage_source_row"] = pa.array(kept_rows, type=pa.int64())
    valid = pa.table(columns)
    nulls = {name: int(valid.column(name).null_count) for name in contract.column_names}
    return ValidationResult(valid, rejects, batch.rows_in, by_rule, nulls)


def _raw_value(batch: RawBatch, column: str | None, i: int) -> str | None:
    if column is None or column not in batch.columns:
        return None
    value = batch.columns[column][i].as_py()
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")[:500]
    return None if value is None else str(value)[:500]
