"""Thresholds are deployment parameters, and the gate's operators are pinned at them exactly.

One stack deployed with PublishThreshold = 1.0 and EnhancedThreshold = 10/11.5 (rounded as the
final validator rounds scores): a clean fresh file scores exactly 1.0 and must publish (>=); a
clean but stale file scores exactly 10/11.5 (freshness, weight 1.5 of 11.5, is 0) and must go
to enhanced validation (>=); a stale file with a few bad rows falls just under and is quarantined.
The Choice rules are also evaluated directly from the ASL at, below and above each threshold.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from offline_runtime.emulator.session import state_path
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario import datagen
from offline_runtime.scenario.project import offline_aws

STALE_CLEAN_SCORE = round(10 / 11.5, 6)  # 0.869565
ASL = json.loads((Path(__file__).parents[2] / "statemachine" / "pipeline.asl.json").read_text())


@pytest.fixture(scope="module")
def exact_stack() -> Iterator[OfflineStack]:
    with offline_aws(
        parameters={"PublishThreshold": "1.0", "EnhancedThreshold": str(STALE_CLEAN_SCORE)}
    ) as st:
        yield st


def run(
    stack: OfflineStack, store: str, day: Any, bad_rate: float, seed: int
) -> tuple[list[str], dict[str, Any]]:
    rng = random.Random(seed)
    body, _ = datagen.transactions_csv(store, "CA", day, 400, datagen._accounts(rng, 200), rng, bad_rate)
    sfn = stack.client("stepfunctions")
    arn = stack.outputs["PipelineStateMachineArn"]
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]}
    key = f"transactions/{datetime.now(UTC).date()}/pos-{store}.csv"
    stack.client("s3").put_object(Bucket=stack.outputs["RawBucketName"], Key=key, Body=body)
    stack.wait_idle(120)
    (new,) = [
        e for e in sfn.list_executions(stateMachineArn=arn)["executions"] if e["executionArn"] not in before
    ]
    desc = sfn.describe_execution(executionArn=new["executionArn"])
    return state_path(desc["executionArn"], stack), json.loads(desc["output"])


def test_score_exactly_at_the_publish_threshold_is_published(exact_stack: OfflineStack) -> None:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    states, out = run(exact_stack, "S201", yesterday, 0.0, 1)
    assert out["thresholds"] == {"publish": 1.0, "enhanced": STALE_CLEAN_SCORE}
    assert out["final"]["assessment"]["score"] == 1.0
    assert "PublishDataset" in states and "EnhancedValidation" not in states


def test_score_exactly_at_the_enhanced_threshold_goes_to_enhanced_validation(
    exact_stack: OfflineStack,
) -> None:
    stale = datetime.now(UTC).date() - timedelta(days=6)
    states, out = run(exact_stack, "S202", stale, 0.0, 2)
    assert out["final"]["assessment"]["score"] == STALE_CLEAN_SCORE
    assert "EnhancedValidation" in states and states[-1] == "Published"


def test_score_just_below_the_enhanced_threshold_is_quarantined(exact_stack: OfflineStack) -> None:
    stale = datetime.now(UTC).date() - timedelta(days=6)
    states, out = run(exact_stack, "S203", stale, 0.02, 3)
    assessment = out["final"]["assessment"]
    assert assessment["all_passed"] and assessment["score"] < STALE_CLEAN_SCORE
    assert "BelowThreshold" in states and states[-1] == "Quarantined"


# ------------------------------------------------------------------ the Choice rules themselves


def _path(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.removeprefix("$.").split("."):
        value = value[part]
    return value


def choose(state: dict[str, Any], doc: dict[str, Any]) -> str:
    """AWS Choice semantics for the comparison operators the gate uses."""
    ops = {
        "BooleanEquals": lambda a, b: a is b,
        "NumericGreaterThanEqualsPath": lambda a, b: a >= b,
        "NumericGreaterThanPath": lambda a, b: a > b,
        "NumericLessThanPath": lambda a, b: a < b,
        "NumericLessThanEqualsPath": lambda a, b: a <= b,
    }
    for rule in state["Choices"]:
        (op,) = [k for k in rule if k not in ("Variable", "Next")]
        other = rule[op]
        if op.endswith("Path"):
            other = _path(doc, other)
        if ops[op](_path(doc, rule["Variable"]), other):
            return str(rule["Next"])
    return str(state["Default"])


@pytest.mark.parametrize(
    ("score", "critical", "all_passed", "expected"),
    [
        (0.9, False, True, "PublishDataset"),
        (0.899999, False, True, "EnhancedValidation"),
        (0.900001, False, True, "PublishDataset"),
        (0.75, False, True, "EnhancedValidation"),
        (0.749999, False, True, "BelowThreshold"),
        (1.0, False, False, "CheckBelowMinimum"),
        (1.0, True, True, "CriticalCheckFailed"),
        (1.0, True, False, "CriticalCheckFailed"),
    ],
)
def test_quality_gate_choice_rules(score: float, critical: bool, all_passed: bool, expected: str) -> None:
    doc = {
        "final": {"assessment": {"score": score, "critical_failed": critical, "all_passed": all_passed}},
        "thresholds": {"publish": 0.9, "enhanced": 0.75},
    }
    assert choose(ASL["States"]["QualityGate"], doc) == expected


@pytest.mark.parametrize(("passed", "expected"), [(True, "PublishDataset"), (False, "EnhancedRejected")])
def test_enhanced_gate_choice_rule(passed: bool, expected: str) -> None:
    doc = {"enhanced": {"history": {"enhanced": {"passed": passed}}}}
    assert choose(ASL["States"]["EnhancedGate"], doc) == expected


def test_thresholds_come_from_the_template_parameters() -> None:
    init = ASL["States"]["Init"]["Parameters"]["thresholds"]
    assert init == {
        "publish.$": "States.StringToJson('${PublishThreshold}')",
        "enhanced.$": "States.StringToJson('${EnhancedThreshold}')",
    }
