"""Properties of ingest over generated hostile input (hypothesis).

Whatever the bytes, under whatever dataset prefix and extension:
  * ingest ends STAGED, ALL_ROWS_REJECTED or FILE_QUARANTINED with a documented reason code,
    never an exception;
  * rows_in == rows_valid + rows_rejected;
  * every physical row, counted independently here (plain ``bytes.split``), appears exactly once
    among the staged rows (lineage_source_row) and the rejected rows (source_row);
  * the fast CSV path and the reference line parser agree, and batch size changes nothing.

Budget: the ``ci`` profile (default) is derandomized (a fixed seed) and runs a few thousand
examples in all; ``make fuzz`` runs the same properties under the ``fuzz`` profile for long runs.
Every crash class found so far is an ``@example`` of the property it broke.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from datetime import UTC, datetime

import pyarrow.parquet as pq
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from datapipe.contracts import default_registry
from datapipe.ingest.limits import IngestLimits
from datapipe.ingest.reader import CsvBlockReader, FileRejected, read_raw, split_csv_line
from datapipe.ingest.service import IngestDeps, ObjectRef, ingest_object
from datapipe.ingest.source import Block
from datapipe.settings import Settings
from tests.unit.conftest import MemoryStore, RecordingBus, RecordingNotifier

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=5_000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
SCALE = 1 if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci" else 20

REGISTRY = default_registry()
RAW, CURATED, QUARANTINE = "raw", "curated", "quarantine"
SETTINGS = Settings(stage="test", raw_bucket=RAW, curated_bucket=CURATED, quarantine_bucket=QUARANTINE)
NOW = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)
ARRIVED = datetime(2026, 11, 21, 22, 59, tzinfo=UTC)
# small limits, so that generated files reach the long-line, multi-batch and size-limit paths
LIMITS = IngestLimits(max_line_bytes=600, batch_bytes=2_048, max_inflated_bytes=200_000, part_max_bytes=4_096)

FILE_CODES = {
    "UNKNOWN_PREFIX",
    "EMPTY_FILE",
    "NO_DATA_ROWS",
    "UNREADABLE_ENCODING",
    "UNPARSABLE_CSV",
    "DUPLICATE_COLUMNS",
    "MISSING_REQUIRED_COLUMNS",
    "UNSUPPORTED_FORMAT",
    "MALFORMED_GZIP",
    "FILE_TOO_LARGE",
}
PREFIXES = [*(c.raw_prefix for c in REGISTRY), "payroll/", ""]
EXTENSIONS = [".csv", ".jsonl", ".json", ".ndjson", ".csv.gz", ".jsonl.gz", ".gz", "", ".txt", ".CSV"]


# --- generators -------------------------------------------------------------------------------

ODD_NUMBERS = [
    "1",
    "-1",
    "+5",
    "0",
    "-0",
    "1e5",
    "1,000.00",
    ".5",
    "5.",
    "00012",
    "12.345678",
    "NaN",
    "inf",
    "99999999999999999999",
    "1.2.3",
    "",
    " 7 ",
    "0x1F",
    "١٢٣",
]
ODD_TIMES = [
    "2026-11-21T10:00:00Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "2026-11-21T10:00:00-08:00",
    "2026-11-21T10:00:00+05:30",
    "2026-02-30T10:00:00Z",
    "2026-11-21T23:59:60Z",
    "2026-11-21 10:00:00",
    "2026-11-21T10:00:00z",
    "1677-09-21T00:12:43Z",
    "2262-04-11T23:47:17Z",
    "2026-11-21T10:00:00.123456Z",
    "2026-11-21T10:00:00+24:00",
    "2027-06-01T00:00:00Z",
    "1999-01-01T00:00:00Z",
    "",
]
ODD_TEXT = [
    "USD",
    "JPY",
    "EUR",
    "usd",
    "US$",
    "XXX",
    "CA",
    "ZZ",
    "PURCHASE",
    "REFUND",
    "SALE",
    "THEFT",
    "POS",
    "ATM",
    "checking",
    "credit",
    'say "hi"',
    "a,b",
    "Caf\u00e9",
    "\u0000",
    "\ufeff",
    "\ud83d\ude00",
    "x" * 300,
    "T0000001",
    "ACC000001",
    "",
]


VALUES = ODD_NUMBERS + ODD_TIMES + ODD_TEXT


def cell(rnd) -> str:
    """One value: mostly the odd ones above, sometimes random text (drawn from a seeded Random:
    hypothesis still controls it, and a file costs a handful of draws instead of hundreds)."""
    if rnd.random() < 0.85:
        return rnd.choice(VALUES)
    return "".join(
        chr(rnd.choice([rnd.randrange(32, 127), rnd.randrange(0, 0x2FF)])) for _ in range(rnd.randrange(8))
    )


@st.composite
def header_names(draw, contract) -> list[str]:
    names = [c.name for c in contract.input_columns]
    names = draw(st.permutations(names))
    if draw(st.booleans()):
        names = [n for n in names if draw(st.integers(0, 9)) > 0]  # drop some columns
    if draw(st.integers(0, 4)) == 0:
        names.append(draw(st.sampled_from(["extra", names[0] if names else "x", "Amount", " cashier "])))
    if draw(st.integers(0, 4)) == 0:
        names = [n.upper() if draw(st.booleans()) else f" {n} " for n in names]
    return names


def csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n\r') else value


@st.composite
def csv_files(draw, contract) -> bytes:
    names = draw(header_names(contract))
    rnd = draw(st.randoms(use_true_random=False))
    lines = [",".join(names)]
    kinds = draw(st.lists(st.integers(0, 12), max_size=12 * SCALE))
    for i, kind in enumerate(kinds):
        cells = [cell(rnd) for _ in names]
        if names and rnd.random() < 0.3:
            cells[0] = f"T{i:07d}"
        if kind == 0 and cells:
            cells.pop()  # ragged
        elif kind == 1:
            cells.append("extra")
        elif kind == 2 and cells:
            cells[-1] = '"unterminated'
        elif kind == 3 and cells:
            cells[0] = cells[0] + '"mid'
        elif kind == 4 and cells:
            cells[0] = "x\ry"
        elif kind == 5 and cells:
            cells[0] = "z" * rnd.choice([700, 3_000])
        quote = rnd.random() < 0.5
        lines.append(",".join(csv_field(c) if quote else c for c in cells))
    eols = [rnd.choice(["\n", "\r\n", "\n", "\r", "\n\n"]) for _ in lines]
    text = "".join(line + eol for line, eol in zip(lines, eols, strict=True))
    if draw(st.booleans()):
        text = text.rstrip("\r\n")
    return text.encode("utf-8", "surrogatepass")


@st.composite
def jsonl_files(draw, contract) -> bytes:
    names = [c.name for c in contract.input_columns]
    rnd = draw(st.randoms(use_true_random=False))
    out: list[bytes] = []
    for i, kind in enumerate(draw(st.lists(st.integers(0, 10), max_size=10 * SCALE))):
        record: dict[str, object] = {n: cell(rnd) for n in names if rnd.random() < 0.9}
        if names and rnd.random() < 0.5:
            record[names[0]] = f"T{i:07d}"
        if kind == 0:
            out.append(b'{"broken": ')
            continue
        if kind == 1:
            out.append(b"[" * 1_000 + b"]" * 1_000)
            continue
        if kind == 2:
            out.append(b'{"' + names[0].encode() + b'": "\\ud800"}')
            continue
        if kind == 3 and names:
            record[names[0].upper()] = "dup"
        if kind == 4:
            record["nested"] = {"a": [1, {"b": None}]}
        if kind == 5 and names:
            record[names[-1]] = rnd.choice([1.5, 5.0, 10**30, True, None, [1], {"x": 1}])
        if kind == 6:
            out.append(rnd.choice([b"42", b'"text"', b"null", b"\xff\xfe{}", b"{} {}", b'{"a": 1, "a": 2}']))
            continue
        out.append(json.dumps(record).encode("utf-8", "surrogatepass"))
    eol = draw(st.sampled_from([b"\n", b"\r\n"]))
    return eol.join(out) + (eol if draw(st.booleans()) else b"")


def wrap(draw, body: bytes) -> bytes:
    how = draw(st.integers(0, 12))
    if how == 0:
        return gzip.compress(body)
    if how == 1:
        half = len(body) // 2
        return gzip.compress(body[:half]) + gzip.compress(body[half:])  # concatenated members
    if how == 2:
        return gzip.compress(body)[: draw(st.integers(0, 40))]  # truncated
    if how == 3:
        return b"\xef\xbb\xbf" + body
    if how == 4:
        return b"\xff\xfe" + body.decode("utf-8", "replace").encode("utf-16-le")
    if how == 5:
        return body.decode("utf-8", "replace").encode("utf-16-le")
    if how == 6:
        return gzip.compress(body) + b"trailing"
    if how == 7:
        return body + bytes(draw(st.binary(max_size=30)))
    if how == 8:
        return body.replace(b",", b"\x00", 1)
    return body


@st.composite
def objects(draw) -> tuple[str, bytes]:
    prefix = draw(st.sampled_from(PREFIXES))
    contract = REGISTRY.for_key(prefix) or draw(st.sampled_from(list(REGISTRY)))
    kind = draw(st.integers(0, 9))
    if kind == 0:
        body = draw(st.binary(max_size=300))
    elif kind < 6:
        body = draw(csv_files(contract))
    else:
        body = draw(jsonl_files(contract))
    body = wrap(draw, body)
    key = f"{prefix}2026-11-21/f{draw(st.integers(0, 99))}{draw(st.sampled_from(EXTENSIONS))}"
    return key, body


# --- the independent count ------------------------------------------------------------------------


def physical_rows(body: bytes, fmt: str) -> list[int]:
    """Line numbers of the rows a file holds, by the documented rule and nothing else."""
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    lines = body.split(b"\n")
    if fmt == "csv":
        return [n for n, line in enumerate(lines, start=1) if n > 1 and line not in (b"", b"\r")]
    return [n for n, line in enumerate(lines, start=1) if line.strip()]


def ingest(key: str, body: bytes, limits: IngestLimits = LIMITS):
    store, bus, notifier = MemoryStore(), RecordingBus(), RecordingNotifier()
    store.add(RAW, key, body, version_id="v1", last_modified=ARRIVED)
    deps = IngestDeps(store, bus, notifier, SETTINGS, REGISTRY, limits=limits)
    return ingest_object(ObjectRef(RAW, key, "v1"), deps, now=NOW), store


def staged_and_rejected_rows(report, store: MemoryStore) -> list[int]:
    rows: list[int] = []
    for part in report.staged_parts or []:
        table = pq.read_table(__import__("io").BytesIO(store.body(CURATED, part["key"])))
        rows.extend(table.column("lineage_source_row").to_pylist())
    if report.quarantine and report.status != "FILE_QUARANTINED":
        for line in store.body(QUARANTINE, report.quarantine["key"]).splitlines():
            rows.append(json.loads(line)["source_row"])
    return rows


# --- properties ---------------------------------------------------------------------------------

TX_HEADER = b",".join(c.name.encode() for c in REGISTRY.get("transactions").input_columns)
TX_RECORD = {
    "transaction_id": "T0000001",
    "transaction_type": "PURCHASE",
    "location_country": "US",
    "home_country": "US",
    "account_id": "ACC001",
    "card_id": "CARD1",
    "customer_id": "CUS1",
    "store_id": "S001",
    "merchant": "FreshMart",
    "merchant_category": "GROCERY",
    "amount": "10.00",
    "currency": "USD",
    "channel": "POS",
    "location_state": "CA",
    "home_state": "CA",
    "account_type": "checking",
    "event_time": "2026-11-21T10:00:00Z",
}
GOOD_ROW = ",".join(str(TX_RECORD.get(c.decode(), "")) for c in TX_HEADER.split(b",")).encode()
CRASHES = [  # the measured crash classes (issue 9), each an example of the property it broke
    ("transactions/2026-11-21/a.csv", TX_HEADER + b"\nx\ry\n"),  # IndexError
    ("transactions/2026-11-21/a.csv", TX_HEADER + b"\nx\ry\n" + GOOD_ROW + b"\n"),  # _csv.Error
    (  # UnicodeEncodeError
        "transactions/2026-11-21/a.jsonl",
        json.dumps({**TX_RECORD, "merchant": "\ud800"}).encode().replace(b"\\\\", b"\\") + b"\n",
    ),
    ("transactions/2026-11-21/a.jsonl", b"[" * 1_000 + b"]" * 1_000 + b"\n"),  # RecursionError
    ("transactions/2026-11-21/a.csv.gz", gzip.compress(TX_HEADER + b"\n" + GOOD_ROW + b"\n") * 40),  # members
    (  # a quoted value spanning lines: counted one way on one path, quarantined on the other
        "transactions/2026-11-21/a.csv",
        TX_HEADER + b"\n" + GOOD_ROW.replace(b"FreshMart", b'"Fresh\nMart"') + b"\n" + GOOD_ROW + b"\n",
    ),
    (
        "transactions/2026-11-21/a.csv",
        TX_HEADER + b"\n" + GOOD_ROW.replace(b"FreshMart", b"x" * 3_000) + b"\n",
    ),
    ("transactions/2026-11-21/a.jsonl", json.dumps({**TX_RECORD, "AMOUNT": "99"}).encode() + b"\n"),
]


@settings(max_examples=700 * SCALE)
@given(objects())
@example(CRASHES[0])
@example(CRASHES[1])
@example(CRASHES[2])
@example(CRASHES[3])
@example(CRASHES[4])
@example(CRASHES[5])
@example(CRASHES[6])
@example(CRASHES[7])
def test_any_object_ends_staged_or_quarantined_and_every_row_is_counted_once(obj):
    key, body = obj
    report, store = ingest(key, body)
    assert report.status in ("STAGED", "ALL_ROWS_REJECTED", "FILE_QUARANTINED")
    assert report.rows_in == report.rows_valid + report.rows_rejected
    if report.status == "FILE_QUARANTINED":
        assert report.reason_code in FILE_CODES, report.reason
        assert report.rows_in == 0
        assert len(report.reason or "") <= LIMITS.max_reason_chars
        return
    assert report.reason_code in (None, "ALL_ROWS_REJECTED")
    counted = staged_and_rejected_rows(report, store)
    assert sorted(counted) == physical_rows(body, report.format)  # each row exactly once
    assert report.rows_in == len(counted)


TX = REGISTRY.get("transactions")


@settings(max_examples=600 * SCALE)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30), st.data())
@example([b"a", b"x\ry", b"a,b"], None)
def test_fast_csv_path_agrees_with_the_reference_line_parser(lines, data):
    # GIVEN lines built from quotes, commas, CRs, NUL and arbitrary bytes
    if data is not None:
        extra = data.draw(st.lists(st.text(alphabet=',"\r ab\x00é', max_size=12), max_size=20))
        lines = lines + [e.encode() for e in extra]
    header = ["a", "b", "c"]
    block = Block(2, b"\n".join(lines) + b"\n")
    reader = CsvBlockReader(header, header, IngestLimits(max_line_bytes=30))
    # WHEN read by the fast path and by the reference path
    columns, rows, rejects = reader.read(block)
    ref_rows: list[int] = []
    ref_values: list[list[bytes]] = []
    ref_rules: dict[int, str] = {}
    for n, physical in enumerate(lines, start=2):
        line = physical[:-1] if physical.endswith(b"\r") else physical
        if not line:
            continue
        if len(line) > 30:
            ref_rules[n] = "line_too_long"
            continue
        fields = split_csv_line(line)
        if isinstance(fields, str):
            ref_rules[n] = fields
        elif len(fields) != 3:
            ref_rules[n] = "ragged_row"
        else:
            ref_rows.append(n)
            ref_values.append(fields)
    # THEN they keep the same rows with the same values and reject the rest for the same reasons
    assert rows.tolist() == ref_rows
    got = list(zip(*(columns[h].to_pylist() for h in header), strict=True))
    assert [list(v) for v in got] == ref_values
    assert {r.source_row: r.rule for r in rejects} == ref_rules


@settings(max_examples=150 * SCALE)
@given(st.sampled_from(list(REGISTRY)).flatmap(lambda c: st.tuples(st.just(c), csv_files(c))))
def test_batch_size_changes_nothing(case):
    contract, body = case
    key = contract.raw_prefix + "f.csv"
    results = []
    for batch_bytes in (300, 1_000, 1 << 20):
        try:
            batch = read_raw(body, key, contract, IngestLimits(max_line_bytes=600, batch_bytes=batch_bytes))
        except FileRejected as exc:
            results.append(("rejected", exc.code))
            continue
        rejects = [(r.source_row, r.rule) for r in batch.pre_rejects]
        cols = {k: v.to_pylist() for k, v in batch.columns.items()}
        results.append((batch.row_numbers.tolist(), rejects, cols))
    assert results[0] == results[1] == results[2]


def test_each_measured_crash_class_now_ends_with_a_row_reason():
    rules = []
    for key, body in CRASHES[:4]:
        report, store = ingest(key, body, IngestLimits())
        assert report.status in ("STAGED", "ALL_ROWS_REJECTED"), report.reason
        lines = store.body(QUARANTINE, report.quarantine["key"]).splitlines()
        rules.append(sorted(json.loads(line)["rule"] for line in lines))
    assert rules == [["bare_cr"], ["bare_cr"], ["encoding"], ["malformed_json"]]


def test_case_colliding_json_keys_reject_the_row_not_the_file():
    body = json.dumps(TX_RECORD).encode() + b"\n" + CRASHES[7][1]
    report, store = ingest("transactions/2026-11-21/a.jsonl", body, IngestLimits())
    assert (report.status, report.rows_valid, report.rows_rejected) == ("STAGED", 1, 1)
    (line,) = store.body(QUARANTINE, report.quarantine["key"]).splitlines()
    assert (json.loads(line)["source_row"], json.loads(line)["rule"]) == (2, "duplicate_key")


def test_an_over_long_field_rejects_its_row_and_keeps_the_rest():
    key, body = CRASHES[6]
    body += GOOD_ROW.replace(b"T0000001", b"T0000002") + b"\n"
    report, _store = ingest(key, body, IngestLimits())
    assert (report.status, report.rows_valid, report.rows_rejected) == ("STAGED", 1, 1)


def test_concatenated_gzip_members_count_against_one_limit():
    # GIVEN a 1 MB-class upload of many members, each inflating well below the limit alone
    member = gzip.compress(b"\n" * 100_000)
    body = member * 5
    with_limit = IngestLimits(max_inflated_bytes=300_000)
    try:
        read_raw(body, "transactions/bomb.csv.gz", TX, with_limit)
    except FileRejected as exc:
        assert exc.code == "FILE_TOO_LARGE"
    else:
        raise AssertionError("five members of 100 kB passed a 300 kB limit")


def test_a_gzip_bomb_never_inflates_whole_in_memory():
    bomb = zlib.compress(b"\0" * 50_000_000, 9)
    body = gzip.compress(b"")[:10] + bomb[2:-4] + b"\0" * 8  # a raw deflate stream in a gzip frame
    report, _ = ingest("transactions/bomb.csv.gz", body, IngestLimits(max_inflated_bytes=1_000_000))
    assert report.status == "FILE_QUARANTINED"
    assert report.reason_code in ("FILE_TOO_LARGE", "MALFORMED_GZIP")
