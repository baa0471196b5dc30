"""Ingest memory and throughput over file sizes: the real ingest service on a streamed local body.

Each measured run is a fresh subprocess that calls ``datapipe.ingest.service.ingest_object``
exactly as the Lambda handler does, with an ObjectStore whose reads stream a local file in the
S3 adapter's chunk size and whose writes buffer one multipart part (as ``S3StreamWriter`` does)
and then drop it. Peak memory is the kernel's VmHWM over the run, reset just before it, minus
the RSS before it (after imports and a small warm-up ingest, as in a warm Lambda).

Inputs are generated transactions CSVs (clean, or every row rejected) streamed to disk and cached
under ``out/bench-data`` by a key of the generator's source and parameters.
"""

from __future__ import annotations

import gc
import gzip
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "out" / "bench-data"
ARRIVAL = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)  # the bench rows are of 2026-11-21
RAW, CURATED, QUARANTINE = "bench-raw", "bench-curated", "bench-quarantine"
DEFAULT_SIZES_MB = (10, 100, 1000)
GZIP_SIZE_MB = 100
SCALE_TARGETS = {
    "peak_rss_over_baseline_mb": "<= 300 (any size, clean or entirely rejected)",
    "rss_slope_mb_per_mb": "<= 0.05",
    "throughput_mb_per_s": ">= 90",
}
SCALE_METHOD = (
    "one fresh subprocess per file: datapipe.ingest.service.ingest_object on a local body streamed "
    "in the S3 adapter's chunks (writes buffered per 8 MiB part, then dropped); peak = Linux VmHWM "
    "reset via /proc/self/clear_refs just before the run, minus VmRSS then (after imports and a "
    "2,000-row warm-up ingest); MB = bytes / 1e6 read (after gunzip); slope = least squares of "
    "peak over input MB across the sizes"
)


# --- inputs -------------------------------------------------------------------------------------


