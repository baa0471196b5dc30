"""functions/validators/app.py: the five validator functions, imported directly, one module each."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from tests.handlers.direct import (
    DirectHandler,
    captured_checks,
    direct_handler,
    eventbridge,
    raw_sample,
    sample,
)

SUITES = {
    "SchemaValidatorFunction": "schema",
    "ContentValidatorFunction": "content",
    "BusinessValidatorFunction": "business",
    "EnhancedValidatorFunction": "enhanced",
}


@pytest.fixture(scope="module", params=sorted(SUITES))
def suite(request: pytest.FixtureRequest, handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, request.param) as handler:
        yield handler


@pytest.fixture(scope="module")
def final(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "FinalValidatorFunction") as handler:
        yield handler


def test_each_suite_scores_the_sample_dataset(suite: DirectHandler) -> None:
    r = suite(sample(suite.stack, "validators_suite.json"))
    name = SUITES[suite.logical_id]
    assert r["suite"] == name
    checks = {c["name"]: c for c in r["checks"]}
    counts = raw_sample("validators_suite.json")["staged"]["counts"]
    expected = {
        "schema": {"schema": 1.0},
        # the same scores the real run of the sample produced, and validity as its counts say
        "content": {**captured_checks("content"), "validity": counts["rows_valid"] / counts["rows_in"]},
        "business": captured_checks("business"),
        "enhanced": {"volume": 1.0},  # no history in this account: nothing to compare with
    }[name]
    assert expected
    assert {k: checks[k]["score"] for k in expected} == pytest.approx(expected)
    (line,) = suite.logged(f"{name} checks")
    assert line["result"]["suite"] == name


def test_a_dataset_staged_event_is_not_a_task_input(suite: DirectHandler) -> None:
    # GIVEN the EventBridge event itself instead of the state machine's task input
    staged = sample(suite.stack, "validators_suite.json", prepare=False)["staged"]
    with pytest.raises(InvalidEvent) as err:
        suite(eventbridge("DatasetStaged", "retail.datapipe", staged))
    assert err.value.field == "staged" and "Field required" in str(err.value)


def test_counts_that_do_not_add_up_are_refused(suite: DirectHandler) -> None:
    event = copy.deepcopy(sample(suite.stack, "validators_suite.json", prepare=False))
    event["staged"]["counts"]["rows_valid"] += 1
    with pytest.raises(InvalidEvent) as err:
        suite(event)
    assert err.value.field == "staged.counts" and "rows_in" in str(err.value)


def test_final_assessment_of_the_sample(final: DirectHandler) -> None:
    r = final(sample(final.stack, "validators_final.json"))
    given = raw_sample("validators_final.json")
    checks = [c for p in [given["schema_result"], *given["parallel"]] for c in p["checks"]]
    assert r["failed_checks"] == [c["name"] for c in checks if not c["passed"]]  # what fell short, by name
    assert r["critical_failed"] is any(c["veto"] for c in checks)
    assert min(c["score"] for c in checks) <= r["score"] <= max(c["score"] for c in checks)


def test_final_without_the_parallel_results_names_them(final: DirectHandler) -> None:
    event = copy.deepcopy(sample(final.stack, "validators_final.json", prepare=False))
    del event["parallel"]
    with pytest.raises(InvalidEvent) as err:
        final(event)
    assert err.value.field == "parallel"
