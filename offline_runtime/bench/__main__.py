"""Ingest benchmark: our validated ingest against a no-validation floor and a pandas equivalent.

Run with ``python -m offline_runtime.bench`` (``make bench``). All three variants ingest the same
generated transactions CSV in the same run, interleaved round by round so that a noisy machine
slows them alike; each reports its best round. Peak memory is measured once per variant in a fresh
subprocess, and every handler module is imported in a fresh subprocess to time its cold start.

Then the fraud and stream paths, each next to its own baseline in the same run: vectorised fraud
scoring of a generated 1M-transaction table against the plain per-record Python scorer, the
alert materialisation, the per-event scorer's latency, and the inventory stream monitor's real
handler (EventBridge on moto) against the pure domain function it wraps.

This is a script, not a test: the targets are printed next to the measurements, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from datapipe.contracts import DatasetContract, default_registry
from datapipe.fraud import FraudPolicy, ScoredTransactions, score_event, score_records_python, score_table
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
from datapipe.inventory import low_stock_from_record
from offline_runtime.bench import baselines, cost, runs, scale
from offline_runtime.scenario.datagen import STATES, bench_transactions_csv

ROOT = Path(__file__).resolve().parents[2]
KEY = "transactions/2026-11-21/bench.csv"
VARIANTS = ("ours", "floor", "pandas", "polars", "pandera")
LABELS = {
    "ours": "ours: read_raw + validate + parquet",
    "floor": "floor: pyarrow read_csv + parquet",
    "pandas": "pandas: read_csv(str) + rules + parquet",
    "polars": "polars: read + rule expressions + parquet",
    "pandera": "pandera: lazy DataFrameSchema + parquet",
}
TARGETS = {
    "ingest_vs_floor": "<= 1.5 (1.3 moonshot)",
    "ingest_vs_pandas": ">= 1.7",
    "ingest_vs_pandera": ">= 10 (pandera / ours)",
    "ingest_vs_polars": "> 1 (polars / ours: ahead of polars)",
    "fraud_dataset_records_per_s": ">= 1,000,000",
    "light_handler_import_vs_ingest": "well under 1x, no pandas/awswrangler on their path",
    "usd_per_million_rows": "<= 0.10 (us-east-1 list prices)",
}
LIGHT_HANDLERS = ("inventory_monitor", "case_management", "fraud_realtime")  # stream and alert handlers
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


def _pandas_typed(col: Any, s: Any, present: Any, failures: list[tuple[str, str, Any]]) -> Any:
    """A column parsed to its type, its type/range failures appended (pandas, as a user writes it)."""
    import pandas as pd

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
    return value


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
        value = _pandas_typed(col, s, present, failures)
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
    "polars": lambda data, contract: baselines.run_polars(data, contract, KEY),
    "pandera": lambda data, contract: baselines.run_pandera(data, contract, KEY),
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
    if variant in ("pandas", "pandera"):
        import pandas  # noqa: F401  (import cost is not ingest memory)
    if variant == "pandera":
        import pandera.pandas  # noqa: F401
    if variant == "polars":
        import polars  # noqa: F401
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
    return os.pathsep.join([str(ROOT / "layers" / "shared"), str(ROOT)])


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
        "numpy": "numpy" in sys.modules,
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


# --- fraud scoring: dataset path, per-record baseline, per-event path ---------------------------

FRAUD_CATEGORIES: dict[str, tuple[float, float, tuple[str, ...]]] = {
    # category: (share of transactions, log-amount centre (e^3.4 ~ 30), merchants)
    "GROCERY": (38, 3.4, ("FreshMart", "GreenBasket", "DailyFoods")),
    "RESTAURANT": (15, 3.2, ("Bistro 21", "Noodle Bar", "Taco Town")),
    "FUEL": (12, 3.7, ("QuickFuel", "RoadStop")),
    "PHARMACY": (8, 3.0, ("CareRx", "HealthPlus")),
    "APPAREL": (8, 4.0, ("StyleHub", "DenimWorks")),
    "ELECTRONICS": (6, 4.8, ("GadgetWorld", "TechZone")),
    "TRAVEL": (4, 5.4, ("SkyFares", "RailPass")),
    "CASH_WITHDRAWAL": (6, 4.5, ("BankATM",)),
    "JEWELRY": (0.8, 5.3, ("GoldCrest",)),
    "GAMBLING": (1.5, 4.0, ("LuckyStar Casino",)),
    "CRYPTO": (0.7, 4.8, ("CoinVault Exchange",)),
}
FRAUD_CHANNELS = ("POS", "ONLINE", "ATM")
FRAUD_CURRENCIES = ("USD", "CAD", "MXN", "EUR")
HOUR_WEIGHTS = (
    1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.5, 3, 4, 5, 5.5, 6,  # 00-11 UTC
    6.5, 6, 5.5, 5.5, 6, 6.5, 6, 5, 4, 3, 2, 1.5,  # 12-23 UTC
)  # fmt: skip
FRAUD_DAY_US = int(datetime(2026, 11, 21, tzinfo=UTC).timestamp()) * 1_000_000
HOUR_US = 3_600_000_000


def _ids(prefix: str, numbers: Any, width: int) -> pa.Array:
    """``prefix`` + zero-padded number, built in Arrow (no Python loop)."""
    text = pc.utf8_lpad(pa.array(numbers, type=pa.int64()).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, text, "")


def _decimal_from_cents(cents: Any) -> pa.Array:
    """decimal128(18, 2) straight from int64 cents: the 16-byte two's complement words, exact."""
    words = np.empty((cents.size, 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63
    return pa.Array.from_buffers(pa.decimal128(18, 2), cents.size, [None, pa.py_buffer(words)])


def fraud_transactions(
    rows: int, cards: int = 200_000, accounts: int = 150_000, seed: int = 11
) -> tuple[pa.Table, dict[str, Any]]:
    """A day of card transactions as the published transactions table (contract types), in time order.

    Accounts have a home state, a type and a spending level; cards belong to accounts (some accounts
    hold two) and some cards are far busier than others. About 6% of purchases are out of the home
    state, amounts are log-normal per category and account, ATM withdrawals are round sums, and only
    online payments may lack a card. Injected on disjoint rows: stolen cards emptied in bursts
    (5 risky purchases within 8 minutes), large purchases out of the home state, large ATM
    withdrawals at night.
    """
    rng = np.random.default_rng(seed)
    n = rows
    home = rng.integers(0, len(STATES), accounts)
    acc_type = rng.choice(3, accounts, p=[0.6, 0.15, 0.25])
    spend = rng.normal(0.0, 0.4, accounts)
    card_acc = np.concatenate([np.arange(accounts), rng.integers(0, accounts, max(cards - accounts, 0))])
    card_acc = card_acc[:cards]
    activity = np.minimum(rng.lognormal(0.0, 0.8, cards), 12.0)
    card = rng.choice(cards, n, p=activity / activity.sum())
    hours = np.array(HOUR_WEIGHTS)
    micros = FRAUD_DAY_US + rng.choice(24, n, p=hours / hours.sum()) * HOUR_US + rng.integers(0, HOUR_US, n)
    names = list(FRAUD_CATEGORIES)
    share = np.array([v[0] for v in FRAUD_CATEGORIES.values()], dtype=float)
    cat = rng.choice(len(names), n, p=share / share.sum())
    centre = np.array([v[1] for v in FRAUD_CATEGORIES.values()])[cat] + spend[card_acc[card]]
    cents = np.clip(np.round(np.exp(rng.normal(centre, 0.8)) * 100), 1, 4_500_000).astype(np.int64)
    atm = cat == names.index("CASH_WITHDRAWAL")
    channel = np.where(atm, 2, (rng.random(n) < 0.3).astype(np.int64))  # POS, ONLINE, ATM
    cash = np.array([20, 40, 60, 80, 100, 200, 300, 500, 1000]) * 100
    weights = [0.15, 0.2, 0.15, 0.1, 0.2, 0.1, 0.05, 0.04, 0.01]
    cents[atm] = rng.choice(cash, int(atm.sum()), p=weights)
    acc = card_acc[card]
    loc = home[acc]
    away = rng.random(n) < 0.06
    loc[away] = rng.integers(0, len(STATES), int(away.sum()))

    # per million rows: 500 bursts of 5, 1,500 large out-of-state purchases, 500 night withdrawals
    bursts, burst_len = min(n // 2_000, cards), 5
    picked = rng.permutation(n)
    burst = picked[: bursts * burst_len]
    large = picked[burst.size : burst.size + n * 3 // 2_000]
    night = picked[burst.size + large.size : burst.size + large.size + n // 2_000]
    stolen = np.repeat(rng.choice(cards, bursts, replace=False), burst_len)
    card[burst], acc[burst] = stolen, card_acc[stolen]
    start = np.repeat(FRAUD_DAY_US + rng.integers(0, 24 * HOUR_US - 600_000_000, bursts), burst_len)
    micros[burst] = start + rng.integers(0, 480_000_000, burst.size)
    risky = [names.index(c) for c in ("ELECTRONICS", "JEWELRY", "CRYPTO", "GAMBLING")]
    cat[burst], channel[burst] = rng.choice(risky, burst.size), rng.integers(0, 2, burst.size)
    cents[burst] = rng.integers(20_000, 300_000, burst.size)
    loc[burst] = rng.integers(0, len(STATES), burst.size)
    cents[large] = rng.integers(200_001, 900_000, large.size)
    loc[large] = (home[acc[large]] + rng.integers(1, len(STATES), large.size)) % len(STATES)
    cat[night], channel[night] = names.index("CASH_WITHDRAWAL"), 2
    cents[night] = rng.choice([1000, 1500, 2000], night.size) * 100
    micros[night] = FRAUD_DAY_US + rng.integers(1 * HOUR_US, 5 * HOUR_US, night.size)

    counts = np.array([len(v[2]) for v in FRAUD_CATEGORIES.values()])
    merchant = (np.cumsum(counts) - counts)[cat] + rng.integers(0, 1 << 30, n) % counts[cat]
    has_card = ~((channel == 1) & (rng.random(n) < 0.05))
    store = rng.integers(1, 600, n)
    currency = np.where(rng.random(n) < 0.97, 0, rng.integers(1, len(FRAUD_CURRENCIES), n))
    # a day's file arrives in time order: permute the integer columns, then build the strings once
    order = np.argsort(micros, kind="stable")
    card, acc, cat, channel, loc = card[order], acc[order], cat[order], channel[order], loc[order]
    cents, micros, merchant, has_card = cents[order], micros[order], merchant[order], has_card[order]
    store, currency = store[order], currency[order]
    acc_rows = pa.array(acc)
    no_text = pa.scalar(None, pa.string())
    table = pa.table(
        {
            "transaction_id": _ids("TX", np.arange(n), 10),
            "account_id": _ids("ACC", np.arange(accounts), 8).take(acc_rows),
            "card_id": pc.if_else(
                pa.array(has_card), _ids("CARD", np.arange(cards), 8).take(pa.array(card)), no_text
            ),
            "customer_id": _ids("CUS", np.arange(accounts), 8).take(acc_rows),
            "store_id": pc.if_else(pa.array(channel != 1), _ids("S", store, 3), no_text),
            "merchant": pa.array([m for v in FRAUD_CATEGORIES.values() for m in v[2]]).take(
                pa.array(merchant)
            ),
            "merchant_category": pa.array(names).take(pa.array(cat)),
            "amount": _decimal_from_cents(cents),
            "currency": pa.array(FRAUD_CURRENCIES).take(pa.array(currency)),
            "channel": pa.array(FRAUD_CHANNELS).take(pa.array(channel)),
            "location_state": pa.array(STATES).take(pa.array(loc)),
            "home_state": pa.array(STATES).take(pa.array(home[acc])),
            "account_type": pa.array(["checking", "savings", "credit"]).take(pa.array(acc_type[acc])),
            "event_time": pa.array(micros, type=pa.timestamp("us", tz="UTC")),
        }
    )
    info = {
        "rows": n,
        "cards": cards,
        "accounts": accounts,
        "seed": seed,
        "injected": {
            "card_bursts": bursts,
            "card_burst_rows": int(burst.size),
            "out_of_state_large": int(large.size),
            "night_atm_large": int(night.size),
        },
    }
    return table, info


def time_fraud_dataset(
    table: pa.Table, python_rows: int, repeat: int, warmup: int
) -> tuple[dict[str, list[float]], ScoredTransactions, dict[str, Any]]:
    """Round-robin, as for ingest: the vectorised scorer on the whole table, the alert
    materialisation, the per-record Python scorer on the first ``python_rows`` rows (as a list of
    dicts, converted once, untimed) and, for a like-for-like ratio, the vectorised scorer on them."""
    policy = FraudPolicy()
    head = table.slice(0, python_rows)
    records = head.to_pylist()
    times: dict[str, list[float]] = {"dataset": [], "alerts": [], "python": [], "same_rows": []}
    scored: ScoredTransactions | None = None
    info: dict[str, Any] = {}
    for round_no in range(warmup + repeat):
        gc.collect()
        t0 = time.perf_counter()
        scored = score_table(table, policy)
        t1 = time.perf_counter()
        alerts = scored.alerts(table, min_severity="MEDIUM")
        t2 = time.perf_counter()
        gc.collect()
        t3 = time.perf_counter()
        python_scores = score_records_python(records, policy)
        t4 = time.perf_counter()
        gc.collect()
        t5 = time.perf_counter()
        same_rows = score_table(head, policy)
        t6 = time.perf_counter()
        if round_no >= warmup:
            for key, seconds in (("dataset", t1 - t0), ("alerts", t2 - t1), ("python", t4 - t3)):
                times[key].append(seconds)
            times["same_rows"].append(t6 - t5)
        info = {
            "alerts": len(alerts),
            "scores_equal": bool(np.array_equal(np.asarray(python_scores), same_rows.score)),
        }
        del alerts, python_scores, same_rows
    assert scored is not None
    return times, scored, info


def fraud_events(
    table: pa.Table, scored: ScoredTransactions, count: int, seed: int = 3
) -> list[tuple[Any, ...]]:
    """``count`` transactions drawn from the table, as the real-time path receives them: the
    TransactionReceived detail (text amount, ISO time), the card's earlier transactions within the
    velocity window (epoch seconds, as the card-activity table returns them) and the account's
    median and history (as the account profile holds them)."""
    n = table.num_rows
    rows = np.sort(np.random.default_rng(seed).choice(n, min(count, n), replace=False))
    card = pc.dictionary_encode(table.column("card_id").combine_chunks()).indices
    card_code = card.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    micros = table.column("event_time").combine_chunks().cast(pa.int64()).to_numpy()
    order = np.lexsort((np.arange(n), micros, card_code))  # (card, time, row), as score_table counts
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n)
    picked = table.take(pa.array(rows))
    picked = picked.set_column(
        picked.schema.get_field_index("amount"), "amount", picked.column("amount").cast(pa.string())
    )
    iso = pc.strftime(picked.column("event_time"), format="%Y-%m-%dT%H:%M:%SZ")
    picked = picked.set_column(picked.schema.get_field_index("event_time"), "event_time", iso)
    events: list[tuple[Any, ...]] = []
    for i, txn in zip(rows.tolist(), picked.to_pylist(), strict=True):
        recent: list[float] = []
        if card_code[i] >= 0:
            velocity = int(scored.velocity[i])
            earlier = order[position[i] - velocity + 1 : position[i]]
            recent = (micros[earlier] / 1e6).tolist()
        median = float(scored.account_median[i])
        events.append((txn, recent, None if np.isnan(median) else median, int(scored.account_history[i])))
    return events


def time_fraud_events(events: list[tuple[Any, ...]], repeat: int, warmup: int) -> dict[str, Any]:
    """Per-call latency of ``score_event``; the pass with the lowest total is reported."""
    policy = FraudPolicy()
    best: np.ndarray | None = None
    alerts = 0
    clock = time.perf_counter_ns
    for pass_no in range(warmup + repeat):
        gc.collect()
        lat = np.empty(len(events), dtype=np.int64)
        alerts = 0
        for k, (txn, recent, median, history) in enumerate(events):
            t0 = clock()
            alert = score_event(txn, recent, median, history, policy)
            lat[k] = clock() - t0
            alerts += alert is not None
        if pass_no >= warmup and (best is None or lat.sum() < best.sum()):
            best = lat
    assert best is not None
    us = best / 1000.0
    return {
        "events": len(events),
        "alerts": alerts,
        "p50_us": float(np.percentile(us, 50)),
        "p99_us": float(np.percentile(us, 99)),
        "max_us": float(us.max()),
        "mean_us": float(us.mean()),
    }


# --- inventory stream monitor: the real handler on moto vs the domain function ------------------

STREAM_ENV = {
    "EVENT_BUS_NAME": "bench-bus",
    "EVENT_SOURCE": "retail.datapipe",
    "QUARANTINE_BUCKET": "bench-quarantine",  # the monitor's settings declare it (failed records)
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "bench",
    "POWERTOOLS_SERVICE_NAME": "bench",
}


class _Discard(io.TextIOBase):
    """A stdout that drops everything: the handler's JSON logs and metrics are not the benchmark."""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        return len(s)


class BenchContext:
    function_name = "bench-inventory-monitor"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-inventory-monitor"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def _image(values: dict[str, Any]) -> dict[str, Any]:
    return {k: {"S": v} if isinstance(v, str) else {"N": str(v)} for k, v in values.items()}


def stream_records(count: int, crossing_rate: float = 0.05, seed: int = 5) -> list[dict[str, Any]]:
    """MODIFY records of the inventory table (NEW_AND_OLD_IMAGES, attribute-value JSON): about
    ``crossing_rate`` cross below their reorder threshold; the rest are sales that stay above it,
    sales while already low, and restocks."""
    rng = random.Random(seed)
    crossing = set(rng.sample(range(count), round(count * crossing_rate)))
    records: list[dict[str, Any]] = []
    for i in range(count):
        threshold = rng.randint(10, 60)
        kind = rng.random()
        if i in crossing:
            old, new = threshold + rng.randint(0, 8), threshold - rng.randint(1, 8)
        elif kind < 0.10:  # stays low
            old = rng.randint(0, threshold - 1)
            new = rng.randint(-2, old)
        elif kind < 0.15:  # restock
            old, new = rng.randint(0, threshold - 1), threshold + rng.randint(20, 200)
        else:  # a sale above the threshold
            old = threshold + rng.randint(1, 200)
            new = rng.randint(threshold, old)
        item = {
            "store_id": f"S{rng.randint(1, 600):03d}",
            "product_id": f"P{rng.randint(1, 20_000):05d}",
            "reorder_threshold": threshold,
            "avg_daily_sales": round(rng.uniform(0.5, 40.0), 1),
            "lead_time_days": rng.randint(1, 7),
            "review_days": 1,
            "safety_stock": rng.randint(0, 30),
            "min_order_qty": rng.choice([1, 6, 12]),
            "case_pack": rng.choice([1, 6, 12, 24]),
        }
        keys = {"store_id": item["store_id"], "product_id": item["product_id"]}
        records.append(
            {
                "eventID": f"{i:032x}",
                "eventName": "MODIFY",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1_795_305_601 + i,
                    "Keys": _image(keys),
                    "NewImage": _image({**item, "on_hand": new}),
                    "OldImage": _image({**item, "on_hand": old}),
                    "SequenceNumber": f"{i + 1:021d}",
                    "SizeBytes": 420,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": (
                    "arn:aws:dynamodb:us-east-1:123456789012:table/bench-inventory/stream/2026-11-22T00:00:00.000"
                ),
            }
        )
    return records


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def time_stream_monitor(records: list[dict[str, Any]], repeat: int, warmup: int) -> dict[str, Any]:
    """The inventory monitor's ``lambda_handler`` in process (EventBridge on moto, stdout dropped),
    round-robin with the domain function ``low_stock_from_record`` over the same records."""
    import boto3
    from moto import mock_aws

    times: dict[str, list[float]] = {"handler": [], "domain": []}
    sink = _Discard()
    with _environ(STREAM_ENV), mock_aws(), contextlib.redirect_stdout(sink):
        boto3.client("events").create_event_bus(Name=STREAM_ENV["EVENT_BUS_NAME"])
        path = ROOT / "functions" / "inventory_monitor" / "app.py"
        spec = importlib.util.spec_from_file_location("bench_inventory_monitor", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)  # the Logger binds to the stdout of import time: the sink
        event, context = {"Records": records}, BenchContext()
        response: dict[str, Any] = {}
        crossings = 0
        for round_no in range(warmup + repeat):
            gc.collect()
            t0 = time.perf_counter()
            response = module.lambda_handler(event, context)
            t1 = time.perf_counter()
            gc.collect()
            t2 = time.perf_counter()
            crossings = sum(low_stock_from_record(r) is not None for r in records)
            t3 = time.perf_counter()
            if round_no >= warmup:
                times["handler"].append(t1 - t0)
                times["domain"].append(t3 - t2)
    return {
        "times": times,
        "crossings": crossings,
        "batch_item_failures": len(response.get("batchItemFailures", [])),
    }


# --- report -----------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report_fraud(args: argparse.Namespace, results: dict[str, Any]) -> None:
    t_gen = time.perf_counter()
    table, info = fraud_transactions(args.fraud_rows)
    gen_s = time.perf_counter() - t_gen
    rows, python_rows = table.num_rows, min(args.fraud_python_rows, table.num_rows)
    injected = info["injected"]
    print(
        f"\nfraud scoring, dataset path: {rows:,} generated transactions ({info['cards']:,} cards, "
        f"{info['accounts']:,} accounts; generated in {gen_s:.1f}s)"
    )
    print(
        f"injected: {injected['card_bursts']:,} stolen-card bursts (5 in 8 min), "
        f"{injected['out_of_state_large']:,} large out-of-state purchases, "
        f"{injected['night_atm_large']:,} large night ATM withdrawals"
    )
    print(f"timing: best of {args.repeat} interleaved rounds after {args.warmup} warm-up round(s)\n")
    times, scored, out = time_fraud_dataset(table, python_rows, args.repeat, args.warmup)
    header = f"{'variant':56s} {'records':>10s} {'best s':>8s} {'median s':>9s} {'records/s':>11s}"
    print(header)
    print("-" * len(header))
    labels = {
        "dataset": ("vectorised: score_table", rows),
        "alerts": ("alerts: scored.alerts(min_severity='MEDIUM'), alerts built", out["alerts"]),
        "python": (f"python: score_records_python, first {python_rows:,} rows", python_rows),
        "same_rows": (f"vectorised: score_table, same first {python_rows:,} rows", python_rows),
    }
    best = {k: min(v) for k, v in times.items()}
    for key, (label, n) in labels.items():
        median = statistics.median(times[key])
        print(f"{label:56s} {n:10,} {best[key]:8.3f} {median:9.3f} {n / best[key]:11,.0f}")
    dataset_rate, python_rate = rows / best["dataset"], python_rows / best["python"]
    same_rate = python_rows / best["same_rows"]
    target = TARGETS["fraud_dataset_records_per_s"]
    results.update(
        {
            "fraud_input": info,
            "fraud_generate_s": gen_s,
            "fraud_dataset_s": best["dataset"],
            "fraud_dataset_median_s": statistics.median(times["dataset"]),
            "fraud_dataset_all_s": times["dataset"],
            "fraud_dataset_records_per_s": dataset_rate,
            "fraud_python_rows": python_rows,
            "fraud_python_s": best["python"],
            "fraud_python_median_s": statistics.median(times["python"]),
            "fraud_python_all_s": times["python"],
            "fraud_python_records_per_s": python_rate,
            "fraud_dataset_same_rows_s": best["same_rows"],
            "fraud_dataset_same_rows_records_per_s": same_rate,
            "fraud_speedup": dataset_rate / python_rate,
            "fraud_speedup_same_rows": same_rate / python_rate,
            "fraud_same_rows_scores_equal": out["scores_equal"],
            "fraud_alerts_min_severity": "MEDIUM",
            "fraud_alerts": out["alerts"],
            "fraud_alerts_s": best["alerts"],
            "fraud_alerts_median_s": statistics.median(times["alerts"]),
            "fraud_alerts_all_s": times["alerts"],
            "fraud_alerts_per_s": out["alerts"] / best["alerts"],
            "fraud_severity_counts": scored.severity_counts(),
            "fraud_rules_fired": {rule: int(scored.fired(rule).sum()) for rule in scored.rule_names},
        }
    )
    if python_rows < rows:
        print(
            f"\npython baseline on the first {python_rows:,} rows only (its own account medians and "
            f"velocity over those rows): at ~{python_rate:,.0f} records/s the whole table would take "
            f"~{rows / python_rate:.0f}s a round"
        )
    print(f"scores identical, python vs vectorised on those rows: {out['scores_equal']}")
    print(
        f"\nfraud_dataset_records_per_s = {dataset_rate:,.0f}   (target {target})"
        f"\nfraud_python_records_per_s  = {python_rate:,.0f}   ({python_rows:,} rows)"
        f"\nfraud_speedup = vectorised / python records/s = {results['fraud_speedup']:.1f}"
        f"   (like for like on the same {python_rows:,} rows: {results['fraud_speedup_same_rows']:.1f})"
    )
    print(
        f"alerts >= MEDIUM: {out['alerts']:,} materialised in {best['alerts']:.3f}s "
        f"({results['fraud_alerts_per_s']:,.0f} alerts/s)"
    )
    counts = ", ".join(f"{k} {v:,}" for k, v in results["fraud_severity_counts"].items())
    fired = ", ".join(f"{k} {v:,}" for k, v in results["fraud_rules_fired"].items())
    print(f"flagged rows by severity: {counts}\nrules fired: {fired}")

    events = fraud_events(table, scored, args.fraud_events)
    del table, scored
    latency = time_fraud_events(events, args.repeat, args.warmup)
    results.update(
        {
            "fraud_event_count": latency["events"],
            "fraud_event_alerts": latency["alerts"],
            "fraud_event_latency_us_p50": latency["p50_us"],
            "fraud_event_latency_us_p99": latency["p99_us"],
            "fraud_event_latency_us_mean": latency["mean_us"],
            "fraud_event_latency_us_max": latency["max_us"],
        }
    )
    print(
        f"\nfraud per-event path: score_event on {latency['events']:,} transactions drawn from the table "
        f"(TransactionReceived detail, card's in-window history, account median), "
        f"{latency['alerts']:,} alerts; per-call perf_counter_ns, pass with the lowest total of "
        f"{args.repeat} after {args.warmup} warm-up"
    )
    print(
        f"fraud_event_latency_us_p50 = {latency['p50_us']:.1f}   fraud_event_latency_us_p99 = "
        f"{latency['p99_us']:.1f}   (mean {latency['mean_us']:.1f}, max {latency['max_us']:.0f})"
    )


def report_stream(args: argparse.Namespace, results: dict[str, Any]) -> None:
    records = stream_records(args.stream_records)
    timed = time_stream_monitor(records, args.repeat, args.warmup)
    n = len(records)
    print(
        f"\nstream monitor: a batch of {n:,} DynamoDB stream records (MODIFY, NEW_AND_OLD_IMAGES), "
        f"{timed['crossings']:,} crossing below threshold -> one put_events each (EventBridge on moto)"
    )
    print(
        f"timing: best of {args.repeat} interleaved rounds after {args.warmup} warm-up round(s), "
        "the handler's stdout (JSON logs, metrics) dropped\n"
    )
    header = f"{'variant':56s} {'best s':>8s} {'median s':>9s} {'records/s':>11s}"
    print(header)
    print("-" * len(header))
    labels = {
        "handler": "handler: inventory_monitor lambda_handler (in process)",
        "domain": "domain: datapipe.inventory.low_stock_from_record",
    }
    for key, label in labels.items():
        best, median = min(timed["times"][key]), statistics.median(timed["times"][key])
        print(f"{label:56s} {best:8.3f} {median:9.3f} {n / best:11,.0f}")
    results.update(
        {
            "stream_records": n,
            "stream_crossings": timed["crossings"],
            "stream_batch_item_failures": timed["batch_item_failures"],
            "stream_monitor_s": min(timed["times"]["handler"]),
            "stream_monitor_all_s": timed["times"]["handler"],
            "stream_monitor_records_per_s": n / min(timed["times"]["handler"]),
            "stream_domain_s": min(timed["times"]["domain"]),
            "stream_domain_all_s": timed["times"]["domain"],
            "stream_domain_records_per_s": n / min(timed["times"]["domain"]),
        }
    )
    print(
        f"\nstream_monitor_records_per_s = {results['stream_monitor_records_per_s']:,.0f}   "
        f"stream_domain_records_per_s = {results['stream_domain_records_per_s']:,.0f}   "
        f"(batch item failures: {timed['batch_item_failures']})"
    )


def report_imports(args: argparse.Namespace, results: dict[str, Any]) -> None:
    imports = measure_imports(args.import_repeat)
    results["imports"] = imports
    results["import_s"] = {name: r["seconds"] for name, r in imports.items()}
    print(f"\nhandler import time (best of {args.import_repeat} fresh processes, dummy environment)")
    print(
        f"{'handler':20s} {'import s':>9s} {'pandas':>7s} {'awswrangler':>12s} {'pyarrow':>8s} "
        f"{'numpy':>6s} {'modules':>8s}  error"
    )
    for name, r in imports.items():
        print(
            f"{name:20s} {_fmt(r.get('seconds'), '9.3f')} {r.get('pandas', '-')!s:>7s} "
            f"{r.get('awswrangler', '-')!s:>12s} {r.get('pyarrow', '-')!s:>8s} {r.get('numpy', '-')!s:>6s} "
            f"{r.get('modules', '-')!s:>8s}  {r.get('error') or ''}"
        )
    ingest = imports.get("ingest", {}).get("seconds")
    light = {name: imports[name] for name in LIGHT_HANDLERS if name in imports}
    ratios = {
        name: (r["seconds"] / ingest if r.get("seconds") and ingest else None) for name, r in light.items()
    }
    results["import_vs_ingest"] = ratios
    results["light_handlers_pandas_free"] = all(
        r.get("pandas") is False and r.get("awswrangler") is False for r in light.values()
    )
    print(
        f"\nstream/alert handler import vs ingest ({_fmt(ingest, '.3f')}s)   "
        f"(target {TARGETS['light_handler_import_vs_ingest']})"
    )
    for name, r in light.items():
        flags = " ".join(
            f"{lib} {r.get(lib, '-')!s}" for lib in ("pandas", "awswrangler", "pyarrow", "numpy")
        )
        print(
            f"  {name:18s} {_fmt(r.get('seconds'), '.3f')}s = {_fmt(ratios[name], '.2f')}x ingest   {flags}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="data rows in the generated CSV")
    parser.add_argument("--repeat", "-n", type=int, default=5, help="timed rounds (best of N)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first")
    parser.add_argument("--import-repeat", type=int, default=3, help="fresh processes per handler")
    parser.add_argument("--out", default="out/bench.json", help="JSON results file")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-imports", action="store_true")
    parser.add_argument("--fraud-rows", type=int, default=1_000_000, help="generated transactions to score")
    parser.add_argument(
        "--fraud-python-rows", type=int, default=200_000, help="rows for the per-record Python baseline"
    )
    parser.add_argument("--fraud-events", type=int, default=20_000, help="events for the per-event latency")
    parser.add_argument("--stream-records", type=int, default=1_000, help="stream records in the batch")
    parser.add_argument("--skip-fraud", action="store_true")
    parser.add_argument("--skip-stream", action="store_true")
    parser.add_argument(
        "--sizes",
        default="10,100,1000",
        help="input sizes in MB for the memory/throughput scale (comma list)",
    )
    parser.add_argument("--skip-scale", action="store_true", help="skip the ingest-over-sizes runs")
    parser.add_argument(
        "--rejected-max-mb", type=int, default=None, help="largest entirely rejected file (default: any)"
    )
    parser.add_argument("--skip-gzip", action="store_true", help="skip the gzip variant of the 100 MB file")
    parser.add_argument(
        "--unique-keys",
        type=int,
        default=scale.UNIQUE_KEYS,
        help="keys fed to the uniqueness state alone after the scale runs (0: skip)",
    )
    parser.add_argument("--skip-cost", action="store_true", help="skip the cost per million rows")
    parser.add_argument("--cost-from", default="out/demo/cost.json", help="the demo day's bill (make demo)")
    parser.add_argument(
        "--cost-stores", type=int, default=0, help="run a generated day of N stores for the cost instead"
    )
    parser.add_argument("--child-memory", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--child-scale", help=argparse.SUPPRESS)
    parser.add_argument("--child-unique", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_memory:
        child_memory(args.child_memory, args.input)
        return 0
    if args.child_scale:
        print(json.dumps(scale.child_scale(args.child_scale, args.input)))
        return 0
    if args.child_unique:
        print(json.dumps(scale.child_unique(args.child_unique)))
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
    prefix = {v: v for v in VARIANTS} | {"ours": "ingest"}
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
    results["ingest_vs_pandera"] = results["pandera_s"] / results["ingest_s"]
    results["ingest_vs_polars"] = results["polars_s"] / results["ingest_s"]
    results["targets"] = TARGETS
    ours_counts = (timed["info"]["ours"]["rows_valid"], timed["info"]["ours"]["rows_rejected"])
    results["baseline_counts_equal_ours"] = {
        v: (timed["info"][v]["rows_valid"], timed["info"][v]["rows_rejected"]) == ours_counts
        for v in ("polars", "pandera")
    }
    for v in ("polars", "pandera"):
        info = timed["info"][v]
        same = "equal to ours" if results["baseline_counts_equal_ours"][v] else "DIFFERENT FROM OURS"
        print(
            f"{v}: {info['rows_valid']:,} valid + {info['rows_rejected']:,} rejected "
            f"(ours {ours_counts[0]:,} + {ours_counts[1]:,}): {same}"
        )
    print(
        f"\ningest_vs_floor  = ours / floor   = {results['ingest_vs_floor']:.2f}"
        f"   (target {TARGETS['ingest_vs_floor']})"
    )
    print(
        f"ingest_vs_pandas = pandas / ours  = {results['ingest_vs_pandas']:.2f}"
        f"   (target {TARGETS['ingest_vs_pandas']})"
    )
    print(
        f"ingest_vs_pandera = pandera / ours = {results['ingest_vs_pandera']:.2f}"
        f"   (target {TARGETS['ingest_vs_pandera']})"
    )
    print(
        f"ingest_vs_polars = polars / ours  = {results['ingest_vs_polars']:.2f}"
        f"   (target {TARGETS['ingest_vs_polars']})"
    )
    if memory:
        print(f"\nmemory: {MEMORY_METHOD}")

    if not args.skip_fraud:
        report_fraud(args, results)
    if not args.skip_stream:
        report_stream(args, results)
    if not args.skip_imports:
        report_imports(args, results)
    if not args.skip_scale:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        scale.report_scale(sizes, not args.skip_gzip, results, args.rejected_max_mb)
        if args.unique_keys > 0:
            scale.report_unique(args.unique_keys, results)
    if not args.skip_cost:
        cost.bench_report(results, Path(args.cost_from), args.cost_stores or None)
    runs.report_runs(results)

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwrote {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