def _generator_key(size_mb: int, rejected: bool, gz: bool) -> str:
    from offline_runtime.scenario import datagen

    parts = [
        inspect.getsource(datagen),  # any change to the generator makes new files
        f"size={size_mb} rejected={rejected} gzip={gz} seed=7",
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def bench_input(size_mb: int, rejected: bool = False, gz: bool = False) -> tuple[Path, dict[str, Any]]:
    """The cached input file (generated on first use, streamed to disk) and its row count."""
    from offline_runtime.scenario.datagen import stream_transactions_csv

    kind = "rejected" if rejected else "clean"
    name = f"transactions-{kind}-{size_mb}MB-{_generator_key(size_mb, rejected, gz)}.csv"
    path = DATA_DIR / (name + (".gz" if gz else ""))
    meta_path = path.with_name(path.name + ".json")
    if path.exists() and meta_path.exists():
        return path, json.loads(meta_path.read_text())
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    for stale in DATA_DIR.glob(f"transactions-{kind}-{size_mb}MB-*.csv{'.gz' if gz else ''}*"):
        stale.unlink()  # an older generator's file of the same shape
    tmp = path.with_name(path.name + ".tmp")
    t0 = time.perf_counter()
    if gz:
        plain, plain_meta = bench_input(size_mb, rejected)
        with plain.open("rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 4 * 1024**2)
        meta = {**plain_meta, "inflated_bytes": plain_meta["bytes"], "bytes": tmp.stat().st_size}
    else:
        with tmp.open("wb") as out:
            meta = stream_transactions_csv(out, size_mb * 1_000_000, rejected=rejected)
    meta["generated_s"] = time.perf_counter() - t0
    tmp.rename(path)
    meta_path.write_text(json.dumps(meta))
    return path, meta


# --- the store: a streamed local body, writes buffered per part and dropped ------------------------


class _PartSink:
    """An ObjectWriter holding at most one multipart part, like S3StreamWriter, then dropping it."""

    def __init__(self, store: FileStore, bucket: str, key: str, part_bytes: int) -> None:
        self._store, self._bucket, self._key = store, bucket, key
        self._part = part_bytes
        self._buf = bytearray()
        self.bytes = 0
        self.lines = 0

    def write(self, data: bytes) -> int:
        self._buf += data
        self.bytes += len(data)
        self.lines += data.count(b"\n")
        while len(self._buf) >= self._part:
            del self._buf[: self._part]  # "uploaded"
        return len(data)

    def close(self) -> None:
        self._buf.clear()
        self._store.written[(self._bucket, self._key)] = {"bytes": self.bytes, "lines": self.lines}

    def abort(self) -> None:
        self._buf.clear()


class FileStore:
    """ObjectStore (``datapipe.ports``) over one local input file; what is written is only counted."""

    def __init__(self, path: Path, key: str) -> None:
        from datapipe.aws import MULTIPART_PART_BYTES, READ_CHUNK_BYTES

        self.path, self.key = path, key
        self.chunk, self.part = READ_CHUNK_BYTES, MULTIPART_PART_BYTES
        self.written: dict[tuple[str, str], dict[str, int]] = {}
        self.small: dict[tuple[str, str], bytes] = {}

    def _chunks(self) -> Iterator[bytes]:
        with self.path.open("rb", buffering=0) as f:
            while chunk := f.read(self.chunk):
                yield chunk

    def open_read(self, bucket: str, key: str, version_id: str | None = None) -> Any:
        from datapipe.ports import StreamedObject

        size = self.path.stat().st_size
        return StreamedObject(self._chunks(), "bench-etag", "v1", ARRIVAL, size)

    def open_write(self, bucket: str, key: str, content_type: str) -> _PartSink:
        return _PartSink(self, bucket, key, self.part)

    def get(self, bucket: str, key: str, version_id: str | None = None) -> Any:
        from datapipe.ports import StoredObject

        body = self.small[(bucket, key)]
        return StoredObject(body, "etag", None, ARRIVAL, len(body))

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self.small[(bucket, key)] = body  # the manifest, a reason file: small

    def copy(
        self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str, src_version: Any = None
    ) -> None:
        self.written[(dst_bucket, dst_key)] = {"bytes": self.path.stat().st_size, "lines": -1}

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for b, k in self.small if b == bucket and k.startswith(prefix))

    def delete(self, bucket: str, keys: list[str]) -> None:
        for key in keys:
            self.written.pop((bucket, key), None)


class _Recorder:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def put(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.items.append(detail_type)

    def notify(self, subject: str, message: dict[str, Any], severity: str) -> None:
        self.items.append(subject)


def ingest_file(path: Path, key: str) -> tuple[Any, FileStore]:
    """One ingest of the file through the real service, as the handler calls it."""
    from datapipe.contracts import default_registry
    from datapipe.ingest.limits import IngestLimits
    from datapipe.ingest.service import IngestDeps, ObjectRef, ingest_object
    from datapipe.settings import Settings

    store = FileStore(path, key)
    settings = Settings(
        raw_bucket=RAW, curated_bucket=CURATED, quarantine_bucket=QUARANTINE, event_bus_name="bench-bus"
    )
    recorder = _Recorder()
    deps = IngestDeps(store, recorder, recorder, settings, default_registry(), IngestLimits.from_env())
    report = ingest_object(ObjectRef(RAW, key), deps, now=ARRIVAL)
    return report, store


# --- the measured child -------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # VmHWM := VmRSS
        return True
    except OSError:
        return False


def child_scale(path: str, key: str) -> dict[str, Any]:
    """Entry point of the measurement subprocess: one ingest, its figures as a dict."""
    import pyarrow as pa

    from offline_runtime.scenario.datagen import stream_transactions_csv

    warm = Path(path).with_name(f"warmup-{os.getpid()}.csv")
    with warm.open("wb") as out:
        stream_transactions_csv(out, 300_000)
    try:
        ingest_file(warm, "transactions/2026-11-21/warmup.csv")  # lazy imports, first-use caches
    finally:
        warm.unlink()
    from datapipe.ingest import unique

    states: list[Any] = []
    init = unique.SeenKeys.__init__

    def tracked(self: Any, *args: Any, **kwargs: Any) -> None:  # the uniqueness state, apart
        init(self, *args, **kwargs)
        states.append(self)

    unique.SeenKeys.__init__ = tracked  # type: ignore[method-assign]
    from datapipe.ingest import service

    samples: list[tuple[int, int]] = []  # (rows validated so far, VmRSS KiB) after each batch
    validate = getattr(service, "validate")  # noqa: B009  (the name ingest calls, to wrap it)

    def sampled(*args: Any, **kwargs: Any) -> Any:
        result = validate(*args, **kwargs)
        samples.append(((samples[-1][0] if samples else 0) + result.rows_in, _status_kib("VmRSS") or 0))
        return result

    setattr(service, "validate", sampled)  # noqa: B010
    gc.collect()
    before = _status_kib("VmRSS")
    reset = _reset_peak()
    pool = pa.default_memory_pool()
    pool_before = pool.bytes_allocated()
    t0 = time.perf_counter()
    report, store = ingest_file(Path(path), key)
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    size = Path(path).stat().st_size
    inflated = _inflated_size(Path(path))
    in_run = _in_run_slope(samples, inflated, report.rows_in)
    unique_mb = sum(st.peak_nbytes for st in states) / 2**20  # closed by now
    rejects = next((v for (b, _), v in store.written.items() if b == QUARANTINE), {"bytes": 0, "lines": 0})
    staged = sum(v["bytes"] for (b, _), v in store.written.items() if b == CURATED)
    return {
        "seconds": seconds,
        "bytes": size,
        "inflated_bytes": inflated,
        "mb_per_s": inflated / 1e6 / seconds,
        "batches": len(samples),
        "in_run_rss_slope_mb_per_mb": in_run,
        "rss_after_batch_mb": [round(kib / 1024, 1) for _, kib in samples],
        "rss_before_mb": (before or 0) / 1024,
        "peak_rss_mb": (peak or 0) / 1024,
        "peak_over_baseline_mb": ((peak or 0) - (before or 0)) / 1024 if reset and peak and before else None,
        "unique_state_mb": unique_mb,
        "unique_keys": sum(st.count for st in states),
        "arrow_pool_peak_mb": pool.max_memory() / 2**20,
        "arrow_pool_left_mb": (pool.bytes_allocated() - pool_before) / 2**20,
        "status": report.status,
        "rows_in": report.rows_in,
        "rows_valid": report.rows_valid,
        "rows_rejected": report.rows_rejected,
        "staged_parts": len(report.staged_parts),
        "staged_bytes": staged,
        "rejects_bytes": rejects["bytes"],
        "rejects_lines": rejects["lines"],
    }


UNIQUE_KEYS = 71_000_000  # a 10 GB transactions file's distinct ids (7.1 M per GB measured)
UNIQUE_BATCH_KEYS = 57_000  # one 8 MiB batch of transactions rows
UNIQUE_TARGET = "<= 300 MB together with the batch working set (~150-200 MB): the state <= ~100 MB"


def child_unique(keys: int, batch: int = UNIQUE_BATCH_KEYS) -> dict[str, Any]:
    """Entry point of a subprocess: the uniqueness state alone fed ``keys`` fingerprints in
    batches as ingest feeds it (distinct within a batch), 1 % of each batch keys seen in an
    earlier one (each must be found, at its first row); peak RSS over the RSS before it."""
    import numpy as np

    from datapipe.ingest.unique import RECORD_BYTES, SeenKeys

    rng = np.random.default_rng(7)
    again = batch // 100
    gc.collect()
    before = _status_kib("VmRSS")
    reset = _reset_peak()
    t0 = time.perf_counter()
    seen = SeenKeys()
    row = found = expected = 0
    earlier = np.empty(0, dtype=np.uint64)
    earlier_rows = np.empty(0, dtype=np.int64)
    try:
        while seen.count < keys:
            fresh = rng.integers(0, 2**64 - 1, batch, dtype=np.uint64, endpoint=True)
            pick = rng.integers(0, max(len(earlier), 1), min(again, len(earlier)))
            hashes, first = np.unique(np.concatenate([fresh, earlier[pick]]), return_index=True)
            rows = row + first
            got = seen.first_rows(hashes, rows)
            known = np.isin(hashes, earlier[pick])
            expected += int(known.sum())
            found += int(((got >= 0) & known).sum())
            if known.any():  # the first rows given back are those of the earlier batches
                want = dict(zip(earlier[pick].tolist(), earlier_rows[pick].tolist(), strict=True))
                assert [want[h] for h in hashes[known].tolist()] == got[known].tolist()
            new = got < 0
            earlier, earlier_rows = hashes[new][:again], rows[new][:again]
            row += len(hashes)
        seconds = time.perf_counter() - t0
        peak = _status_kib("VmHWM")
        bound = seen.memory_bytes + seen.spilled * 33 // 32 + 40 * len(seen._spill.runs)
        return {
            "keys": seen.count,
            "batch_keys": batch,
            "seconds": seconds,
            "peak_over_baseline_mb": (peak - before) / 1024 if reset and peak and before else None,
            "state_peak_mb": seen.peak_nbytes / 2**20,
            "state_bound_mb": bound / 2**20,
            "all_in_memory_mb": seen.count * RECORD_BYTES / 2**20,
            "disk_mb": seen.disk_bytes / 1e6,
            "spills": seen.spills,
            "merges": seen.merges,
            "runs": len(seen._spill.runs),
            "memory_bytes": seen.memory_bytes,
            "repeats_found": found,
            "repeats_fed": expected,
        }
    finally:
        seen.close()


def report_unique(keys: int, results: dict[str, Any]) -> None:
    """The uniqueness state alone at a 10 GB file's key count, without generating the file."""
    out = _child("--child-unique", str(keys))
    if "error" in out:
        print(f"\nuniqueness state alone: error: {out['error']}")
    else:
        print(
            f"\nuniqueness state alone, {out['keys']:,} keys in batches of {out['batch_keys']:,} "
            f"(a 10 GB transactions file's; ingest/unique.py, spilling past "
            f"{out['memory_bytes'] / 2**20:.0f} MiB): {out['seconds']:.1f} s, peak RSS "
            f"+{_fmt(out['peak_over_baseline_mb'], '.0f')} MB (target {UNIQUE_TARGET}); state "
            f"{out['state_peak_mb']:.1f} MiB at most (bound {out['state_bound_mb']:.1f}; all in memory: "
            f"{out['all_in_memory_mb']:.0f}), {out['disk_mb']:.0f} MB on disk, {out['spills']} spills, "
            f"{out['merges']} merges, {out['runs']} run(s) left; repeated keys found "
            f"{out['repeats_found']:,} of {out['repeats_fed']:,}"
        )
    out["target"] = UNIQUE_TARGET
    results.setdefault("scale", {})["unique_state"] = out


def _inflated_size(path: Path) -> int:
    """Bytes the ingest reads: the file's, or what it gunzips to."""
    if path.suffix != ".gz":
        return path.stat().st_size
    total = 0
    with gzip.open(path, "rb") as f:
        while chunk := f.read(4 * 1024**2):
            total += len(chunk)
    return total


def _in_run_slope(samples: list[tuple[int, int]], inflated: int, rows: int) -> float | None:
    """MB of RSS per MB of input within one run: least squares of RSS after each batch over the
    input consumed so far, past the first quarter (allocator and pools warm up on the first
    batches). Tells growth from a plateau even where one file has too few sizes around it."""
    if rows <= 0:
        return None
    late = samples[len(samples) // 4 :]
    return slope([(r * inflated / rows / 1e6, kib / 1024) for r, kib in late])


def run_child(path: Path, key: str) -> dict[str, Any]:
    return _child("--child-scale", str(path), "--input", key)


def _child(*args: str) -> dict[str, Any]:
    """One measured run in a fresh interpreter: its last stdout line (JSON), or the error."""
    proc = subprocess.run(
        [sys.executable, "-m", "offline_runtime.bench", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])},
        cwd=ROOT,
        check=False,
    )
    if proc.returncode or not proc.stdout.strip():
        return {"error": (proc.stderr or "no output").strip()[-500:]}
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of y over x (MB of RSS per MB of input)."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report_scale(
    sizes: list[int], with_gzip: bool, results: dict[str, Any], rejected_max_mb: int | None = None
) -> None:
    """Generates (or reuses) the inputs, runs one child per input, prints the table and the slope.

    ``rejected_max_mb`` caps the entirely rejected files (their rejects are JSON, built per row:
    far slower than a clean file on a shared machine)."""
    cases: list[tuple[str, int, bool, bool]] = []
    for size in sizes:
        cases.append((f"clean {size} MB", size, False, False))
        if rejected_max_mb is None or size <= rejected_max_mb:
            cases.append((f"rejected {size} MB", size, True, False))
    if with_gzip and GZIP_SIZE_MB in sizes:
        cases.append((f"clean {GZIP_SIZE_MB} MB .gz", GZIP_SIZE_MB, False, True))
    print(f"\ningest over file sizes (generated transactions CSV; {SCALE_METHOD})\n")
    header = (
        f"{'file':22s} {'MB':>8s} {'rows':>11s} {'valid':>11s} {'rejected':>11s} {'s':>7s} {'MB/s':>7s} "
        f"{'peak RSS +MB':>12s} {'unique MB':>9s} {'Arrow pool MB':>13s} "
        f"{'batches':>7s} {'in-run MB/MB':>12s}"
    )
    print(header)
    print("-" * len(header))
    runs: list[dict[str, Any]] = []
    for label, size, rejected, gz in cases:
        path, meta = bench_input(size, rejected, gz)
        key = f"transactions/2026-11-21/bench-{'rejected' if rejected else 'clean'}-{size}mb.csv" + (
            ".gz" if gz else ""
        )
        out = run_child(path, key)
        expected_valid = 0 if rejected else meta["rows"]
        out.update(
            {
                "case": label,
                "size_mb": size,
                "rejected_file": rejected,
                "gzip": gz,
                "rows_generated": meta["rows"],
                "counts_as_expected": out.get("rows_in") == meta["rows"]
                and out.get("rows_valid") == expected_valid
                and out.get("rows_rejected") == meta["rows"] - expected_valid,
            }
        )
        runs.append(out)
        if "error" in out:
            print(f"{label:22s} error: {out['error']}")
            continue
        flag = "" if out["counts_as_expected"] else "   COUNTS DIFFER FROM THE GENERATOR"
        print(
            f"{label:22s} {out['inflated_bytes'] / 1e6:8.1f} {out['rows_in']:11,} {out['rows_valid']:11,} "
            f"{out['rows_rejected']:11,} {out['seconds']:7.2f} {out['mb_per_s']:7.1f} "
            f"{_fmt(out['peak_over_baseline_mb'], '12.0f')} {out['unique_state_mb']:9.1f} "
            f"{out['arrow_pool_peak_mb']:13.0f} {out['batches']:7d} "
            f"{_fmt(out['in_run_rss_slope_mb_per_mb'], '12.4f')}{flag}"
        )
    plain = [r for r in runs if "error" not in r and not r["gzip"]]
    slopes = {}
    for kind, rejected in (("clean", False), ("rejected", True)):
        pts = [
            (r["bytes"] / 1e6, r["peak_over_baseline_mb"])
            for r in plain
            if r["rejected_file"] is rejected and r["peak_over_baseline_mb"] is not None
        ]
        slopes[kind] = slope(pts)
        net = [
            (r["bytes"] / 1e6, r["peak_over_baseline_mb"] - r["unique_state_mb"])
            for r in plain
            if r["rejected_file"] is rejected and r["peak_over_baseline_mb"] is not None
        ]
        slopes[f"{kind}_less_unique_state"] = slope(net)
    in_run = [r["in_run_rss_slope_mb_per_mb"] for r in runs if "error" not in r and r["batches"] >= 8]
    slopes["worst_in_run"] = max((x for x in in_run if x is not None), default=None)
    worst_peak = max((r["peak_over_baseline_mb"] or 0 for r in runs if "error" not in r), default=None)
    worst_rate = min((r["mb_per_s"] for r in runs if "error" not in r), default=None)
    results["scale"] = {
        "method": SCALE_METHOD,
        "targets": SCALE_TARGETS,
        "runs": runs,
        "rss_slope_mb_per_mb": slopes,
        "worst_peak_over_baseline_mb": worst_peak,
        "slowest_mb_per_s": worst_rate,
        "limits": {k: v for k, v in os.environ.items() if k.startswith("INGEST_")},
    }
    print(
        f"\nrss_slope_mb_per_mb: clean {_fmt(slopes['clean'], '.4f')}, rejected "
        f"{_fmt(slopes['rejected'], '.4f')}   (target {SCALE_TARGETS['rss_slope_mb_per_mb']})"
    )
    print(
        f"  less the uniqueness state (12 B per distinct key, docs/design.md): clean "
        f"{_fmt(slopes['clean_less_unique_state'], '.4f')}, rejected "
        f"{_fmt(slopes['rejected_less_unique_state'], '.4f')}"
    )
    print(
        f"  within one run (RSS after each batch over input read, runs of >= 8 batches, worst): "
        f"{_fmt(slopes['worst_in_run'], '.4f')}"
    )
    print(
        f"worst peak RSS over baseline: {_fmt(worst_peak, '.0f')} MB   "
        f"(target {SCALE_TARGETS['peak_rss_over_baseline_mb']})"
    )
    print(f"slowest: {_fmt(worst_rate, '.1f')} MB/s   (target {SCALE_TARGETS['throughput_mb_per_s']})")
