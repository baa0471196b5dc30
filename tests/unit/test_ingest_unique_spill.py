"""The uniqueness state that spills to disk answers exactly as the in-memory one (and as a dict
of first rows), stays within its documented memory bound, and leaves no file behind."""

from __future__ import annotations

import errno
import gc
import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datapipe import layout
from datapipe.contracts import default_registry
from datapipe.ingest import service, unique
from datapipe.ingest.limits import IngestLimits
from datapipe.ingest.service import IngestDeps, ObjectRef, ingest_object
from datapipe.ingest.unique import RECORD_BYTES, SeenKeys, SpillError
from datapipe.settings import Settings
from tests.unit.test_ingest_service import ARRIVED, CURATED, KEY, NOW, QUARANTINE, RAW, csv, tx

U64 = st.integers(0, 2**64 - 1)
# clustered keys too: equal top bits (one bucket, one filter block), neighbours, the extremes
CLUSTER = st.tuples(U64, st.integers(1, 40)).map(lambda t: [(t[0] + i) % 2**64 for i in range(t[1])])
UNIVERSE = st.lists(
    st.one_of(U64.map(lambda x: [x]), CLUSTER, st.just([0, 2**64 - 1])), min_size=1, max_size=40
)


def _dedup(keys: list[int]) -> list[int]:
    """A batch as validate hands it over: each key once (its first occurrence)."""
    return list(dict.fromkeys(keys))


def bound(keys: SeenKeys, largest_call: int) -> int:
    """The documented bound of SeenKeys.nbytes: in-memory keys up to the budget (or one call's
    keys, if a call alone is larger), 1 B per spilled key of Bloom filter and 8 B per 256 of
    sparse index, plus rounding (a filter block of 32 B and an index entry per run)."""
    runs = len(keys._spill.runs)
    return max(keys.memory_bytes, largest_call * RECORD_BYTES) + keys.spilled * 33 // 32 + 40 * runs


def feed(batches: list[list[int]], budget: int) -> tuple[list[np.ndarray], SeenKeys]:
    seen = SeenKeys(budget)
    answers: list[np.ndarray] = []
    row = 0
    largest = 0
    for batch in batches:
        hashes = np.array(batch, dtype=np.uint64)
        rows = np.arange(row, row + len(batch), dtype=np.int64)
        row += len(batch) + 3  # gaps, as rejected rows leave
        answers.append(seen.first_rows(hashes, rows))
        largest = max(largest, len(batch))
        assert seen.nbytes <= bound(seen, largest)
    return answers, seen


def oracle(batches: list[list[int]]) -> list[np.ndarray]:
    first: dict[int, int] = {}
    out: list[np.ndarray] = []
    row = 0
    for batch in batches:
        got = []
        for i, key in enumerate(batch):
            got.append(first.get(key, -1))
            first.setdefault(key, row + i)
        row += len(batch) + 3
        out.append(np.array(got, dtype=np.int64))
    return out


@settings(max_examples=120, deadline=None)
@given(UNIVERSE, st.data(), st.integers(1, 30))
def test_spilling_state_answers_exactly_as_the_in_memory_one(
    universe: list[list[int]], data: st.DataObject, budget_keys: int
) -> None:
    keys = sorted({k for group in universe for k in group})
    raw = data.draw(st.lists(st.lists(st.sampled_from(keys), max_size=60), min_size=1, max_size=25))
    batches = [_dedup(b) for b in raw]  # duplicates within a raw batch, as validate removes them
    expected = oracle(batches)
    in_memory, plain = feed(batches, 10**9)
    spilled, tiny = feed(batches, budget_keys * RECORD_BYTES)
    try:
        assert plain.spills == 0
        for want, a, b in zip(expected, in_memory, spilled, strict=True):
            assert a.tolist() == want.tolist()
            assert b.tolist() == want.tolist()
        assert tiny.count == plain.count == len(set().union(*map(set, batches)))
    finally:
        tiny.close()
        plain.close()


