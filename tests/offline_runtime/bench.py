"""Ingest benchmark: our validated ingest against a no-validation floor and a pandas equivalent.

Run with ``python -m offline_runtime.bench`` (``make bench``). All three variants ingest the same
generated transactions CSV in the same run, interleaved round by round so that a noisy machine
slows them alike; each reports its best round. Peak memory is measured once per variant in a fresh
subprocess, and every handler module is imported in a fresh subprocess to time its cold start.

This is a script, not a test: the targets are printed next to the measurements, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from datapipe.contracts import DatasetContract, default_registry
from datapipe.ingest.reader import read_raw
from datapipe.ingest.validation import (
    BOOL_FALSE,
    BOOL_TRUE,
    FLOAT_RE,
    INT_RE,
    TIMESTAMP_RE,
    Lineage,
    validate,
)
from offline_runtime.datagen import bench_transactions_csv

ROOT = Path(__file__).resolve().parents[2]
KEY = "transactions/2026-11-21/bench.csv"
VARIANTS = ("ours", "floor", "pandas")
LABELS = {
    "ours": "ours: read_raw + validate + parquet",
    "floor": "floor: pyarrow read_csv + parquet",
    "pandas": "pandas: read_csv(str) + rules + parquet",
}
TARGETS = {"ingest_vs_floor": "<= 1.3", "ingest_vs_pandas": ">= 1.7"}
MEMORY_METHOD = (
    "one run per variant in a fresh subprocess: peak RSS of the run (Linux VmHWM, reset via "
    "/proc/self/clear_refs just before it) minus RSS before it (after imports and loading the input), "
    "plus the Arrow default pool's max_memory(); pandas/numpy allocations are outside the Arrow pool, "
    "RSS sees both (and also allocator caching)"
)
DUMMY_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "RAW_BUCKET": "bench-raw",
    "CURATED_BUCKET": "bench-curated",
    "QUARANTINE_BUCKET": "bench-quarantine",
    "EVENT_BUS_NAME": "bench-bus",
    "OPS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:bench-ops",
}


# --- the three variants -----------------------------------------------------------------------


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()


def run_ours(data: bytes, contract: DatasetContract) -> dict[str, Any]:
    """The ingest stage as ``ingest/service.py`` runs it, minus S3: read, validate, write Parquet."""
    t0 = time.perf_counter()
    batch = read_raw(data, KEY, contract)
    t1 = time.perf_counter()
    result = validate(batch, contract, Lineage(KEY, "v1", "etag", "bench-run"))
    t2 = time.perf_counter()
    staged = _parquet(result.valid)
    t3 = time.perf_counter()
    return {
        "stages": {"read_raw": t1 - t0, "validate": t2 - t1, "write": t3 - t2},
        "rows_valid": result.rows_valid,
        "rows_rejected": result.rows_rejected,
        "parquet_bytes": len(staged),
    }


def run_floor(data: bytes, contract: DatasetContract) -> dict[str, Any]:
    """What any ingest must pay: a typed CSV read (default inference) and the Parquet write."""
    table = pcsv.read_csv(
        io.BytesIO(data), parse_options=pcsv.ParseOptions(invalid_row_handler=lambda row: "skip")
    )
    staged = _parquet(table)
    return {"rows_valid": table.num_rows, "rows_rejected": None, "parquet_bytes": len(staged)}


def _decimal_re(precision: int, scale: int) -> str:
    return rf"^[+-]?\d{{1,{precision - scale}}}(\.\d{{1,{scale}}})?$"


def run_pandas(data: bytes, contract: DatasetContract) -> dict[str, Any]:
    """The same rules written the way a pandas user would: string frame, per-column masks."""
    import pandas as pd

    df = pd.read_csv(
        io.BytesIO(data), dtype=str, keep_default_na=False, on_bad_lines="skip", encoding_errors="replace"
    )
    df.columns = [c.strip().lower() for c in df.columns]
    n = len(df)
    failures: list[tuple[str, str, Any]] = []
    typed: dict[str, Any] = {}
    texts: dict[str, Any] = {}
    for col in contract.columns:
        if col.name in df:
            s = df[col.name].str.strip()
            s = s.mask(s == "")
        else:
            s = pd.Series([None] * n, index=df.index, dtype=object)
        texts[col.name] = s
        present = s.notna()
        failures.append((col.name, "encoding", s.str.contains("\ufffd", regex=False, na=False)))
        if col.required:
            failures.append((col.name, "required", ~present))
        value: Any = s
        if col.type in ("int", "decimal", "float"):
            shape = {"int": INT_RE, "float": FLOAT_RE}.get(col.type) or _decimal_re(col.precision, col.scale)
            ok = s.str.match(shape, na=False)
            failures.append((col.name, "type", present & ~ok))
            value = pd.to_numeric(s.where(ok), errors="coerce")
            if col.exclusive_minimum is not None:
                failures.append((col.name, "range", value <= col.exclusive_minimum))
            if col.minimum is not None:
                failures.append((col.name, "range", value < col.minimum))
            if col.maximum is not None:
                failures.append((col.name, "range", value > col.maximum))
            if col.non_zero:
                failures.append((col.name, "non_zero", value == 0))
            if col.type == "int":
                value = value.astype("Int64")
        elif col.type == "timestamp":
            ok = s.str.match(TIMESTAMP_RE, na=False)
            value = pd.to_datetime(s.where(ok), errors="coerce", utc=True, format="ISO8601")
            failures.append((col.name, "type", present & value.isna()))
        elif col.type == "bool":
            lowered = s.str.lower()
            is_true, is_false = lowered.isin(BOOL_TRUE), lowered.isin(BOOL_FALSE)
            failures.append((col.name, "type", present & ~(is_true | is_false)))
            value = is_true.where(is_true | is_false).astype("boolean")
        if col.allowed is not None:
            failures.append((col.name, "allowed_values", present & ~s.isin(list(col.allowed))))
        if col.pattern is not None and col.type == "string":
            failures.append((col.name, "pattern", present & ~s.str.match(col.pattern, na=False)))
        typed[col.name] = value

    invalid = np.zeros(n, dtype=bool)
    for _, _, mask in failures:
        invalid |= mask.to_numpy(dtype=bool)
    for name in contract.unique_columns:
        candidates = typed[name][~invalid]
        dup = candidates.duplicated(keep="first") & candidates.notna()
        failures.append((name, "unique", pd.Series(df.index.isin(dup.index[dup]), index=df.index)))
        invalid |= failures[-1][2].to_numpy(dtype=bool)

    rejects = pd.concat(
        [
            pd.DataFrame({"row": df.index[mask] + 2, "column": col, "rule": rule, "value": texts[col][mask]})
            for col, rule, mask in failures
            if mask.any()
        ],
        ignore_index=True,
    ).sort_values("row", kind="stable")
    valid = pd.DataFrame(typed)[~invalid]
    for part in contract.partitions:
        valid[part.name] = valid[part.source].dt.strftime("%Y-%m-%d")
    valid["lineage_source_key"] = KEY
    valid["lineage_source_row"] = valid.index + 2  # approximate: pandas does not report line numbers
    buf = io.BytesIO()
    valid.to_parquet(buf, engine="pyarrow", compression="snappy", index=False)
    return {
        "rows_valid": len(valid),
        "rows_rejected": int(rejects["row"].nunique()),
        "parquet_bytes": len(buf.getvalue()),
    }


RUNNERS: dict[str, Callable[[bytes, DatasetContract], dict[str, Any]]] = {
    "ours": run_ours,
    "floor": run_floor,
    "pandas": run_pandas,
}


# --- timing -----------------------------------------------------------------------------------


def time_variants(data: bytes, contract: DatasetContract, repeat: int, warmup: int) -> dict[str, Any]:
    """Round-robin over the variants: warm-up rounds, then ``repeat`` timed rounds."""
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    stages: list[dict[str, float]] = []
    info: dict[str, dict[str, Any]] = {}
    for round_no in range(warmup + repeat):
        for variant in VARIANTS:
            gc.collect()
            t0 = time.perf_counter()
            out = RUNNERS[variant](data, contract)
            elapsed = time.perf_counter() - t0
            if round_no >= warmup:
                times[variant].append(elapsed)
                if variant == "ours":
                    stages.append(out.pop("stages"))
            info[variant] = {k: v for k, v in out.items() if k != "stages"}
    best_stages = {k: min(s[k] for s in stages) for k in stages[0]} if stages else {}
    return {"times": times, "stages": best_stages, "info": info}


# --- memory (fresh subprocess per variant) ----------------------------------------------------


def _proc_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def child_memory(variant: str, path: str) -> None:
    """Entry point of the memory subprocess: one run, JSON on stdout.

    The peak is the kernel's VmHWM, reset just before the run (``clear_refs``) so that import
    transients do not count. ru_maxrss is not used on Linux: it inherits the parent's high-water
    mark across fork+exec, so every child would report the benchmark process's own peak.
    """
    data = Path(path).read_bytes()
    contract = default_registry().get("transactions")
    if variant == "pandas":
        import pandas  # noqa: F401  (import cost is not ingest memory)
    gc.collect()
    before = _proc_status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")  # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    RUNNERS[variant](data, contract)
    peak = _proc_status_kib("VmHWM")
    if peak is None or before is None:  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS)
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak, before = (maxrss // 1024 if sys.platform == "darwin" else maxrss), 0
    print(
        json.dumps(
            {
                "peak_rss_mb": peak / 1024,
                "peak_rss_delta_mb": (peak - before) / 1024 if reset else None,
                "arrow_pool_peak_mb": pa.default_memory_pool().max_memory() / 2**20,
                "arrow_backend": pa.default_memory_pool().backend_name,
            }
        )
    )


def measure_memory(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for variant in VARIANTS:
        proc = subprocess.run(
            [sys.executable, "-m", "offline_runtime.bench", "--child-memory", variant, "--input", str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": _pythonpath()},
            cwd=ROOT,
            check=False,
        )
        if proc.returncode:
            out[variant] = {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
        else:
            out[variant] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def _pythonpath() -> str:
    return os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT / "tests")])


# --- handler import times (fresh subprocess each) ---------------------------------------------

IMPORT_PROBE = textwrap.dedent(
    """
    import importlib.util, json, sys, time
    path, name = sys.argv[1], sys.argv[2]
    t0 = time.perf_counter()
    error = None
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "seconds": seconds,
        "pandas": "pandas" in sys.modules,
        "awswrangler": "awswrangler" in sys.modules,
        "pyarrow": "pyarrow" in sys.modules,
        "modules": len(sys.modules),
        "error": error,
    }))
    """
)


def _template_env(name: str) -> dict[str, str]:
    """The handler's template environment (Globals + its function), with dummy resource names.

    ``!Ref Parameter`` resolves to the parameter's default, ``!Ref Resource`` to a dummy name (an
    ARN for ``*_ARN``); other intrinsics are left unset. Empty when the template cannot be read.
    """
    try:
        from samcli.yamlhelper import yaml_parse

        template = yaml_parse((ROOT / "template.yaml").read_text())
    except Exception:  # no template or no SAM CLI: the fixed dummies still apply
        return {}
    params = template.get("Parameters", {})
    variables = dict(
        template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    )
    for spec in template.get("Resources", {}).values():
        props = spec.get("Properties", {}) if isinstance(spec, dict) else {}
        if str(props.get("CodeUri", "")).rstrip("/").endswith(f"functions/{name}"):
            variables.update(props.get("Environment", {}).get("Variables", {}))
    env: dict[str, str] = {}
    for var, value in variables.items():
        if isinstance(value, (str, int, float)):
            env[var] = str(value)
        elif not isinstance(value, dict) or "Ref" not in value:
            continue  # !If, !Sub, ...: leave unset, the code's default applies
        elif value["Ref"] in params:
            if "Default" in params[value["Ref"]]:
                env[var] = str(params[value["Ref"]]["Default"])
        elif var.endswith("_ARN"):
            env[var] = f"arn:aws:sns:us-east-1:123456789012:bench-{value['Ref']}"
        else:
            env[var] = f"bench-{value['Ref']}".lower()
    return env


def handler_env(name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(_template_env(name))
    env.update(DUMMY_ENV)
    env.setdefault("POWERTOOLS_SERVICE_NAME", name)
    # like Lambda: the layer on the path, the function's own directory first (the cwd)
    env["PYTHONPATH"] = str(ROOT / "layers" / "shared")
    return env


def measure_imports(repeat: int) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        name = app.parent.name
        runs: list[dict[str, Any]] = []
        for _ in range(repeat):
            proc = subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE, str(app), f"handler_{name}"],
                capture_output=True,
                text=True,
                env=handler_env(name),
                cwd=app.parent,
                check=False,
            )
            if proc.returncode or not proc.stdout.strip():
                runs.append({"seconds": None, "error": (proc.stderr or "no output").strip()[-300:]})
                break
            runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        ok = [r["seconds"] for r in runs if r.get("seconds") is not None and not r.get("error")]
        best = min(ok) if ok else None
        results[name] = {**runs[-1], "seconds": best, "runs": len(runs)}
    return results


# --- report -----------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="data rows in the generated CSV")
    parser.add_argument("--repeat", "-n", type=int, default=5, help="timed rounds (best of N)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--import-repeat", type=int, default=3, help="fresh processes per handler")
    parser.add_argument("--out", default="out/bench.json", help="JSON results file")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-imports", action="store_true")
    parser.add_argument("--child-memory", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_memory:
        child_memory(args.child_memory, args.input)
        return 0

    contract = default_registry().get("transactions")
    data = bench_transactions_csv(rows=args.rows)
    mb = len(data) / 1e6
    print(f"input: {args.rows:,} rows, {mb:.1f} MB (generated transactions CSV, ~1% bad rows)")
    print(f"timing: best of {args.repeat} interleaved rounds after {args.warmup} warm-up round(s)\n")

    timed = time_variants(data, contract, args.repeat, args.warmup)
    memory: dict[str, dict[str, Any]] = {}
    if not args.skip_memory:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.csv"
            path.write_bytes(data)
            memory = measure_memory(path)

    results: dict[str, Any] = {
        "input": {"rows": args.rows, "bytes": len(data), "mb": mb, "key": KEY},
        "repeat": args.repeat,
        "warmup": args.warmup,
        "memory_method": MEMORY_METHOD,
        "mb_definition": "input MB = bytes / 1e6",
    }
    header = f"{'variant':40s} {'best s':>8s} {'median s':>9s} {'rows/s':>10s} {'MB/s':>7s} "
    header += f"{'peak RSS +MB':>12s} {'Arrow pool MB':>13s} {'rows kept':>10s}"
    print(header)
    print("-" * len(header))
    prefix = {"ours": "ingest", "floor": "floor", "pandas": "pandas"}
    for variant in VARIANTS:
        times = timed["times"][variant]
        best, median = min(times), statistics.median(times)
        mem = memory.get(variant, {})
        p = prefix[variant]
        results.update(
            {
                f"{p}_s": best,
                f"{p}_median_s": median,
                f"{p}_all_s": times,
                f"{p}_rows_per_s": args.rows / best,
                f"{p}_mb_per_s": mb / best,
                f"{p}_peak_rss_mb": mem.get("peak_rss_mb"),
                f"{p}_peak_rss_delta_mb": mem.get("peak_rss_delta_mb"),
                f"{p}_arrow_pool_peak_mb": mem.get("arrow_pool_peak_mb"),
                f"{p}_output": timed["info"][variant],
            }
        )
        if "error" in mem:
            results[f"{p}_memory_error"] = mem["error"]
        print(
            f"{LABELS[variant]:40s} {best:8.3f} {median:9.3f} {args.rows / best:10,.0f} {mb / best:7.1f} "
            f"{_fmt(mem.get('peak_rss_delta_mb'), '12.0f')} {_fmt(mem.get('arrow_pool_peak_mb'), '13.0f')} "
            f"{timed['info'][variant]['rows_valid']:10,}"
        )
    results["ingest_stages_s"] = timed["stages"]
    stages = "  ".join(f"{k} {v:.3f}s" for k, v in timed["stages"].items())
    print(f"\nours by stage (best of {args.repeat} each): {stages}")

    results["ingest_vs_floor"] = results["ingest_s"] / results["floor_s"]
    results["ingest_vs_pandas"] = results["pandas_s"] / results["ingest_s"]
    results["targets"] = TARGETS
    print(
        f"\ningest_vs_floor  = ours / floor   = {results['ingest_vs_floor']:.2f}"
        f"   (target {TARGETS['ingest_vs_floor']})"
    )
    print(
        f"ingest_vs_pandas = pandas / ours  = {results['ingest_vs_pandas']:.2f}"
        f"   (target {TARGETS['ingest_vs_pandas']})"
    )
    if memory:
        print(f"\nmemory: {MEMORY_METHOD}")

    if not args.skip_imports:
        imports = measure_imports(args.import_repeat)
        results["imports"] = imports
        results["import_s"] = {name: r["seconds"] for name, r in imports.items()}
        print(f"\nhandler import time (best of {args.import_repeat} fresh processes, dummy environment)")
        print(f"{'handler':20s} {'import s':>9s} {'pandas':>7s} {'awswrangler':>12s} {'modules':>8s}  error")
        for name, r in imports.items():
            print(
                f"{name:20s} {_fmt(r.get('seconds'), '9.3f')} {r.get('pandas', '-')!s:>7s} "
                f"{r.get('awswrangler', '-')!s:>12s} {r.get('modules', '-')!s:>8s}  {r.get('error') or ''}"
            )

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
