"""Thresholds are deployment parameters: a stricter deployment quarantines what dev publishes."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from offline_runtime.emulator.session import state_path
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario import datagen
from offline_runtime.scenario.project import offline_aws


@pytest.fixture(scope="module")
def strict_stack() -> Iterator[OfflineStack]:
    with offline_aws(parameters={"PublishThreshold": "1.0", "EnhancedThreshold": "0.9999"}) as st:
        yield st


def test_score_below_the_enhanced_threshold_is_quarantined(strict_stack: OfflineStack) -> None:
    day = datetime.now(UTC).date() - timedelta(days=1)
    rng = random.Random(11)
    body, bad = datagen.transactions_csv("S201", "CA", day, 500, datagen._accounts(rng, 200), rng, 0.02)
    assert bad > 0
    strict_stack.client("s3").put_object(
        Bucket=strict_stack.outputs["RawBucketName"], Key=f"transactions/{day}/pos-S201.csv", Body=body
    )
    strict_stack.wait_idle(120)
    sfn = strict_stack.client("stepfunctions")
    (execution,) = sfn.list_executions(stateMachineArn=strict_stack.outputs["PipelineStateMachineArn"])[
        "executions"
    ]
    desc = sfn.describe_execution(executionArn=execution["executionArn"])
    states = state_path(desc["executionArn"], strict_stack)
    assert "BelowThreshold" in states and states[-1] == "Quarantined"
    out = json.loads(desc["output"])
    assert out["thresholds"] == {"publish": 1.0, "enhanced": 0.9999}
    assert 0.9 < out["final"]["assessment"]["score"] < 0.9999
