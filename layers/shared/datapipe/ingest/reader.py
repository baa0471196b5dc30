"""Turns raw bytes (CSV / JSON Lines, optionally gzip) into untyped columns plus row numbers.

Nothing is typed here: every column is read as bytes so that one bad value can never abort the
whole file (a typed CSV read does). Typing and rules are applied, vectorised, in ``validation``.
Rows that cannot even be split into columns (ragged CSV rows, malformed JSON lines) become
``RowReject`` entries with their physical line number.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from datapipe.contracts import DatasetContract

GZIP_MAGIC = b"\x1f\x8b"
BOMS_UNSUPPORTED = {
    b"\xff\xfe\x00\x00": "UTF-32 LE",
    b"\x00\x00\xfe\xff": "UTF-32 BE",
    b"\xff\xfe": "UTF-16 LE",
    b"\xfe\xff": "UTF-16 BE",
}
UTF8_BOM = b"\xef\xbb\xbf"
MAX_DECOMPRESSED_BYTES = 2 * 1024**3


class FileRejected(Exception):
    """The whole file cannot be ingested; ``code`` is machine-readable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


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


def decompress(data: bytes, key: str) -> tuple[bytes, str]:
    """Inflates gzip (by magic bytes, whatever the key says); a broken gzip rejects the file."""
    if data[:2] != GZIP_MAGIC:
        if key.endswith(".gz"):
            raise FileRejected("MALFORMED_GZIP", f"{key} ends in .gz but is not gzip data")
        return data, "none"
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(data, MAX_DECOMPRESSED_BYTES)
        if d.unconsumed_tail:
            raise FileRejected(
                "FILE_TOO_LARGE", f"{key} inflates to more than {MAX_DECOMPRESSED_BYTES} bytes"
            )
        if not d.eof:
            raise FileRejected("MALFORMED_GZIP", f"{key}: gzip stream is truncated")
        rest = d.unused_data
        while rest:  # concatenated gzip members are valid gzip
            if rest[:2] != GZIP_MAGIC:
                break
            out += gzip.decompress(rest)
            rest = b""
        return out, "gzip"
    except (zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise FileRejected("MALFORMED_GZIP", f"{key}: cannot inflate gzip data ({exc})") from exc


def detect_format(key: str, data: bytes, contract: DatasetContract) -> str:
    name = key[:-3] if key.endswith(".gz") else key
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    if suffix == "csv":
        fmt = "csv"
    elif suffix in ("jsonl", "ndjson", "json"):
        fmt = "jsonl"
    elif suffix == "":
        fmt = "jsonl" if data.lstrip()[:1] == b"{" else "csv"
    else:
        raise FileRejected(
            "UNSUPPORTED_FORMAT",
            f"{key}: file type '.{suffix}' is not one of {list(contract.formats)} "
            "(expected .csv, .jsonl, optionally .gz)",
        )
    if fmt not in contract.formats:
        raise FileRejected("UNSUPPORTED_FORMAT", f"{key}: {fmt} is not accepted for dataset {contract.name}")
    return fmt


def check_encoding(data: bytes, key: str) -> bytes:
    for bom, name in BOMS_UNSUPPORTED.items():
        if data.startswith(bom):
            raise FileRejected("UNREADABLE_ENCODING", f"{key}: {name} byte-order mark; files must be UTF-8")
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    first_line = data[: data.find(b"\n")] if b"\n" in data else data
    if b"\x00" in first_line:
        raise FileRejected("UNREADABLE_ENCODING", f"{key}: NUL bytes in the first line; not UTF-8 text")
    try:
        first_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileRejected(
            "UNREADABLE_ENCODING", f"{key}: first line is not valid UTF-8 ({exc.reason})"
        ) from exc
    return data


def _line_spans(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive, without the "\\n" or "\\r\\n") of every physical line."""
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(buf)]))
    has_cr = np.zeros(len(ends), dtype=bool)
    positive = ends > starts
    has_cr[positive] = buf[ends[positive] - 1] == 13
    return starts, ends - has_cr


def _nonempty_line_numbers(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """1-based physical line numbers of non-empty lines ("\\r" alone counts as empty)."""
    return np.flatnonzero(ends > starts).astype(np.int64) + 1


def _line_keys(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Fingerprint of each span (length, first and last 8 bytes): equal spans get equal keys."""
    lengths = ends - starts
    first = np.zeros(len(starts), dtype=np.uint64)
    last = np.zeros(len(starts), dtype=np.uint64)
    long = np.flatnonzero(lengths >= 8)
    if len(long):
        # every 8-byte window of the data as one (unaligned) little-endian uint64
        windows = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
        first[long] = windows[starts[long]]
        last[long] = windows[ends[long] - 8]
    prime = np.uint64(1099511628211)
    keys: np.ndarray = (((lengths.astype(np.uint64) * prime) ^ first) * prime) ^ last
    return keys


def _locate_lines(data: bytes, starts: np.ndarray, ends: np.ndarray, texts: list[str]) -> list[int] | None:
    """0-based physical line of each malformed row, found from its text; None when unsure.

    The multi-threaded CSV reader reports a malformed row's text but not its number, and
    re-reading single-threaded only to number them costs more than the read itself. The answer is
    the same when every record is one line (no bare "\\r", and the caller's row/line count check)
    and each text is exactly one line of the file; otherwise the caller re-reads.
    """
    wanted = [t.encode("utf-8") for t in texts]
    if len(set(wanted)) != len(wanted) or any(not t or b"\n" in t or b"\r" in t for t in wanted):
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    sizes = np.array([len(t) for t in wanted], dtype=np.int64)
    text_keys = _line_keys(b"".join(wanted), np.cumsum(sizes) - sizes, np.cumsum(sizes))
    text_keys.sort()
    line_keys = _line_keys(data, starts, ends)
    nearest = np.minimum(np.searchsorted(text_keys, line_keys), len(text_keys) - 1)
    candidates = np.flatnonzero(text_keys[nearest] == line_keys)
    if len(candidates) > 1024 + 16 * len(wanted):  # fingerprints do not discriminate here
        return None
    found: dict[bytes, list[int]] = {t: [] for t in wanted}
    for i in candidates.tolist():
        hits = found.get(data[starts[i] : ends[i]])
        if hits is not None:
            hits.append(i)
    if any(len(hits) != 1 or hits[0] == 0 for hits in found.values()):
        return None
    return [found[t][0] for t in wanted]


def _normalise_header(names: list[str]) -> list[str]:
    return [n.strip().lower() for n in names]


def _read_csv(data: bytes, key: str, contract: DatasetContract) -> RawBatch:
    end = data.find(b"\n")
    first = (data if end < 0 else data[:end]).rstrip(b"\r")  # split() would copy the whole body
    try:
        names = _split_csv_line(first.decode("utf-8"))
    except csv.Error as exc:
        raise FileRejected(
            "UNPARSABLE_CSV",
            f"{key}: cannot read the header line ({exc}); lines must end in LF or CRLF, not a bare CR",
        ) from exc
    header = _normalise_header(names)
    if not header or all(h == "" for h in header):
        raise FileRejected("EMPTY_FILE", f"{key}: no header line")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise FileRejected("DUPLICATE_COLUMNS", f"{key}: header repeats column(s) {dupes}")
    _require_columns(key, contract, header)

    invalid: list[tuple[int | None, str | None]] = []

    def on_invalid(row: Any) -> str:
        try:
            text = row.text
        except UnicodeDecodeError:  # a ragged row with bad UTF-8: locate it by number instead
            text = None
        invalid.append((row.number, text))
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        return pcsv.read_csv(
            io.BytesIO(data),
            read_options=pcsv.ReadOptions(use_threads=use_threads, column_names=header, skip_rows=1),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(
                column_types={h: pa.binary() for h in header}, strings_can_be_null=False
            ),
        )

    starts, ends = _line_spans(np.frombuffer(data, dtype=np.uint8))
    lines = _nonempty_line_numbers(starts, ends)
    try:
        table = read(use_threads=True)
        if invalid:  # row numbers are only reported by the single-threaded reader
            texts = [text for _, text in invalid if text is not None]
            located = None if len(texts) < len(invalid) else _locate_lines(data, starts, ends, texts)
            if located is None:
                invalid.clear()
                table = read(use_threads=False)
            else:  # number = index among non-empty lines, 1-based, as the reader counts
                numbers = np.searchsorted(lines, np.array(located, dtype=np.int64) + 1) + 1
                invalid[:] = sorted(zip(numbers.tolist(), (text for _, text in invalid), strict=True))
    except pa.ArrowInvalid as exc:
        if "Expected" in str(exc) and "columns" in str(exc):
            # pyarrow could not hand a ragged row to the handler (its text is not UTF-8)
            return _read_csv_rowwise(data, key, contract, header)
        raise FileRejected("UNPARSABLE_CSV", f"{key}: {exc}") from exc

    # pyarrow numbers rows among non-empty lines, header included (number 1 = header line),
    # also with skip_rows=1; record index = number - 2.
    if any(n is None for n, _ in invalid):
        raise FileRejected("UNPARSABLE_CSV", f"{key}: could not locate malformed rows")
    bad_idx = np.array([n for n, _ in invalid], dtype=np.int64) - 2
    record_lines = lines[1:]
    keep = np.ones(len(record_lines), dtype=bool)
    pre_rejects: list[RowReject] = []
    if len(bad_idx):
        keep[bad_idx] = False
        for line_no in record_lines[bad_idx]:
            # the row as it is in the file (pyarrow's text may be missing for bad UTF-8)
            text = (
                data[starts[line_no - 1] : ends[line_no - 1]]
                .rstrip(b"\r")
                .decode("utf-8", "backslashreplace")
            )
            got = len(_split_csv_line(text))
            pre_rejects.append(
                RowReject(
                    source_row=int(line_no),
                    column=None,
                    rule="ragged_row",
                    value=text[:500],
                    message=f"row has {got} field(s), header has {len(header)}",
                    record=text[:2000],
                )
            )
    row_numbers = record_lines[keep]
    if len(row_numbers) != table.num_rows:
        raise FileRejected(
            "UNPARSABLE_CSV",
            f"{key}: could not align {table.num_rows} parsed rows with {len(row_numbers)} lines "
            "(quoted values spanning lines are not supported)",
        )
    columns = {h: table.column(h).combine_chunks() for h in header if h in contract.column_names}
    ignored = [h for h in header if h not in contract.column_names]
    return RawBatch(columns, row_numbers, pre_rejects, "csv", "none", header, ignored)


def _read_csv_rowwise(data: bytes, key: str, contract: DatasetContract, header: list[str]) -> RawBatch:
    """Slow path, only for a file whose ragged rows also hold invalid UTF-8: split every line
    with the csv module (bytes kept exact through surrogateescape) so such rows are rejected
    one by one instead of failing the file."""
    wanted = [h for h in header if h in contract.column_names]
    index = {h: i for i, h in enumerate(header)}
    values: dict[str, list[bytes]] = {h: [] for h in wanted}
    rows: list[int] = []
    pre_rejects: list[RowReject] = []
    seen_header = False
    for line_no, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.rstrip(b"\r")
        if not line:
            continue
        if not seen_header:
            seen_header = True
            continue
        text = line.decode("utf-8", "surrogateescape")
        try:
            fields = _split_csv_line(text)
        except csv.Error as exc:
            raise FileRejected("UNPARSABLE_CSV", f"{key}: line {line_no}: {exc}") from exc
        if len(fields) != len(header):
            shown = line.decode("utf-8", "backslashreplace")
            pre_rejects.append(
                RowReject(
                    line_no,
                    None,
                    "ragged_row",
                    shown[:500],
                    f"row has {len(fields)} field(s), header has {len(header)}",
                    shown[:2000],
                )
            )
            continue
        rows.append(line_no)
        for h in wanted:
            values[h].append(fields[index[h]].encode("utf-8", "surrogateescape"))
    columns = {h: pa.array(v, type=pa.binary()) for h, v in values.items()}
    ignored = [h for h in header if h not in contract.column_names]
    return RawBatch(columns, np.array(rows, dtype=np.int64), pre_rejects, "csv", "none", header, ignored)


def _split_csv_line(text: str) -> list[str]:
    rows = list(csv.reader([text]))
    return rows[0] if rows else []


def _require_columns(key: str, contract: DatasetContract, header: list[str]) -> None:
    missing = [c for c in contract.required_columns if c not in header]
    if missing:
        raise FileRejected(
            "MISSING_REQUIRED_COLUMNS",
            f"{key}: required column(s) {missing} absent from {contract.name} file (found {header})",
        )


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


def _read_jsonl(data: bytes, key: str, contract: DatasetContract) -> RawBatch:
    wanted = contract.column_names
    values: dict[str, list[str | None]] = {c: [] for c in wanted}
    seen: set[str] = set()
    rows: list[int] = []
    pre_rejects: list[RowReject] = []
    loads = json.loads
    for line_no, line in enumerate(data.split(b"\n"), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        try:
            obj = loads(stripped)
        except UnicodeDecodeError as exc:
            pre_rejects.append(
                RowReject(
                    line_no,
                    None,
                    "encoding",
                    None,
                    f"line is not valid UTF-8 ({exc.reason})",
                    stripped.decode("utf-8", "backslashreplace")[:2000],
                )
            )
            continue
        except ValueError as exc:
            pre_rejects.append(
                RowReject(
                    line_no,
                    None,
                    "malformed_json",
                    None,
                    f"invalid JSON: {exc}",
                    stripped.decode("utf-8", "backslashreplace")[:2000],
                )
            )
            continue
        if not isinstance(obj, dict):
            pre_rejects.append(
                RowReject(
                    line_no,
                    None,
                    "malformed_json",
                    None,
                    f"line is a JSON {type(obj).__name__}, expected an object",
                    stripped.decode("utf-8", "backslashreplace")[:2000],
                )
            )
            continue
        obj = {str(k).strip().lower(): v for k, v in obj.items()}  # as CSV headers are read
        seen.update(obj.keys())
        rows.append(line_no)
        for col in wanted:
            values[col].append(_json_text(obj.get(col)))
    if not rows and not pre_rejects:
        raise FileRejected("EMPTY_FILE", f"{key}: no JSON lines")
    normalised = {s.strip().lower() for s in seen}
    if rows:
        _require_columns(key, contract, sorted(normalised))
    columns = {c: pa.array(v, type=pa.string()) for c, v in values.items() if c in seen}
    ignored = sorted(seen - set(wanted))
    return RawBatch(
        columns, np.array(rows, dtype=np.int64), pre_rejects, "jsonl", "none", sorted(seen), ignored
    )


def _blank(data: bytes) -> bool:
    """``not data.strip()`` without copying the body when its first byte is already not blank."""
    return not data[:1].strip() and not data.strip()


def read_raw(data: bytes, key: str, contract: DatasetContract) -> RawBatch:
    """Decompress, check encoding, split into columns. Raises FileRejected for whole-file faults."""
    if not data:
        raise FileRejected("EMPTY_FILE", f"{key}: object is empty (0 bytes)")
    payload, compression = decompress(data, key)
    if _blank(payload):
        raise FileRejected("EMPTY_FILE", f"{key}: no content after decompression")
    payload = check_encoding(payload, key)  # first: a byte-order mark would hide a JSON "{"
    fmt = detect_format(key, payload, contract)
    batch = _read_csv(payload, key, contract) if fmt == "csv" else _read_jsonl(payload, key, contract)
    batch.compression = compression
    if batch.rows_in == 0:
        raise FileRejected("NO_DATA_ROWS", f"{key}: header only, no data rows")
    return batch
