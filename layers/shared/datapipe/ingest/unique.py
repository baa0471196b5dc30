"""Uniqueness across the batches of one file: exact, in memory bounded whatever the file size.

Within a batch, duplicates are found exactly (Arrow dictionary codes). Across batches each kept
key is remembered as a 64-bit fingerprint plus the row it was first seen on, 12 bytes per
distinct key, held in 16 buckets of sorted runs merged like a binary counter (adding a batch
costs O(batch · log n); no merge copies more than a sixteenth of the state). Past
``memory_bytes`` of that (``INGEST_UNIQUE_MEMORY_BYTES``, 24 MiB: ~2 M keys, a ~290 MB
transactions file) the keys go to sorted runs on local disk, each with an in-memory Bloom filter
and sparse index: ~1 byte in memory per spilled key (10 GB of transactions, ~71 M keys: ~24 +
74 MB) and 12 on disk (``SeenKeys``).

Fingerprints: the value's bytes as 64-bit words folded through the splitmix64 finaliser, from a
state seeded with the length. Two different keys share a fingerprint with probability ~ n² / 2^65 per file
(8 M keys: ~2e-6); keys are at most 64 characters by contract, far below the lengths known
collision constructions for such hashes need.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import mmap
import os
import shutil
import tempfile
import weakref
from itertools import pairwise
from typing import Any

import numpy as np
import pyarrow as pa

BUCKET_SHIFT = np.uint64(60)  # 16 buckets by the top 4 bits
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> np.uint64(30))
    h = h * _M1
    h = h ^ (h >> np.uint64(27))
    h = h * _M2
    out: np.ndarray = h ^ (h >> np.uint64(31))
    return out


def fingerprints(arr: pa.Array) -> np.ndarray:
    """64-bit fingerprint of every value of a string/binary array (nulls hash as empty).

    The value's bytes, zero-padded to whole 64-bit words, are folded into a state seeded with
    its length (``h = mix(h ^ word)``). Values are taken a length at a time, so that each word
    is one vectorised step over every value of that length (a key column has few lengths).
    """
    if pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type):
        arr = arr.cast(pa.binary())
    if not (pa.types.is_string(arr.type) or pa.types.is_binary(arr.type)):
        arr = arr.cast(pa.string())
    n = len(arr)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    validity, offsets_buf, data_buf = arr.buffers()
    assert offsets_buf is not None
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[arr.offset : arr.offset + n + 1].astype(np.int64)
    lengths = np.diff(offsets)
    if validity is not None and arr.null_count:
        lengths[~np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)] = 0
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.empty(0, np.uint8)
    with np.errstate(over="ignore"):
        seeds = lengths.astype(np.uint64) * _M2
    out = np.empty(n, dtype=np.uint64)
    if (lengths == lengths[0]).all():
        order, bounds = np.arange(n), [0, n]
    else:
        order = np.argsort(lengths, kind="stable")
        bounds = [*np.flatnonzero(np.diff(lengths[order], prepend=-1)).tolist(), n]
    for lo, hi in pairwise(bounds):
        rows = order[lo:hi]
        size = int(lengths[rows[0]])
        h = seeds[rows]
        if size:
            words = (size + 7) // 8
            matrix = np.zeros((hi - lo, words * 8), dtype=np.uint8)
            first = int(offsets[0])
            if hi - lo == n and int(offsets[-1]) - first == n * size:  # back to back: a reshape
                matrix[:, :size] = data[first : first + n * size].reshape(n, size)
            else:
                matrix[:, :size] = data[offsets[:-1][rows][:, None] + np.arange(size)]
            as_words = matrix.view(np.dtype("<u8"))
            with np.errstate(over="ignore"):
                for w in range(words):
                    h = _mix(h ^ as_words[:, w])
        with np.errstate(over="ignore"):
            out[rows] = _mix(h)
    return out


RECORD = np.dtype([("h", "<u8"), ("r", "<u4")])  # 12 bytes on disk per spilled key, packed
RECORD_BYTES = RECORD.itemsize
DEFAULT_MEMORY_BYTES = 24 * 1024**2
"""Exact in-memory state past which keys are spilled to disk (``INGEST_UNIQUE_MEMORY_BYTES``)."""
BLOOM_BITS_PER_KEY = 8
BLOOM_PROBES = 4  # one 64-bit word of each 256-bit block: ~2.7 % false positives at 8 bits a key
INDEX_EVERY = 256  # one sparse-index entry (8 bytes) per 256 records: a 3 KiB block per lookup
MERGE_CHUNK = 64 * 1024  # records read at a time from each run while merging (768 KiB)
_SALT = np.array([0x47B6137B, 0x44974D91, 0x8824AD5B, 0xA2B7289D], dtype=np.uint64)
_LOW32 = np.uint64(0xFFFFFFFF)


class SpillError(Exception):
    """The uniqueness state could not be written to (or read from) local disk: never a guess."""


def _bloom_bits(h: np.ndarray, probe: int) -> np.ndarray:
    """Bit (0-63) that ``probe`` sets in its word of the block: from the low 32 bits of the
    already mixed fingerprint, the block coming from the high 32 (independent bits)."""
    with np.errstate(over="ignore"):
        out: np.ndarray = ((h & _LOW32) * _SALT[probe] & _LOW32) >> np.uint64(26)
    return out


def _bloom_blocks(h: np.ndarray, blocks: int) -> np.ndarray:
    """Block of each fingerprint: monotone in the fingerprint, so a sorted run fills the filter
    block by block (``reduceat``) instead of one scattered write per key."""
    out: np.ndarray = ((h >> np.uint64(32)) * np.uint64(blocks)) >> np.uint64(32)
    return out.astype(np.int64)


def _malloc_trim() -> None:
    """Gives the heap's free pages back to the OS (glibc; a no-op elsewhere). Called after a
    spill or merge: their freed buffers and the in-memory keys would otherwise stay resident."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _load_libc() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