def test_many_spills_and_merges_stay_exact_and_bounded() -> None:
    rng = np.random.default_rng(11)
    fresh = rng.permutation(np.unique(rng.integers(0, 2**64 - 1, 120_000, dtype=np.uint64)))
    batches: list[list[int]] = []
    used = 0
    while used < len(fresh):
        new = fresh[used : used + 2_000].tolist()
        used += len(new)
        old = rng.choice(fresh[:used], 300, replace=False).tolist() if used > 4_000 else []
        batches.append(_dedup(new + old))
    answers, seen = feed(batches, 3_000 * RECORD_BYTES)
    try:
        assert seen.spills >= 30 and seen.merges >= 20  # the disk path is what was exercised
        assert len(seen._spill.runs) <= 1 + int(np.log2(seen.spills)) + 1
        assert seen.count == len(fresh) and seen.spilled + seen._in_memory == len(fresh)
        for want, got in zip(oracle(batches), answers, strict=True):
            assert got.tolist() == want.tolist()
        assert seen.disk_bytes == seen.spilled * 12
        assert sum(os.path.getsize(r.path) for r in seen._spill.runs) == seen.disk_bytes
    finally:
        seen.close()


def test_memory_bound_holds_for_millions_of_keys() -> None:
    """The filter and index cost ~1 B per spilled key, not 12: 2 M keys past a 1.2 MB budget."""
    rng = np.random.default_rng(5)
    seen = SeenKeys(100_000 * RECORD_BYTES)
    try:
        for i in range(40):
            hashes = rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64)
            seen.first_rows(np.unique(hashes), np.arange(i * 50_000, i * 50_000 + len(np.unique(hashes))))
            assert seen.nbytes <= bound(seen, 50_000)
        assert seen.spilled > 1_800_000
        assert seen.nbytes < seen.memory_bytes + 1.04 * seen.spilled + 1_000
        assert seen.nbytes - seen._in_memory * RECORD_BYTES <= 1.04 * seen.spilled
        assert seen.nbytes < seen.count * RECORD_BYTES / 3  # against 12 B a key all in memory
    finally:
        seen.close()


def _spill_dirs(parent: Path) -> list[Path]:
    return sorted(parent.glob("datapipe-unique-*"))


def test_close_and_collection_remove_the_spill_directory(tmp_path: Path) -> None:
    seen = SeenKeys(10 * RECORD_BYTES, spill_dir=str(tmp_path))
    for i in range(5):
        seen.first_rows(np.arange(i * 20, i * 20 + 20, dtype=np.uint64) * np.uint64(7919), np.arange(20))
    assert seen.spills >= 3 and len(_spill_dirs(tmp_path)) == 1
    assert list(_spill_dirs(tmp_path)[0].iterdir())  # the runs
    seen.close()
    assert _spill_dirs(tmp_path) == []
    seen.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        seen.first_rows(np.array([1], dtype=np.uint64), np.array([1]))

    with SeenKeys(10 * RECORD_BYTES, spill_dir=str(tmp_path)) as other:
        for i in range(3):
            other.first_rows(np.arange(i * 20, i * 20 + 20, dtype=np.uint64) + np.uint64(1), np.arange(20))
        assert len(_spill_dirs(tmp_path)) == 1
    assert _spill_dirs(tmp_path) == []

    dropped = SeenKeys(10 * RECORD_BYTES, spill_dir=str(tmp_path))
    for i in range(3):
        dropped.first_rows(np.arange(i * 20, i * 20 + 20, dtype=np.uint64) + np.uint64(5), np.arange(20))
    assert len(_spill_dirs(tmp_path)) == 1
    del dropped
    gc.collect()
    assert _spill_dirs(tmp_path) == []


