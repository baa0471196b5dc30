"""The demo's closing: the full printout kept in details.txt, a one-screen summary on the console,
summary.json (every file) and report.html (charts), alarms evaluated on the day's metrics.

``divert_details`` sends what the demo prints from then on to out/demo/details.txt; ``finish``
puts the console back and writes and prints the rest. The demo calls these two and nothing else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario import report, summary
from offline_runtime.scenario.alarms import evaluate_alarms

DETAILS = "details.txt"


def divert_details(out_dir: Path) -> IO[str]:
    """From now on, print() writes to out_dir/details.txt; returns the console to give back."""
    console = sys.stdout
    out_dir.mkdir(parents=True, exist_ok=True)
    sys.stdout = (out_dir / DETAILS).open("w", encoding="utf-8")
    return console


def _restore(console: IO[str]) -> None:
    if sys.stdout is not console:
        sys.stdout.close()
        sys.stdout = console


def run_window(stack: OfflineStack, started: datetime) -> tuple[datetime, datetime]:
    """From the run's start to a day past the emulated clock (schedules moved it ahead)."""
    return started - timedelta(hours=1), datetime.fromtimestamp(stack.clock.now(), UTC) + timedelta(days=1)


def day_summary(
    stack: OfflineStack,
    day: date,
    stores: int,
    outcomes: Mapping[str, Any],
    events: list[dict[str, Any]],
    fraud: Mapping[str, Mapping[str, int]],
    ops_alerts: list[dict[str, Any]],
    withheld: list[str],
    problems: list[str],
    elapsed_s: float,
    out_dir: Path,
) -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(seconds=elapsed_s)
    start, end = run_window(stack, started)
    files = [asdict(o) if is_dataclass(o) and not isinstance(o, type) else dict(o) for o in outcomes.values()]
    return summary.build(
        day=day,
        stores=stores,
        files=files,
        events=events,
        fraud=fraud,
        metrics=stack.lambdas.metrics if stack.lambdas else [],
        alarms=evaluate_alarms(stack, start, end),
        ops_alerts=ops_alerts,
        withheld=withheld,
        problems=problems,
        elapsed_s=elapsed_s,
        out_dir=out_dir,
    )


def finish(console: IO[str], made: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Give the console back, write summary.json and report.html of ``made`` (``day_summary``'s
    result), and print the closing summary."""
    _restore(console)
    (out_dir / "summary.json").write_text(json.dumps(made, indent=2, default=str), encoding="utf-8")
    report.write(made, out_dir / "report.html")
    for line in summary.console_lines(made):
        print(line, flush=True)
    return made