_LIBC = _load_libc()


def _zeros_mapped(words: int) -> np.ndarray:
    """Zeroed uint64 words in their own anonymous mapping: given back to the OS when dropped.
    (From malloc, a filter freed at a merge stays resident in the heap under later
    allocations: measured ~30 MB more peak RSS at 30 M keys.)"""
    return np.frombuffer(mmap.mmap(-1, max(8, words * 8)), dtype=np.uint64)[:words]


class _DiskRun:
    """One sorted run of (fingerprint, first row) records in a file, with its Bloom filter
    (split blocks of ``BLOOM_PROBES`` words, 8 bits a key) and a sparse index of every
    ``INDEX_EVERY``-th fingerprint, both in memory; records are read with ``os.pread``."""

    def __init__(self, path: str, n: int) -> None:
        self.path, self.n = path, n
        self.blocks = max(1, -(-n * BLOOM_BITS_PER_KEY // (64 * BLOOM_PROBES)))
        self.bloom: np.ndarray | None = _zeros_mapped(self.blocks * BLOOM_PROBES)
        self.index_parts: list[np.ndarray] = []
        self.index = np.empty(0, dtype=np.uint64)
        self.fd = -1
        self._written = 0

    @property
    def nbytes(self) -> int:
        return (self.bloom.nbytes if self.bloom is not None else 0) + self.index.nbytes

    def add_sorted(self, h: np.ndarray) -> None:
        """Fingerprints just written (in order, continuing the run): into the filter and index."""
        assert self.bloom is not None
        if len(h) == 0:
            return
        blk = _bloom_blocks(h, self.blocks)
        starts = np.flatnonzero(np.diff(blk, prepend=-1))
        where = blk[starts] * BLOOM_PROBES
        for probe in range(BLOOM_PROBES):
            masks = np.left_shift(np.uint64(1), _bloom_bits(h, probe))
            self.bloom[where + probe] |= np.bitwise_or.reduceat(masks, starts)
        first = -self._written % INDEX_EVERY
        self.index_parts.append(h[first::INDEX_EVERY].copy())
        self._written += len(h)

    def finish(self) -> None:
        self.index = np.concatenate(self.index_parts) if self.index_parts else self.index
        self.index_parts = []
        self.fd = os.open(self.path, os.O_RDONLY)

    def maybe(self, h: np.ndarray) -> np.ndarray:
        """False where the run certainly lacks the fingerprint (no false negatives)."""
        assert self.bloom is not None
        base = _bloom_blocks(h, self.blocks) * BLOOM_PROBES
        ok = np.ones(len(h), dtype=bool)
        for probe in range(BLOOM_PROBES):
            ok &= ((self.bloom[base + probe] >> _bloom_bits(h, probe)) & np.uint64(1)).astype(bool)
        return ok

    def lookup(self, h: np.ndarray) -> np.ndarray:
        """First row of each (sorted, distinct) fingerprint in this run, or -1: exact. Reads one
        block of ``INDEX_EVERY`` records for each distinct block the fingerprints fall in."""
        found = np.full(len(h), -1, dtype=np.int64)
        blk = np.searchsorted(self.index, h, side="right") - 1
        inside = blk >= 0  # below the run's smallest fingerprint: absent
        if not inside.any():
            return found
        wanted = np.unique(blk[inside])
        size = INDEX_EVERY * RECORD_BYTES
        try:
            data = b"".join([os.pread(self.fd, size, int(b) * size) for b in wanted])
        except OSError as exc:
            raise SpillError(f"uniqueness state: reading {self.path} failed ({exc.strerror})") from exc
        if len(data) % RECORD_BYTES:
            raise SpillError(f"uniqueness state: {self.path} is truncated")
        recs = np.frombuffer(data, dtype=RECORD)  # blocks in order: sorted as a whole
        hs = recs["h"]
        pos = np.minimum(np.searchsorted(hs, h), len(hs) - 1)
        hit = inside & (hs[pos] == h)
        found[hit] = recs["r"][pos[hit]]
        return found

    def read(self, start: int, count: int) -> np.ndarray:
        try:
            data = os.pread(self.fd, count * RECORD_BYTES, start * RECORD_BYTES)
        except OSError as exc:
            raise SpillError(f"uniqueness state: reading {self.path} failed ({exc.strerror})") from exc
        if len(data) != count * RECORD_BYTES:
            raise SpillError(f"uniqueness state: {self.path} is truncated")
        return np.frombuffer(data, dtype=RECORD)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


SPILL_PREFIX = "datapipe-unique-"
STALE_SPILL_S = 900  # Lambda's longest invocation: a spill directory older than that is nobody's


def remove_stale_spills(parent: str | None = None, older_than_s: float = STALE_SPILL_S) -> int:
    """Remove spill directories an earlier invocation left behind (it timed out or was killed
    before its ``close``; /tmp outlives it in a reused execution environment). Only those not
    touched for longer than any invocation can run, so a live one (another execution environment
    sharing the directory, as in the offline runtime) is never taken; returns how many went."""
    import time

    where = parent or tempfile.gettempdir()
    removed = 0
    try:
        names = [n for n in os.listdir(where) if n.startswith(SPILL_PREFIX)]
    except OSError:
        return 0
    for name in names:
        path = os.path.join(where, name)
        try:
            stale = time.time() - os.stat(path).st_mtime > older_than_s
        except OSError:
            continue
        if stale and os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


class _SpillDir:
    """The temporary directory of one SeenKeys and the open runs in it; removed on close."""

    def __init__(self, parent: str | None) -> None:
        self.parent = parent
        self.path: str | None = None
        self.runs: list[_DiskRun] = []
        self.serial = 0

    def new_path(self) -> str:
        if self.path is None:
            try:
                self.path = tempfile.mkdtemp(prefix=SPILL_PREFIX, dir=self.parent)
            except OSError as exc:
                where = self.parent or tempfile.gettempdir()
                raise SpillError(f"uniqueness state: no spill directory in {where} ({exc.strerror})") from exc
        self.serial += 1
        return os.path.join(self.path, f"run-{self.serial:06d}.bin")

    def cleanup(self) -> None:
        for run in self.runs:
            run.close()
        self.runs = []
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None


class _RunWriter:
    """Writes one run's records in order, feeding its filter and index; a failed write (disk
    full) removes the partial file and raises SpillError."""

    def __init__(self, spill: _SpillDir, n: int, have: int) -> None:
        self.run = _DiskRun(spill.new_path(), n)
        self.have = have  # keys already on disk: for the message
        try:
            self.file = open(self.run.path, "wb")  # noqa: SIM115  (closed in finish/fail)
        except OSError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: OSError) -> SpillError:
        need = (self.have + self.run.n) * RECORD_BYTES
        return SpillError(
            f"uniqueness state: writing {self.run.n:,} keys to {os.path.dirname(self.run.path)} failed "
            f"({exc.strerror}); the file's distinct keys need ~{need / 1e6:,.0f} MB of local disk "
            f"(2x that while runs merge): raise the function's ephemeral storage or split the file"
        )

    def write(self, h: np.ndarray, r: np.ndarray) -> None:
        recs = np.empty(len(h), dtype=RECORD)
        recs["h"], recs["r"] = h, r
        try:
            self.file.write(recs.view(np.uint8).data)
        except OSError as exc:
            self.fail()
            raise self._error(exc) from exc
        self.run.add_sorted(h)

    def finish(self) -> _DiskRun:
        try:
            self.file.close()
            self.run.finish()
        except OSError as exc:
            self.fail()
            raise self._error(exc) from exc
        return self.run

    def fail(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        with contextlib.suppress(OSError):
            os.unlink(self.run.path)


class SeenKeys:
    """Fingerprints of the keys kept so far, with the row each was first seen on: exact.

    Up to ``memory_bytes`` of state (12 bytes a key) they are held in memory; past it the
    in-memory keys are written to local disk as one sorted run (a temporary directory under
    ``spill_dir``, default the system's: /tmp on Lambda), and the newest run is merged into the
    one before it while that one is at most twice its size (as in memory), so a file of n
    distinct keys keeps O(log n) runs (3 for 26 spills) and writes each key ~5 times. Each run
    keeps in memory a Bloom filter (1 byte a key) and a sparse index (8 bytes per 256 keys); a
    key is read from disk only where a filter says maybe (~2.7 % per run), one 3 KiB block per
    distinct block. Memory is therefore at most

        memory_bytes + 1.04 bytes x spilled keys (+ a merge's buffers, ~10 MiB, while merging)

    and disk 12 bytes a spilled key, twice that during a merge. ``close`` removes the directory
    (also called when the object is collected).
    """

    def __init__(self, memory_bytes: int = DEFAULT_MEMORY_BYTES, spill_dir: str | None = None) -> None:
        self._runs: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(16)]
        self.count = 0
        self.memory_bytes = memory_bytes
        self._in_memory = 0  # keys in self._runs
        self._spill = _SpillDir(spill_dir)
        self._closed = weakref.finalize(self, self._spill.cleanup)
        self.spilled = 0  # keys on disk
        self.spills = 0  # times the in-memory keys were written out
        self.merges = 0
        self.peak_nbytes = 0
        self._failed: SpillError | None = None

    @property
    def nbytes(self) -> int:
        """Bytes of state held in memory (exact keys, disk runs' filters and indexes)."""
        held = sum(h.nbytes + r.nbytes for runs in self._runs for h, r in runs)
        return held + sum(run.nbytes for run in self._spill.runs)

    @property
    def disk_bytes(self) -> int:
        return self.spilled * RECORD_BYTES

    @property
    def spill_path(self) -> str | None:
        return self._spill.path

    def close(self) -> None:
        """Removes the spill directory and forgets every key (idempotent)."""
        self._closed()
        self._runs = [[] for _ in range(16)]
        self._in_memory = 0

    def __enter__(self) -> SeenKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def first_rows(self, hashes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each key: the row it was first seen on in an earlier call, or -1 (then it is added).

        ``hashes`` must be distinct within one call (the batch is deduplicated exactly first).
        """
        result = np.full(len(hashes), -1, dtype=np.int64)
        if len(hashes) == 0:
            return result
        if not self._closed.alive:
            raise ValueError("SeenKeys is closed")
        if self._failed is not None:
            raise SpillError(f"uniqueness state unusable after an earlier failure: {self._failed}")
        if self._in_memory and (self._in_memory + len(hashes)) * RECORD_BYTES > self.memory_bytes:
            try:
                self._spill_memory()
            except SpillError as exc:
                self._failed = exc
                raise
        order = np.argsort(hashes, kind="stable")
        hs, rs = hashes[order], rows[order].astype(np.uint32)
        if self._spill.runs:
            on_disk = self._on_disk(hs)
            known = on_disk >= 0
            result[order[known]] = on_disk[known]
            order, hs, rs = order[~known], hs[~known], rs[~known]
        buckets = (hs >> BUCKET_SHIFT).astype(np.int64)
        bounds = np.searchsorted(buckets, np.arange(17))
        for b in range(16):
            lo, hi = int(bounds[b]), int(bounds[b + 1])
            if lo == hi:
                continue
            h, r = hs[lo:hi], rs[lo:hi]
            found = np.full(hi - lo, -1, dtype=np.int64)
            for run_h, run_r in self._runs[b]:
                idx = np.minimum(np.searchsorted(run_h, h), len(run_h) - 1)
                hit = (run_h[idx] == h) & (found < 0)
                found[hit] = run_r[idx[hit]]
            result[order[lo:hi]] = found
            new = found < 0
            if new.any():
                self._add(b, h[new], r[new])
        self.peak_nbytes = max(self.peak_nbytes, self.nbytes)
        return result

    def _on_disk(self, hs: np.ndarray) -> np.ndarray:
        """First rows of the sorted fingerprints found in a disk run, else -1."""
        found = np.full(len(hs), -1, dtype=np.int64)
        for run in self._spill.runs:
            todo = np.flatnonzero(found < 0)
            if len(todo) == 0:
                break
            maybe = todo[run.maybe(hs[todo])]
            if len(maybe):
                found[maybe] = run.lookup(hs[maybe])
        return found

    def _add(self, bucket: int, hashes: np.ndarray, rows: np.ndarray) -> None:
        runs = self._runs[bucket]
        runs.append((hashes, rows))
        self.count += len(hashes)
        self._in_memory += len(hashes)
        while len(runs) >= 2 and len(runs[-2][0]) <= 2 * len(runs[-1][0]):
            (h1, r1), (h2, r2) = runs[-2], runs[-1]
            merged = np.concatenate([h1, h2])
            order = np.argsort(merged, kind="stable")
            runs[-2:] = [(merged[order], np.concatenate([r1, r2])[order])]

    def _spill_memory(self) -> None:
        """Writes the in-memory keys out as one sorted run (bucket by bucket: the buckets are
        ranges of the fingerprint, so their runs in order are sorted as a whole), then merges."""
        writer = _RunWriter(self._spill, self._in_memory, self.spilled)
        for b in range(16):
            runs = self._runs[b]
            if len(runs) > 1:
                h = np.concatenate([h for h, _ in runs])
                order = np.argsort(h, kind="stable")
                runs[:] = [(h[order], np.concatenate([r for _, r in runs])[order])]
            for h, r in runs:
                writer.write(h, r)
            self._runs[b] = []  # written: freed as the spill goes (a failure makes the state unusable)
        self._spill.runs.append(writer.finish())
        self.spilled += self._in_memory
        self.spills += 1
        self._runs = [[] for _ in range(16)]
        self._in_memory = 0
        disk = self._spill.runs
        while len(disk) >= 2 and disk[-2].n <= 2 * disk[-1].n:
            disk[-2:] = [self._merge(disk[-2], disk[-1])]
        _malloc_trim()

    def _merge(self, a: _DiskRun, b: _DiskRun) -> _DiskRun:
        """One run of both, streamed ``MERGE_CHUNK`` records at a time from each. Their filters
        are dropped first (no lookup happens during a merge), so filters never exist twice."""
        a.bloom = b.bloom = None
        writer = _RunWriter(self._spill, a.n + b.n, self.spilled - a.n - b.n)
        pos = [0, 0]
        cur = [a.read(0, min(MERGE_CHUNK, a.n)), b.read(0, min(MERGE_CHUNK, b.n))]
        pos = [len(cur[0]), len(cur[1])]
        runs = (a, b)
        while len(cur[0]) or len(cur[1]):
            live = [c for c in cur if len(c)]
            cutoff = min(c["h"][-1] for c in live)
            parts = []
            for i in (0, 1):
                take = int(np.searchsorted(cur[i]["h"], cutoff, side="right"))
                parts.append(cur[i][:take])
                cur[i] = cur[i][take:]
                if not len(cur[i]) and pos[i] < runs[i].n:
                    count = min(MERGE_CHUNK, runs[i].n - pos[i])
                    cur[i] = runs[i].read(pos[i], count)
                    pos[i] += count
            both = np.concatenate(parts)
            order = np.argsort(both["h"], kind="stable")
            writer.write(both["h"][order], both["r"][order])
        merged = writer.finish()
        for old in (a, b):
            old.close()
            with contextlib.suppress(OSError):
                os.unlink(old.path)
        self.merges += 1
        return merged
