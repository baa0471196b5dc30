"""Turns raw bytes (CSV / JSON Lines, optionally gzip) into untyped columns plus row numbers.

Nothing is typed here: every column is read as bytes so that one bad value can never abort the
whole file (a typed CSV read does). Typing and rules are applied, vectorised, in ``validation``.

The input is streamed: ``open_raw`` takes an iterable of byte chunks and yields one ``RawBatch``
per block of whole lines, so memory follows the batch size, not the file size.

The line rule (one for every read path): **a record is one physical line** (ending in LF or
CRLF), as Athena, Spark and BigQuery read CSV by default. A quoted value may hold commas and
doubled quotes but no line break; a line whose quote is not closed on that line is rejected
(``unterminated_quote``) and the next line is judged on its own. A carriage return anywhere but
before the line feed rejects the line (``bare_cr``). Every non-empty line after the header is
a row: it is staged, or rejected with its physical line number, exactly once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from datapipe.contracts import DatasetContract
from datapipe.ingest.limits import IngestLimits
from datapipe.ingest.source import (
    SAMPLE_BYTES,
    Block,
    FileRejected,
    LongLine,
    blocks,
    check_start,
    inflate,
)

__all__ = ["FileRejected", "RawBatch", "RawReader", "RowReject", "open_raw", "read_raw", "split_csv_line"]

QUOTE, COMMA, CR, LF = 34, 44, 13, 10
MAX_SHOWN_COLUMNS = 30


@dataclass
class RowReject:
    source_row: int
    column: str | None
    rule: str
    value: str | None
    message: str
    record: dict[str, Any] | str | None = None


@dataclass
class RawBatch:
    """Columns as read (binary for CSV, string for JSON Lines), aligned with ``row_numbers``."""

    columns: dict[str, pa.Array]
    row_numbers: np.ndarray
    pre_rejects: list[RowReject]
    format: str
    compression: str
    header: list[str]
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return len(self.row_numbers)

    @property
    def rows_in(self) -> int:
        return len(self.row_numbers) + len(self.pre_rejects)


def _shown(raw: bytes) -> str:
    return raw[:SAMPLE_BYTES].decode("utf-8", "backslashreplace")


def _names(names: list[str]) -> str:
    """A column list cut for a message (a 200 KB header must not make a 200 KB alert)."""
    shown = [n[:40] for n in names[:MAX_SHOWN_COLUMNS]]
    more = f" ... and {len(names) - MAX_SHOWN_COLUMNS} more" if len(names) > MAX_SHOWN_COLUMNS else ""
    return f"{shown}{more}"


# --- the CSV line rule, written plainly: the reference every fast path must agree with ----------


def split_csv_line(line: bytes) -> list[bytes] | str:
    """Fields of one line (without its line ending), or the rule it breaks.

    RFC 4180 quoting within one line: a field is either unquoted (no quote character in it) or
    wholly quoted, with ``""`` standing for one quote inside.
    """
    if b"\r" in line:
        return "bare_cr"
    fields: list[bytes] = []
    i, n = 0, len(line)
    while True:
        if i < n and line[i] == QUOTE:
            value = bytearray()
            j = i + 1
            while True:
                k = line.find(b'"', j)
                if k < 0:
                    return "unterminated_quote"
                value += line[j:k]
                if k + 1 < n and line[k + 1] == QUOTE:
                    value += b'"'
                    j = k + 2
                    continue
                break
            fields.append(bytes(value))
            i = k + 1
            if i == n:
                return fields
            if line[i] != COMMA:
                return "malformed_quotes"
            i += 1
            continue
        k = line.find(b",", i)
        value_b = line[i:] if k < 0 else line[i:k]
        if b'"' in value_b:
            return "malformed_quotes"
        fields.append(value_b)
        if k < 0:
            return fields
        i = k + 1


LINE_MESSAGES = {
    "bare_cr": "carriage return inside the line (lines end in LF or CRLF; a value may not hold a line break)",
    "unterminated_quote": "quoted value not closed on its line (a value may not span lines)",
    "malformed_quotes": "quote character inside an unquoted value, or text after a closing quote",
}


def _line_reject(line_no: int, raw: bytes, rule: str, ncols: int, got: int | None = None) -> RowReject:
    text = _shown(raw)
    if rule == "ragged_row":
        message = f"row has {got} field(s), header has {ncols}"
    elif rule == "line_too_long":
        message = f"line is {got:,} bytes, longer than the limit"
    else:
        message = LINE_MESSAGES[rule]
    return RowReject(line_no, None, rule, text[:500], message, text)


# --- CSV blocks -----------------------------------------------------------------------------------


@dataclass
class _Lines:
    """Physical lines of a block: start, end (without CR/LF) and number of each."""

    starts: np.ndarray
    ends: np.ndarray
    numbers: np.ndarray

    @classmethod
    def of(cls, buf: np.ndarray, first_line: int) -> _Lines:
        newlines = np.flatnonzero(buf == LF)
        starts = np.concatenate(([0], newlines + 1))
        ends = np.concatenate((newlines, [len(buf)]))
        if len(buf) and buf[-1] == LF:  # the block ends a line: no empty line after it
            starts, ends = starts[:-1], ends[:-1]
        has_cr = np.zeros(len(ends), dtype=bool)
        positive = ends > starts
        has_cr[positive] = buf[ends[positive] - 1] == CR
        ends = ends - has_cr
        return cls(starts, ends, np.arange(first_line, first_line + len(starts), dtype=np.int64))


def _line_of(lines: _Lines, positions: np.ndarray) -> np.ndarray:
    found: np.ndarray = np.searchsorted(lines.starts, positions, side="right") - 1
    return found


def _suspect_quote_lines(buf: np.ndarray, lines: _Lines) -> np.ndarray:
    """Lines whose quoting the fast path does not vouch for (they go to ``split_csv_line``).

    A line is vouched for when it has an even number of quotes, every opening quote starts a
    field and every closing quote ends one (or is the first half of a doubled quote).
    """
    suspect = np.zeros(len(lines.starts), dtype=bool)
    q = np.flatnonzero(buf == QUOTE)
    if len(q) == 0:
        return suspect
    line = _line_of(lines, q)
    inside = q < lines.ends[line]  # a quote after the stripped end cannot exist, kept for safety
    first = np.searchsorted(q, lines.starts)
    rank = np.arange(len(q)) - first[line]
    opening = rank % 2 == 0
    counts = np.bincount(line, minlength=len(lines.starts))
    suspect |= counts % 2 == 1
    prev = np.where(q > 0, buf[np.maximum(q - 1, 0)], COMMA)
    at_start = q == lines.starts[line]
    prev_is_closing = np.zeros(len(q), dtype=bool)
    prev_is_closing[1:] = (q[1:] - 1 == q[:-1]) & ~opening[:-1] & (line[1:] == line[:-1])
    open_ok = at_start | (prev == COMMA) | prev_is_closing
    nxt_pos = np.minimum(q + 1, len(buf) - 1)
    at_end = q + 1 == lines.ends[line]
    close_ok = at_end | (buf[nxt_pos] == COMMA) | (buf[nxt_pos] == QUOTE)
    bad = ~inside | np.where(opening, ~open_ok, ~close_ok)
    suspect[line[bad]] = True
    return suspect


def _field_counts(buf: np.ndarray, lines: _Lines) -> np.ndarray:
    """Fields per line: commas outside quotes + 1 (valid for lines with sound quoting).

    Commas per line are found by bisecting the comma positions at the line bounds; only the
    lines holding a quote have their quoted commas found and taken off.
    """
    commas = np.flatnonzero(buf == COMMA)
    first = np.searchsorted(commas, lines.starts)
    last = np.searchsorted(commas, lines.ends)
    counts: np.ndarray = last - first + 1
    q = np.flatnonzero(buf == QUOTE)
    if len(q) == 0:
        return counts
    q_start = np.searchsorted(q, lines.starts)
    quoted = np.flatnonzero(np.searchsorted(q, lines.ends) > q_start)
    per_line = last[quoted] - first[quoted]
    if per_line.sum() == 0:
        return counts
    owner = np.repeat(np.arange(len(quoted)), per_line)
    rank = np.arange(len(owner)) - np.repeat(np.cumsum(per_line) - per_line, per_line)  # within its line
    picked = commas[first[quoted][owner] + rank]
    inside = (np.searchsorted(q, picked) - q_start[quoted][owner]) % 2 == 1
    counts[quoted] -= np.bincount(owner[inside], minlength=len(quoted))
    return counts


class _Disagreement(Exception):
    """pyarrow and the line rule disagree on a block: it is read by the reference path instead."""


def _gather(data: bytes, lines: _Lines, keep: np.ndarray) -> bytes:
    """The kept lines of a block, each ending in LF, as one buffer (copied only if needed).

    Consecutive kept lines are copied as one slice (a block with few rejects is a few slices);
    kept lines hold no CR (a bare CR rejects its line), so the only CRs in the slices are those
    of CRLF endings between lines, and dropping them gives every line the LF ending.
    """
    if keep.all():
        return data
    flags = np.concatenate(([0], keep.view(np.int8), [0]))
    edges = np.diff(flags)
    firsts, lasts = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    if len(firsts) == 0:
        return b""
    starts, ends = lines.starts[firsts].tolist(), lines.ends[lasts].tolist()
    body = b"\n".join([data[s:e] for s, e in zip(starts, ends, strict=True)]) + b"\n"
    return body.replace(b"\r\n", b"\n") if b"\r" in body else body


def _arrow_parse(body: bytes, header: list[str], wanted: list[str], block_size: int) -> pa.Table:
    """Binary columns of well-formed lines; raises ArrowInvalid at the first ragged one."""
    if not body:
        return pa.table({h: pa.array([], type=pa.binary()) for h in wanted})
    return pcsv.read_csv(
        pa.py_buffer(body),
        read_options=pcsv.ReadOptions(use_threads=True, column_names=header, block_size=block_size),
        convert_options=pcsv.ConvertOptions(
            column_types={h: pa.binary() for h in header},
            strings_can_be_null=False,
            include_columns=wanted,
        ),
    )


class CsvBlockReader:
    """Splits CSV blocks into columns with pyarrow, after the line rule has set bad lines aside."""

    def __init__(self, header: list[str], wanted: list[str], limits: IngestLimits) -> None:
        self.header = header
        self.wanted = wanted
        self.limits = limits
        self.block_size = max(1 << 20, limits.max_line_bytes + 2)

    def read(self, block: Block) -> tuple[dict[str, pa.Array], np.ndarray, list[RowReject]]:
        data = block.data
        buf = np.frombuffer(data, dtype=np.uint8)
        lines = _Lines.of(buf, block.first_line)
        nonempty = lines.ends > lines.starts
        rejected: dict[int, tuple[str, int | None]] = {}  # line index -> (rule, detail)
        lengths = lines.ends - lines.starts
        for i in np.flatnonzero(lengths > self.limits.max_line_bytes).tolist():
            rejected[i] = ("line_too_long", int(lengths[i]))
        suspects = np.zeros(len(lines.starts), dtype=bool)
        if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
            cr = np.flatnonzero(buf == CR)
            bare = cr[cr != lines.ends[_line_of(lines, cr)]]
            suspects[_line_of(lines, bare)] = True
        if b'"' in data:
            suspects |= _suspect_quote_lines(buf, lines)
        for i in np.flatnonzero(suspects & nonempty).tolist():
            if i in rejected:
                continue
            fields = split_csv_line(data[lines.starts[i] : lines.ends[i]])
            if isinstance(fields, str):
                rejected[i] = (fields, None)
            elif len(fields) != len(self.header):
                rejected[i] = ("ragged_row", len(fields))
        try:
            columns, kept = self._fast(data, buf, lines, nonempty, rejected)
        except _Disagreement:
            columns, kept = self._reference(data, lines, nonempty, rejected)
        rejects = [
            _line_reject(
                int(lines.numbers[i]), data[lines.starts[i] : lines.ends[i]], rule, len(self.header), got
            )
            for i, (rule, got) in sorted(rejected.items())
        ]
        return columns, lines.numbers[kept], rejects

    def _fast(
        self,
        data: bytes,
        buf: np.ndarray,
        lines: _Lines,
        nonempty: np.ndarray,
        rejected: dict[int, tuple[str, int | None]],
    ) -> tuple[dict[str, pa.Array], np.ndarray]:
        keep = nonempty.copy()
        keep[list(rejected)] = False
        try:
            table = _arrow_parse(_gather(data, lines, keep), self.header, self.wanted, self.block_size)
        except pa.ArrowInvalid:
            # ragged rows (the common case): count fields, set them aside, parse again
            counts = _field_counts(buf, lines)
            for i in np.flatnonzero(keep & (counts != len(self.header))).tolist():
                rejected[i] = ("ragged_row", int(counts[i]))
                keep[i] = False
            try:
                table = _arrow_parse(_gather(data, lines, keep), self.header, self.wanted, self.block_size)
            except pa.ArrowInvalid as exc:
                raise _Disagreement(str(exc)) from exc
        kept = np.flatnonzero(keep)
        if table.num_rows != len(kept):
            raise _Disagreement(f"{table.num_rows} rows parsed for {len(kept)} lines")
        columns = {h: table.column(h).combine_chunks() for h in self.wanted}
        return columns, kept

    def _reference(
        self, data: bytes, lines: _Lines, nonempty: np.ndarray, rejected: dict[int, tuple[str, int | None]]
    ) -> tuple[dict[str, pa.Array], np.ndarray]:
        """Every line through ``split_csv_line``: slower, and the definition of the result."""
        index = [self.header.index(h) for h in self.wanted]
        values: list[list[bytes]] = [[] for _ in self.wanted]
        kept: list[int] = []
        for i in np.flatnonzero(nonempty).tolist():
            if i in rejected and rejected[i][0] == "line_too_long":
                continue
            rejected.pop(i, None)
            fields = split_csv_line(data[lines.starts[i] : lines.ends[i]])
            if isinstance(fields, str):
                rejected[i] = (fields, None)
            elif len(fields) != len(self.header):
                rejected[i] = ("ragged_row", len(fields))
            else:
                kept.append(i)
                for out, j in zip(values, index, strict=True):
                    out.append(fields[j])
        columns = {h: pa.array(v, type=pa.binary()) for h, v in zip(self.wanted, values, strict=True)}
        return columns, np.array(kept, dtype=np.int64)


# --- JSON Lines -----------------------------------------------------------------------------------

SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))  # JSON has one number type: 5.0 is the integer 5
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


class _DuplicateKeys(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dupes = sorted({k for k, _ in pairs if k in seen or seen.add(k)})  # type: ignore[func-returns-value]
        raise _DuplicateKeys(f"key(s) {dupes[:5]} appear more than once in one object")
    return obj


class JsonBlockReader:
    """One JSON object per line; a line that is not one is rejected alone, with its reason."""

    def __init__(self, wanted: list[str], limits: IngestLimits) -> None:
        self.wanted = wanted
        self.limits = limits
        self.seen: set[str] = set()
        self.decoder = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)

    def read(self, block: Block) -> tuple[dict[str, pa.Array], np.ndarray, list[RowReject]]:
        values: dict[str, list[str | None]] = {c: [] for c in self.wanted}
        rows: list[int] = []
        rejects: list[RowReject] = []
        for line_no, line in enumerate(block.data.split(b"\n"), start=block.first_line):
            stripped = line.strip()
            if not stripped:
                continue
            failure = self._row(stripped, values)
            if failure is None:
                rows.append(line_no)
            else:
                rule, message = failure
                rejects.append(RowReject(line_no, None, rule, None, message, _shown(stripped)))
        columns = {c: pa.array(v, type=pa.string()) for c, v in values.items()}
        return columns, np.array(rows, dtype=np.int64), rejects

    def _row(self, line: bytes, values: dict[str, list[str | None]]) -> tuple[str, str] | None:
        """Appends the line's values, or returns (rule, message) and appends nothing."""
        if len(line) > self.limits.max_line_bytes:
            return "line_too_long", f"line is {len(line):,} bytes, longer than the limit"
        try:
            obj = self.decoder.decode(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            return "encoding", f"line is not valid UTF-8 ({exc.reason})"
        except _DuplicateKeys as exc:
            return "duplicate_key", str(exc)
        except RecursionError:
            return "malformed_json", "invalid JSON: nested too deeply"
        except ValueError as exc:
            return "malformed_json", f"invalid JSON: {exc}"
        if not isinstance(obj, dict):
            return "malformed_json", f"line is a JSON {type(obj).__name__}, expected an object"
        folded: dict[str, Any] = {}
        for k, v in obj.items():
            name = k.strip().lower()  # as CSV headers are read
            if name in folded:
                return "duplicate_key", f"keys differing only in case or spaces name one column: {name!r}"
            folded[name] = v
        try:
            texts = [_json_text(folded.get(c)) for c in self.wanted]
        except RecursionError:
            return "malformed_json", "invalid JSON: nested too deeply"
        if SURROGATE_ESCAPE.search(line) and not _encodable([*folded, *(t for t in texts if t is not None)]):
            return "encoding", "lone UTF-16 surrogate escape (\\ud800-\\udfff): not valid Unicode"
        self.seen.update(folded)
        for c, t in zip(self.wanted, texts, strict=True):
            values[c].append(t)
        return None


def _encodable(texts: list[str]) -> bool:
    """False when a decoded JSON string holds a lone surrogate (json accepts "\\ud800")."""
    try:
        for text in texts:
            text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- the streaming reader ----------------------------------------------------------------------


def _detect_format(key: str, head: bytes, contract: DatasetContract) -> str:
    name = key[:-3] if key.endswith(".gz") else key
    base = name.rsplit("/", 1)[-1]
    suffix = base.rsplit(".", 1)[-1].lower() if "." in base else ""
    if suffix == "csv":
        fmt = "csv"
    elif suffix in ("jsonl", "ndjson", "json"):
        fmt = "jsonl"
    elif suffix == "":
        fmt = "jsonl" if head.lstrip()[:1] == b"{" else "csv"
    else:
        raise FileRejected(
            "UNSUPPORTED_FORMAT",
            f"{key}: file type '.{suffix[:20]}' is not one of {list(contract.formats)} "
            "(expected .csv, .jsonl, optionally .gz)",
        )
    if fmt not in contract.formats:
        raise FileRejected("UNSUPPORTED_FORMAT", f"{key}: {fmt} is not accepted for dataset {contract.name}")
    return fmt


def _require_columns(key: str, contract: DatasetContract, header: list[str]) -> None:
    missing = [c for c in contract.required_columns if c not in header]
    if missing:
        raise FileRejected(
            "MISSING_REQUIRED_COLUMNS",
            f"{key}: required column(s) {_names(missing)} absent from {contract.name} file "
            f"(found {_names(header)})",
        )


def _read_header(key: str, line: bytes, contract: DatasetContract) -> list[str]:
    line = line[:-1] if line.endswith(b"\r") else line
    if b"\x00" in line:
        raise FileRejected("UNREADABLE_ENCODING", f"{key}: NUL bytes in the first line; not UTF-8 text")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected(
            "UNREADABLE_ENCODING", f"{key}: first line is not valid UTF-8 ({exc.reason})"
        ) from exc
    fields = split_csv_line(line)
    if isinstance(fields, str):
        hint = "; lines must end in LF or CRLF, not a bare CR" if fields == "bare_cr" else ""
        raise FileRejected("UNPARSABLE_CSV", f"{key}: cannot read the header line ({fields}){hint}")
    header = [f.decode("utf-8").strip().lower() for f in fields]
    if all(h == "" for h in header):
        raise FileRejected("EMPTY_FILE", f"{key}: no header line")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise FileRejected("DUPLICATE_COLUMNS", f"{key}: header repeats column(s) {_names(dupes)}")
    _require_columns(key, contract, header)
    return header


class RawReader:
    """Streams one object's rows as RawBatch blocks; whole-file faults raise FileRejected.

    Faults found at the start (encoding, header, format) raise from ``open_raw``; faults only
    known later (truncated gzip, size limits, a JSON Lines file without a required key) raise
    while iterating, so the caller must be ready to discard what it already wrote.
    """

    def __init__(
        self, chunks: Iterable[bytes], key: str, contract: DatasetContract, limits: IngestLimits
    ) -> None:
        self.key = key
        self.contract = contract
        self.limits = limits
        self.compression, inflated = inflate(chunks, key, limits)
        head = b""
        stream = iter(inflated)
        for chunk in stream:
            head += chunk
            if len(head) >= 4:
                break
        skip = check_start(head, key)
        self._items = blocks(_prepend(head, stream), limits, skip)
        self._first: Block | LongLine | None = next(self._items, None)
        while isinstance(self._first, Block) and not self._first.data.strip():
            following = next(self._items, None)  # blank so far: the first line with content decides
            if following is None:
                self._first = None
                break
            self._first = _join(self._first, following)
        if self._first is None:
            raise FileRejected("EMPTY_FILE", f"{key}: no content after decompression")
        sniff = self._first.data[:4096] if isinstance(self._first, Block) else self._first.sample
        self.format = _detect_format(key, sniff, contract)
        self.wanted = [c.name for c in contract.input_columns]
        self.rows_in = 0
        if self.format == "csv":
            self.header = self._csv_header()
            present = [h for h in self.header if h in self.wanted]
            self._csv = CsvBlockReader(self.header, present, limits)
            self.ignored_columns = [h for h in self.header if h not in self.wanted]
        else:
            self.header = []
            self._json = JsonBlockReader(self.wanted, limits)
            self.ignored_columns = []

    def _csv_header(self) -> list[str]:
        first = self._first
        if isinstance(first, LongLine):
            raise FileRejected(
                "UNPARSABLE_CSV",
                f"{self.key}: header line is longer than {self.limits.max_line_bytes:,} bytes",
            )
        assert first is not None
        end = first.data.find(b"\n")
        line = first.data if end < 0 else first.data[:end]
        if len(line) > self.limits.max_line_bytes:
            raise FileRejected(
                "UNPARSABLE_CSV",
                f"{self.key}: header line is longer than {self.limits.max_line_bytes:,} bytes",
            )
        header = _read_header(self.key, line, self.contract)
        self._first = Block(2, first.data[end + 1 :] if end >= 0 else b"")
        return header

    def batches(self) -> Iterator[RawBatch]:
        pending: list[RowReject] = []
        items: Iterator[Block | LongLine] = _prepend_item(self._first, self._items)
        for item in items:
            if isinstance(item, LongLine):
                pending.append(
                    _line_reject(item.line, item.sample, "line_too_long", len(self.header), item.length)
                )
                continue
            if not item.data:
                continue
            if self.format == "csv":
                columns, rows, rejects = self._csv.read(item)
            else:
                columns, rows, rejects = self._json.read(item)
            if pending:
                rejects = sorted(pending + rejects, key=lambda r: r.source_row)
                pending = []
            batch = RawBatch(
                columns, rows, rejects, self.format, self.compression, self.header, self.ignored_columns
            )
            self.rows_in += batch.rows_in
            yield batch
        if pending:
            if self.format == "csv":
                empty = {c: pa.array([], type=pa.binary()) for c in self._csv.wanted}
            else:
                empty = {c: pa.array([], type=pa.string()) for c in self.wanted}
            batch = RawBatch(
                empty,
                np.array([], dtype=np.int64),
                pending,
                self.format,
                self.compression,
                self.header,
                self.ignored_columns,
            )
            self.rows_in += batch.rows_in
            yield batch
        self._finish()

    def _finish(self) -> None:
        if self.format == "jsonl":
            seen = self._json.seen
            self.header = sorted(seen)
            self.ignored_columns = [c[:100] for c in sorted(seen - set(self.wanted))[:MAX_SHOWN_COLUMNS]]
            if self.rows_in == 0:
                raise FileRejected("EMPTY_FILE", f"{self.key}: no JSON lines")
            if seen:
                _require_columns(self.key, self.contract, self.header)
        elif self.rows_in == 0:
            raise FileRejected("NO_DATA_ROWS", f"{self.key}: header only, no data rows")


def _join(first: Block, following: Block | LongLine) -> Block | LongLine:
    """A blank first block and what follows it (a long line there is the first content)."""
    if isinstance(following, LongLine):
        return following
    return Block(first.first_line, first.data + following.data)


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    if head:
        yield head
    yield from rest


def _prepend_item(
    first: Block | LongLine | None, rest: Iterator[Block | LongLine]
) -> Iterator[Block | LongLine]:
    if first is not None:
        yield first
    yield from rest


def open_raw(
    chunks: Iterable[bytes], key: str, contract: DatasetContract, limits: IngestLimits | None = None
) -> RawReader:
    """A streaming reader over the object's chunks (raises FileRejected for faults at its start)."""
    return RawReader(chunks, key, contract, limits or IngestLimits())


def read_raw(
    data: bytes, key: str, contract: DatasetContract, limits: IngestLimits | None = None
) -> RawBatch:
    """The whole object as one batch: the streaming reader, drained (tests and small files)."""
    if not data:
        raise FileRejected("EMPTY_FILE", f"{key}: object is empty (0 bytes)")
    reader = open_raw([data], key, contract, limits)
    parts = list(reader.batches())
    names = parts[0].columns.keys() if parts else []
    if len(parts) == 1:  # one block: its arrays as they are (concat_arrays would copy them)
        columns = dict(parts[0].columns)
    else:
        columns = {name: pa.concat_arrays([p.columns[name] for p in parts]) for name in names}
    rows = np.concatenate([p.row_numbers for p in parts]) if parts else np.array([], dtype=np.int64)
    rejects = [r for p in parts for r in p.pre_rejects]
    return RawBatch(
        columns, rows, rejects, reader.format, reader.compression, reader.header, reader.ignored_columns
    )