def test_a_full_disk_is_an_error_never_a_wrong_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Full:
        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def close(self) -> None:
            pass

    seen = SeenKeys(10 * RECORD_BYTES, spill_dir=str(tmp_path))
    seen.first_rows(np.arange(10, dtype=np.uint64), np.arange(10))
    monkeypatch.setattr(unique, "open", lambda *a, **k: Full(), raising=False)
    with pytest.raises(SpillError, match=r"No space left on device.*ephemeral storage"):
        seen.first_rows(np.arange(10, 20, dtype=np.uint64), np.arange(10, 20))
    with pytest.raises(SpillError, match="unusable"):  # no answer from a state that lost keys
        seen.first_rows(np.arange(5, dtype=np.uint64), np.arange(5))
    seen.close()
    assert _spill_dirs(tmp_path) == []


def test_unique_memory_limit_from_the_environment() -> None:
    assert IngestLimits.from_env({}).unique_memory_bytes == 24 * 1024**2
    assert IngestLimits.from_env({"INGEST_UNIQUE_MEMORY_BYTES": "1200"}).unique_memory_bytes == 1200
    with pytest.raises(ValueError, match="INGEST_UNIQUE_MEMORY_BYTES"):
        IngestLimits.from_env({"INGEST_UNIQUE_MEMORY_BYTES": "0"})


# --- through the ingest service ------------------------------------------------------------------

SETTINGS = Settings(stage="test", raw_bucket=RAW, curated_bucket=CURATED, quarantine_bucket=QUARANTINE)


def _body(rows: int, seed: int) -> bytes:
    """A transactions file whose ids repeat across the whole file (many batches apart)."""
    rnd = random.Random(seed)
    ids = [f"T{rnd.randrange(rows * 2 // 3):07d}" for _ in range(rows)]
    return csv(*(tx(i) for i in ids))


def _ingest(store: Any, bus: Any, notifier: Any, limits: IngestLimits) -> Any:
    deps = IngestDeps(store, bus, notifier, SETTINGS, default_registry(), limits)
    return ingest_object(ObjectRef(bucket=RAW, key=KEY, version_id="v1"), deps, now=NOW)


@pytest.fixture
def spill_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where SeenKeys' default puts runs
    made: list[str] = []
    new_path = unique._SpillDir.new_path

    def recorded(self: Any) -> str:
        path = new_path(self)
        made.append(path)
        return path

    monkeypatch.setattr(unique._SpillDir, "new_path", recorded)
    tmp_path.joinpath("made").write_text("")
    monkeypatch.setattr(unique, "_made", made, raising=False)
    return tmp_path


def _spill_dirs_when_called(monkeypatch: pytest.MonkeyPatch, name: str, parent: Path) -> list[list[Path]]:
    """The spill directories present each time the ingest service calls its step ``name``."""
    step = getattr(service, name)
    seen: list[list[Path]] = []

    def spied(*args: Any, **kwargs: Any) -> Any:
        seen.append(_spill_dirs(parent))
        return step(*args, **kwargs)

    monkeypatch.setattr(service, name, spied)
    return seen


