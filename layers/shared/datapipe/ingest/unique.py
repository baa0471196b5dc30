"""Uniqueness across the batches of one file, in memory bounded per distinct key.

Within a batch, duplicates are found exactly (Arrow dictionary codes). Across batches each kept
key is remembered as a 64-bit fingerprint plus the row it was first seen on: **12 bytes per
distinct key** (1 M keys = 12 MB; a 1 GB transactions CSV of ~8 M rows = ~96 MB), held in 16
buckets of sorted runs merged like a binary counter, so adding a batch costs O(batch · log n) and
no merge ever copies more than a sixteenth of the state.

Fingerprints: the value's bytes as 64-bit words folded through the splitmix64 finaliser, from a
state seeded with the length. Two different keys share a fingerprint with probability ~ n² / 2^65 per file
(8 M keys: ~2e-6); keys are at most 64 characters by contract, far below the lengths known
collision constructions for such hashes need.
"""

from __future__ import annotations

from itertools import pairwise

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


class SeenKeys:
    """Fingerprints of the keys kept so far, with the row each was first seen on."""

    def __init__(self) -> None:
        self._runs: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in range(16)]
        self.count = 0

    @property
    def nbytes(self) -> int:
        return sum(h.nbytes + r.nbytes for runs in self._runs for h, r in runs)

    def first_rows(self, hashes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """For each key: the row it was first seen on in an earlier call, or -1 (then it is added).

        ``hashes`` must be distinct within one call (the batch is deduplicated exactly first).
        """
        result = np.full(len(hashes), -1, dtype=np.int64)
        if len(hashes) == 0:
            return result
        order = np.argsort(hashes, kind="stable")
        hs, rs = hashes[order], rows[order].astype(np.uint32)
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
        return result

    def _add(self, bucket: int, hashes: np.ndarray, rows: np.ndarray) -> None:
        runs = self._runs[bucket]
        runs.append((hashes, rows))
        self.count += len(hashes)
        while len(runs) >= 2 and len(runs[-2][0]) <= 2 * len(runs[-1][0]):
            (h1, r1), (h2, r2) = runs[-2], runs[-1]
            merged = np.concatenate([h1, h2])
            order = np.argsort(merged, kind="stable")
            runs[-2:] = [(merged[order], np.concatenate([r1, r2])[order])]
