"""functions/freshness_check/app.py imported directly, on events/freshness_check_schedule.json.

The published history in the curated bucket is what publish writes per source and day
(``datapipe.quality.sources.history_entries`` layout); the calendars are the real contracts'.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest

from datapipe.contracts import default_registry
from datapipe.quality.deliveries import expected_on
from datapipe.quality.sources import history_prefix
from offline_runtime.emulator.session import drain
from offline_runtime.scenario.project import observe_bus
from tests.handlers.direct import DirectHandler, direct_handler, sample

SAMPLE = "freshness_check_schedule.json"


@pytest.fixture(scope="module")
def checker(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "FreshnessCheckFunction") as handler:
        yield handler


Deliver = Callable[[str, str, date, int], None]


@pytest.fixture
def deliver(checker: DirectHandler) -> Iterator[Deliver]:
    """Writes published-history records, and removes them after the test: the handlers' stack is
    shared, and the enhanced validator's volume check reads the same history."""
    s3 = checker.stack.client("s3")
    bucket = checker.stack.outputs["CuratedBucketName"]
    written: list[str] = []

    def put(dataset: str, source: str, day: date, rows: int) -> None:
        key = f"{history_prefix(dataset, source)}{day.isoformat()}/run-freshness-test-{source}.json"
        record = {"sources": {source: {"rows": rows, "day": day.isoformat()}}}
        s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(record).encode())
        written.append(key)

    yield put
    for key in written:
        s3.delete_object(Bucket=bucket, Key=key)


def emf(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(metric, dimensions, value) of the EMF lines a run printed."""
    out = []
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                dims = {d: doc[d] for d in directive["Dimensions"][0]}
                raw = doc[metric["Name"]]
                out.append((metric["Name"], dims, float(sum(raw) if isinstance(raw, list) else raw)))
    return out


def test_one_store_missing_gives_one_dataset_late_naming_it(
    checker: DirectHandler, deliver: Deliver, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sample(checker.stack, SAMPLE)
    day = date(2026, 11, 22)  # the day before the sample's trigger time
    transactions = default_registry().get("transactions")
    for source, line in expected_on(transactions, day).items():
        if source != "S007":
            deliver("transactions", source, day, line.min_rows)
    inventory = default_registry().get("inventory_movements")
    for source in expected_on(inventory, day):
        deliver("inventory_movements", source, day, 100)
    bus = observe_bus(checker.stack, "direct-freshness")
    capsys.readouterr()
    result = checker(event)
    printed = capsys.readouterr().out
    late = [e for e in drain(checker.stack, bus) if e["detail-type"] == "DatasetLate"]
    assert result["late"] == {"transactions": 1}
    (only,) = late
    assert only["detail"]["dataset"] == "transactions" and only["detail"]["business_day"] == "2026-11-22"
    assert only["detail"]["late"] == [
        {"source": "S007", "reason": "not delivered", "rows": 0, "min_rows": 20}
    ]
    assert (
        only["detail"]["sources_expected"] == 61 and only["detail"]["due_at"] == "2026-11-23T06:00:00+00:00"
    )
    metrics = {
        (name, dims["dataset"]): value for name, dims, value in emf(printed) if name == "DeliveriesLate"
    }
    assert metrics == {
        ("DeliveriesLate", "transactions"): 1.0,
        ("DeliveriesLate", "inventory_movements"): 0.0,
    }
    assert {dims["service"] for _, dims, _ in emf(printed)} == {"freshness-check"}


def test_a_day_nobody_delivered_is_one_event_per_dataset_and_counts_every_source(
    checker: DirectHandler,
) -> None:
    event = {**sample(checker.stack, SAMPLE), "time": "2031-05-06T06:30:00Z"}
    bus = observe_bus(checker.stack, "direct-freshness-empty")
    result = checker(event)
    late = {
        e["detail"]["dataset"]: e["detail"]
        for e in drain(checker.stack, bus)
        if e["detail-type"] == "DatasetLate"
    }
    assert result["late"] == {"transactions": 61, "inventory_movements": 60}
    assert set(late) == {"transactions", "inventory_movements"}
    assert len(late["transactions"]["late"]) == 50 and late["transactions"]["late_not_listed"] == 11


def test_before_the_due_time_nothing_is_late(checker: DirectHandler) -> None:
    event = {**sample(checker.stack, SAMPLE), "time": "2031-06-07T05:59:00Z"}
    assert checker(event)["late"] == {}


def test_a_short_delivery_is_late_with_its_rows(checker: DirectHandler, deliver: Deliver) -> None:
    day = date(2031, 7, 1)
    transactions = default_registry().get("transactions")
    for source in expected_on(transactions, day):
        deliver("transactions", source, day, 3 if source == "online" else 25)
    bus = observe_bus(checker.stack, "direct-freshness-short")
    result = checker({**sample(checker.stack, SAMPLE), "time": "2031-07-02T06:30:00Z"})
    assert result["late"]["transactions"] == 1
    (event,) = [e for e in drain(checker.stack, bus) if e["detail"]["dataset"] == "transactions"]
    assert event["detail"]["late"] == [
        {"source": "online", "reason": "too few rows", "rows": 3, "min_rows": 50}
    ]