def test_ingest_with_a_spilling_state_stages_and_rejects_exactly_the_same(
    store: Any, bus: Any, notifier: Any, spill_parent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = _body(6_000, seed=3)
    store.add(RAW, KEY, body, last_modified=ARRIVED)
    small = IngestLimits(batch_bytes=4_096)
    plain = _ingest(store, bus, notifier, small)
    outputs = {k: store.body(*k) for k in store.objects if k[0] != RAW}
    assert unique._made == []  # type: ignore[attr-defined]  (under the default budget: no disk)
    for k in outputs:
        store.objects.pop(k)
    at_announce = _spill_dirs_when_called(monkeypatch, "_announce", spill_parent)
    spilled = _ingest(store, bus, notifier, IngestLimits(batch_bytes=4_096, unique_memory_bytes=20 * 12))
    assert at_announce == [[]]  # closed as the last batch is done (not left to the collector)
    assert len(unique._made) > 10  # type: ignore[attr-defined]
    assert _spill_dirs(spill_parent) == []  # removed once the file is done
    assert (spilled.rows_valid, spilled.rows_rejected) == (plain.rows_valid, plain.rows_rejected)
    assert plain.rows_rejected > 1_800  # ids repeat: about a third of the rows
    again = {k: store.body(*k) for k in store.objects if k[0] != RAW}
    assert again.keys() == outputs.keys()
    for k, data in outputs.items():
        if k[1].endswith(".parquet"):
            assert pq.read_table(pa.BufferReader(again[k])).equals(pq.read_table(pa.BufferReader(data)))
        elif k[1].startswith("manifests/"):
            a, b = json.loads(again[k]), json.loads(data)
            assert a["counts"] == b["counts"] and a["rejects_by_rule"] == b["rejects_by_rule"]
        else:  # the rejected rows, with "first seen at row N"
            assert again[k] == data
    rejects = store.body(QUARANTINE, layout.rejected_rows_key("transactions", NOW, spilled.run_id))
    assert b"duplicate value, first seen at row" in rejects


def test_ingest_removes_the_spill_directory_when_it_fails(
    store: Any, bus: Any, notifier: Any, spill_parent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add(RAW, KEY, _body(6_000, seed=4), last_modified=ARRIVED)
    validate = service.validate
    calls = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 4:
            assert _spill_dirs(spill_parent)  # spilled by now
            raise RuntimeError("boom")
        return validate(*args, **kwargs)

    monkeypatch.setattr(service, "validate", failing)
    at_quarantine = _spill_dirs_when_called(monkeypatch, "_quarantine_file", spill_parent)
    report = _ingest(store, bus, notifier, IngestLimits(batch_bytes=4_096, unique_memory_bytes=20 * 12))
    assert report.reason_code == "INTERNAL_ERROR"
    assert at_quarantine == [[]]  # removed as the error left the batch loop
    assert _spill_dirs(spill_parent) == []


def test_ingest_quarantines_a_file_whose_keys_outgrow_the_disk(
    store: Any, bus: Any, notifier: Any, spill_parent: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add(RAW, KEY, _body(6_000, seed=5), last_modified=ARRIVED)
    real_open = open

    def full_after_three(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if len(unique._made) > 3:  # type: ignore[attr-defined]
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(unique, "open", full_after_three, raising=False)
    report = _ingest(store, bus, notifier, IngestLimits(batch_bytes=4_096, unique_memory_bytes=20 * 12))
    assert report.status == "FILE_QUARANTINED" and report.reason_code == "FILE_TOO_LARGE"
    assert "No space left on device" in report.reason and "ephemeral storage" in report.reason
    assert not any(k[0] == CURATED and k[1].startswith("staging/") for k in store.objects)
    assert _spill_dirs(spill_parent) == []


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_an_aborted_part_is_closed_into_the_aborted_sink_not_when_collected(store: Any) -> None:
    staged = service.StagedWriter(store, CURATED, "transactions", "run-1", 1 << 30)
    staged.write(pa.table({"a": [1, 2, 3]}))
    staged.abort()
    gc.collect()  # a ParquetWriter left open would write its footer into the aborted upload here
    assert not any(k[0] == CURATED for k in store.objects)


def test_stale_spill_directories_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    """A timed-out invocation never closed its state: the next environment start removes its
    directory once it is older than any invocation can run, never a live one."""
    import os
    import time

    from datapipe.ingest.unique import SPILL_PREFIX, STALE_SPILL_S, remove_stale_spills

    old, live, other = tmp_path / f"{SPILL_PREFIX}old", tmp_path / f"{SPILL_PREFIX}live", tmp_path / "keep"
    for d in (old, live, other):
        d.mkdir()
        (d / "run-000001.bin").write_bytes(b"x" * 12)
    long_ago = time.time() - STALE_SPILL_S - 60
    for d in (old, other):
        os.utime(d, (long_ago, long_ago))
    assert remove_stale_spills(str(tmp_path)) == 1
    assert not old.exists() and live.exists() and other.exists()
    assert remove_stale_spills(str(tmp_path / "missing")) == 0
