"""functions/quarantine/app.py imported directly: a refused staged dataset moved beside its reason."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from tests.handlers.direct import DirectHandler, direct_handler, raw_sample, sample


@pytest.fixture(scope="module")
def quarantine(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "QuarantineFunction") as handler:
        yield handler


def test_gate_refusal_is_moved_with_its_decision(quarantine: DirectHandler) -> None:
    r = quarantine(sample(quarantine.stack, "quarantine_gate.json"))
    assert r["stage"] == "quality_gate" and r["reason_code"] == "QUALITY_BELOW_THRESHOLD"
    quality = raw_sample("quarantine_gate.json")["quality"]
    assert r["reason"].startswith(f"quality score {quality['score']:.3f}; ")
    assert all(name in r["reason"] for name in quality["failed_checks"])  # each shortfall named
    s3 = quarantine.stack.client("s3")
    prefix = r["quarantine"]["key"].rsplit("/", 1)[0]
    decision = json.loads(
        s3.get_object(Bucket=r["quarantine"]["bucket"], Key=f"{prefix}/decision.json")["Body"].read()
    )
    assert decision["reason_code"] == "QUALITY_BELOW_THRESHOLD" and decision["counts"]["rows_in"] == 40


def test_the_failure_path_reason_is_the_error_and_cause(quarantine: DirectHandler) -> None:
    event = copy.deepcopy(sample(quarantine.stack, "quarantine_gate.json"))
    event.update(stage="failure", reason_code="PIPELINE_ERROR", quality=None)
    event["error"] = {"Error": "SchemaEvolutionError", "Cause": "quantity_change: string in table"}
    r = quarantine(event)
    assert r["stage"] == "failure" and r["reason"] == "SchemaEvolutionError: quantity_change: string in table"


def test_input_without_a_reason_code_names_it(quarantine: DirectHandler) -> None:
    event = copy.deepcopy(sample(quarantine.stack, "quarantine_gate.json", prepare=False))
    del event["reason_code"]
    with pytest.raises(InvalidEvent) as err:
        quarantine(event)
    assert err.value.field == "reason_code"
