"""The bench's big-file generator: whole lines up to the size asked, ids distinct across the
repeated blocks, and every row rejected in the rejected variant (its counts drive the bench)."""

from __future__ import annotations

import io

import pytest

from datapipe.contracts import default_registry
from datapipe.ingest.reader import read_raw
from datapipe.ingest.validation import Lineage, validate
from offline_runtime.scenario.datagen import stream_transactions_csv

TX = default_registry().get("transactions")
KEY = "transactions/2026-11-21/bench.csv"


@pytest.mark.parametrize("rejected", [False, True])
def test_streamed_file_is_whole_lines_of_the_asked_size_and_kind(rejected: bool):
    # GIVEN a file of ~3.5 blocks of 300 rows
    out = io.BytesIO()
    meta = stream_transactions_csv(out, 150_000, rejected=rejected, block_rows=300)
    body = out.getvalue()
    # THEN it is whole lines, within a line of the size asked, and the returned counts are the file's
    assert body.endswith(b"\n") and len(body) == meta["bytes"]
    assert abs(len(body) - 150_000) < 200
    assert body.count(b"\n") - 1 == meta["rows"] > 3 * 300
    # AND every row is valid (ids distinct across blocks), or every row rejected
    result = validate(read_raw(body, KEY, TX), TX, Lineage(KEY, "v", "e", "run"))
    assert result.rows_in == meta["rows"]
    assert result.rows_valid == (0 if rejected else meta["rows"])
    assert result.rows_rejected == (meta["rows"] if rejected else 0)
