"""Rejects stream a bounded chunk at a time: an entirely rejected file never holds one Python
object per rejected row, and chunking changes nothing in what is written."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapipe.contracts import default_registry
from datapipe.ingest import service, validation
from datapipe.ingest.reader import read_raw
from datapipe.ingest.service import IngestDeps, ObjectRef, ingest_object
from datapipe.ingest.validation import REJECT_CHUNK_ROWS, Lineage, validate
from datapipe.settings import Settings

RAW, CURATED, QUARANTINE = "raw-bkt", "curated-bkt", "quarantine-bkt"
SETTINGS = Settings(stage="test", raw_bucket=RAW, curated_bucket=CURATED, quarantine_bucket=QUARANTINE)
NOW = datetime(2024, 1, 3, 12, 30, tzinfo=UTC)
KEY = "transactions/2024-01-02/pos-S001.csv"
HEADER = (
    "transaction_id,transaction_type,original_transaction_id,account_id,card_id,customer_id,store_id,"
    "merchant,merchant_category,amount,currency,channel,location_country,location_state,home_country,"
    "home_state,account_type,event_time"
)
ROWS = 20_000


def tx(tid: str, amount: str = "10.00", currency: str = "USD", channel: str = "POS") -> str:
    return (
        f"{tid},PURCHASE,,ACC001,CARD1,CUS1,S001,FreshMart,GROCERY,{amount},{currency},{channel},US,CA,US,CA,"
        "checking,2024-01-02T10:00:00Z"
    )


def bad_row(i: int) -> tuple[str, str]:
    """Row ``i`` broken one of four ways, and the rule its reject names first."""
    tid = f"T{i:07d}"
    kind = i % 4
    if kind == 0:
        return tx(tid, currency="US$"), "reference"
    if kind == 1:
        return tx(tid, amount="-5.00"), "amount_sign_matches_type"
    if kind == 2:
        return tx(tid, channel="PIGEON"), "allowed_values"
    return f"{tid},PURCHASE,too,few", "ragged_row"  # ragged: rejected by the reader


def body(lines: list[str]) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


def test_entirely_rejected_file_streams_rejects_in_bounded_chunks(store, bus, notifier, monkeypatch):
    # GIVEN a 20k-row file in which every row is rejected (one batch: the file is under batch_bytes)
    rows = [bad_row(i) for i in range(ROWS)]
    store.add(RAW, KEY, body([line for line, _ in rows]), version_id="v1")
    written: list[int] = []
    built: list[int] = []
    write, build = service.RejectWriter.write, validation._RejectRows._build

    def spy_write(self, rejects):
        written.append(len(rejects))
        return write(self, rejects)

    def spy_build(self, bad_rows):
        built.append(len(bad_rows))
        return build(self, bad_rows)

    monkeypatch.setattr(service.RejectWriter, "write", spy_write)
    monkeypatch.setattr(validation._RejectRows, "_build", spy_build)
    deps = IngestDeps(store=store, bus=bus, notifier=notifier, settings=SETTINGS, registry=default_registry())

    # WHEN ingested
    report = ingest_object(ObjectRef(bucket=RAW, key=KEY, version_id="v1"), deps, now=NOW)

    # THEN every row is counted as rejected, none lost or doubled
    assert (report.rows_in, report.rows_valid, report.rows_rejected) == (ROWS, 0, ROWS)
    # AND no more than one chunk of rejects was ever materialised or written at once
    assert sum(written) == ROWS and sum(built) == ROWS - ROWS // 4  # the ragged ones come built
    assert max(written) <= REJECT_CHUNK_ROWS and max(built) <= REJECT_CHUNK_ROWS
    assert len(written) >= ROWS // REJECT_CHUNK_ROWS
    # AND the quarantine file holds one line per row, in source order, each with its own reason
    lines = [json.loads(x) for x in store.body(QUARANTINE, report.quarantine["key"]).splitlines()]
    assert [x["source_row"] for x in lines] == list(range(2, ROWS + 2))
    assert [x["rule"] for x in lines] == [rule for _, rule in rows]
    assert all(x["errors"] and x["errors"][0]["rule"] == x["rule"] for x in lines)
    # AND the reasons announced add up to what the file says
    by_rule = Counter(f"{e['column'] or '*'}:{e['rule']}" for x in lines for e in x["errors"])
    assert {r["reason"]: r["rows"] for r in report.top_reject_reasons} == dict(
        by_rule.most_common(len(report.top_reject_reasons))
    )


CONTRACT = default_registry().get("transactions")
LINE_KINDS = st.sampled_from(["good", "currency", "sign", "channel", "ragged", "dup"])


def _lines(kinds: list[str]) -> list[str]:
    out = []
    for i, kind in enumerate(kinds):
        if kind == "good":
            out.append(tx(f"T{i:07d}"))
        elif kind == "dup":
            out.append(tx("T0000000"))  # a duplicate of row 0's id when row 0 is valid
        else:
            out.append(bad_row({"currency": 0, "sign": 1, "channel": 2, "ragged": 3}[kind] + 4 * i)[0])
    return out


@settings(max_examples=40, deadline=None)
@given(kinds=st.lists(LINE_KINDS, min_size=1, max_size=60), size=st.integers(min_value=1, max_value=9))
def test_chunk_size_changes_nothing_in_the_rejects(kinds, size):
    # GIVEN any mix of good, bad, ragged and duplicate rows
    batch = read_raw(body(_lines(kinds)), KEY, CONTRACT)
    result = validate(batch, CONTRACT, Lineage(KEY, "v1", "etag", "run"))
    # WHEN the rejects are taken in chunks of any size
    chunks = list(result.reject_chunks(size))
    # THEN no chunk is larger than asked, and together they are the rejects taken at once, in row order
    assert all(1 <= len(c) <= size for c in chunks)
    flat = [r for c in chunks for r in c]
    assert flat == [r for c in result.reject_chunks(10**9) for r in c] == result.rejects
    assert [r.source_row for r in flat] == sorted(r.source_row for r in flat)
    assert len(flat) == result.rows_rejected == result.rows_in - result.rows_valid


def test_reject_chunks_are_built_lazily(monkeypatch):
    # GIVEN a batch of 50 rejected rows
    batch = read_raw(body([bad_row(4 * i)[0] for i in range(50)]), KEY, CONTRACT)
    result = validate(batch, CONTRACT, Lineage(KEY, "v1", "etag", "run"))
    built: list[int] = []
    build = validation._RejectRows._build

    def spy_build(self, rows):
        built.append(len(rows))
        return build(self, rows)

    monkeypatch.setattr(validation._RejectRows, "_build", spy_build)
    # WHEN only the first chunk of 10 is taken
    first = next(result.reject_chunks(10))
    # THEN only that chunk's rows were turned into objects
    assert len(first) == 10
    assert sum(built) <= 10
    # AND the whole batch in one chunk is one chunk
    whole = result.reject_chunks(50)
    assert len(next(whole)) == 50
    with pytest.raises(StopIteration):
        next(whole)
