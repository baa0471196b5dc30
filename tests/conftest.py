"""Shared fixtures: the offline stack (template.yaml deployed into moto) and helpers."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
warnings.filterwarnings("ignore", message=".*not supported by moto's CloudFormation.*")


# The longest modules (minutes each): started first, so pytest-xdist's workers are not left
# waiting on one of them at the end of the run.
LONGEST_FIRST = (
    "tests/e2e/test_operations_day.py",
    "tests/integration/test_fault_matrix.py",
    "tests/e2e/test_business_day.py",
    "tests/integration/test_end_of_day.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """After pytest-randomly's shuffle: the longest modules first, everything else in its order."""
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


TIMING_FILE = Path(__file__).resolve().parents[1] / "out" / "pytest-timing.json"
_STARTED: list[float] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    _STARTED.append(time.monotonic())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The whole run's wall time, for `make bench` (issue 10: "the pytest part of make test under
    60 s"): written by the controller of a run over the whole suite, never by an xdist worker."""
    config = session.config
    whole_suite = config.args == ["tests"] and not config.option.collectonly
    if hasattr(config, "workerinput") or not _STARTED or not whole_suite:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats = getattr(reporter, "stats", {})
    record = {
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "wall_s": round(time.monotonic() - _STARTED[0], 1),
        "exit_status": int(exitstatus),
        "passed": len(stats.get("passed", [])),
        "failed": len(stats.get("failed", [])) + len(stats.get("error", [])),
        "workers": getattr(config.option, "numprocesses", None) or 1,
        "cpus": os.cpu_count(),
    }
    TIMING_FILE.parent.mkdir(parents=True, exist_ok=True)
    TIMING_FILE.write_text(json.dumps(record, indent=2), encoding="utf-8")


@pytest.fixture(scope="module")
def stack() -> Iterator[object]:
    """A fresh offline deployment per test module (moto state is per module)."""
    from offline_runtime.scenario.project import offline_aws

    with offline_aws() as deployed:
        yield deployed
