"""The whole-run figures of issue 10 that a benchmark process cannot time itself: the business day
offline (`make demo`, from ``out/demo/summary.json``) and the pytest part of `make test` (from
``out/pytest-timing.json``, written by tests/conftest.py at the end of a run over the whole suite),
and the staged data's GETs per file from the demo day's metered usage. Each is printed with its
target beside it and where it came from; a missing record is said, not guessed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SUMMARY = ROOT / "out" / "demo" / "summary.json"
TIMING = ROOT / "out" / "pytest-timing.json"
RUN_TARGETS = {
    "demo_wall_s": "< 30 (make demo, everything included)",
    "pytest_wall_s": "< 60 (the pytest part of make test)",
    "staged_gets_per_file": "<= 2 on the happy path (tests/integration/test_read_once.py asserts it)",
}


def _read(path: Path) -> tuple[dict[str, Any] | None, str]:
    if not path.exists():
        return None, "not found"
    stamp = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return json.loads(path.read_text(encoding="utf-8")), f"{path.relative_to(ROOT)}, {stamp}"


def staged_gets(bill: dict[str, Any]) -> dict[str, Any] | None:
    """GETs of ``staging/`` over the day's uploaded files (every file, not only the happy path:
    enhanced validation reads its file again)."""
    by_prefix = bill.get("usage", {}).get("s3_gets_by_prefix")
    if by_prefix is None:
        return None  # a bill from before the meter counted GETs by prefix
    files = int(bill.get("files") or 0)
    gets = int(by_prefix.get("staging", 0))
    return {"gets": gets, "files": files, "per_file": gets / files if files else None}


def report_runs(results: dict[str, Any], summary: Path = SUMMARY, timing: Path = TIMING) -> None:
    print("\nwhole runs (the last ones recorded on this checkout; targets printed, never asserted):")
    day, day_source = _read(summary)
    record: dict[str, Any] = {"targets": RUN_TARGETS}
    if day is None:
        print(f"  make demo: {summary} {day_source}: run `make demo`")
    else:
        rows = int(day.get("totals", {}).get("rows_in", 0))
        print(
            f"  make demo: {day['elapsed_s']:.1f} s for {day.get('stores')} stores, {rows:,} rows "
            f"(target {RUN_TARGETS['demo_wall_s']}; {day_source})"
        )
        record["demo"] = {"wall_s": day["elapsed_s"], "stores": day.get("stores"), "rows": rows}
    tests, test_source = _read(timing)
    if tests is None:
        print(f"  make test (pytest): {timing} {test_source}: run `make test`")
    else:
        print(
            f"  make test (pytest): {tests['wall_s']:.1f} s, {tests['passed']:,} passed, "
            f"{tests['failed']} failed, {tests['workers']} worker(s) on {tests['cpus']} cores "
            f"(target {RUN_TARGETS['pytest_wall_s']}; {test_source})"
        )
        record["pytest"] = tests
    results["runs"] = record


def report_staged_gets(results: dict[str, Any], bill: dict[str, Any], source: str) -> None:
    gets = staged_gets(bill)
    if gets is None:
        print(f"  staged GETs per file: not in {source} (older bill): run `make demo` again")
        return
    per_file = "-" if gets["per_file"] is None else f"{gets['per_file']:.2f}"
    print(
        f"  read once: {gets['gets']:,} GETs of staging/ for {gets['files']} files = {per_file} per file "
        f"(target {RUN_TARGETS['staged_gets_per_file']})"
    )
    results["staged_gets"] = {**gets, "target": RUN_TARGETS["staged_gets_per_file"], "source": source}
