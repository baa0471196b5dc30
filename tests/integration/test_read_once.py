"""Issue 10, "read once": the staged Parquet of a file is fetched at most twice end to end on the
happy path (the source-history checks and publish need its rows; schema, content and business
checks take what ingest computed), and the downstream consumers read the run's curated files.

Every S3 GetObject the handlers make is counted by a botocore ``before-call`` hook, registered the
way the emulator registers its fault injector (``BUILTIN_HANDLERS``: every session made after it,
whoever makes it), and attributed to the function that made it (``faults.current_function``).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import botocore.handlers
import pytest

from offline_runtime.emulator import faults
from offline_runtime.emulator.stack import OfflineStack
from tests.integration import faultkit as kit

MAX_STAGED_GETS_PER_FILE = 2


class GetCounter:
    """(function, key) of every GetObject while active; inactive it does nothing (the hook stays
    registered for the process, as the fault injector's does)."""

    def __init__(self) -> None:
        self.active = False
        self.calls: list[tuple[str | None, str]] = []
        self._lock = threading.Lock()

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if not self.active or model.name != "GetObject":
            return
        key = str(params.get("Key", ""))
        with self._lock:
            self.calls.append((faults.current_function(), key))

    def keys(self, prefix: str, function: str | None = None) -> list[str]:
        return [k for f, k in self.calls if k.startswith(prefix) and (function is None or f == function)]


COUNTER = GetCounter()
# before any stack (and so any botocore session of it) exists: module import, at collection
botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build.s3.GetObject", COUNTER))


@pytest.fixture(scope="module")
def counted(stack: OfflineStack) -> Iterator[GetCounter]:
    kit.seed_items(stack, "901")
    COUNTER.calls.clear()
    COUNTER.active = True
    try:
        yield COUNTER
    finally:
        COUNTER.active = False


@pytest.fixture(scope="module")
def runs(stack: OfflineStack, counted: GetCounter) -> dict[str, str]:
    """One transactions file and one inventory movements file, each to the end of its happy path."""
    out = {}
    for dataset, tag in (("transactions", "901"), ("inventory_movements", "901")):
        event = kit.put_raw(stack, kit.raw_key(dataset, tag), kit.body_of(dataset, tag))
        out[dataset] = kit.run_of(event, dataset)
    stack.wait_idle(300)
    COUNTER.active = False
    return out


@pytest.mark.parametrize("dataset", ["transactions", "inventory_movements"])
def test_the_staged_data_is_fetched_at_most_twice_per_file(
    stack: OfflineStack, counted: GetCounter, runs: dict[str, str], dataset: str
) -> None:
    run = runs[dataset]
    record = kit.published_record(stack, dataset, run)
    assert record is not None and record["status"] == "PUBLISHED" and record["rows_published"] > 0
    staged = counted.keys(f"staging/{dataset}/{run}")
    by_function = Counter(f for f, k in counted.calls if k in staged)
    assert len(staged) <= MAX_STAGED_GETS_PER_FILE, str(sorted(by_function.items()))


def test_downstream_consumers_read_the_published_curated_files(
    stack: OfflineStack, counted: GetCounter, runs: dict[str, str]
) -> None:
    for function, dataset in (
        ("FraudScoringFunction", "transactions"),
        ("ApplyMovementsFunction", "inventory_movements"),
    ):
        run = runs[dataset]
        record = kit.published_record(stack, dataset, run)
        assert record is not None
        assert not counted.keys("staging/", function), function
        curated = counted.keys(f"curated/{dataset}/", function)
        assert curated and set(curated) == set(record["files"]), function
