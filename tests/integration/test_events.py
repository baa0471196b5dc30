"""Every file in events/ runs through the offline runtime, as `sam local invoke -e` would use it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline_runtime import fixtures
from offline_runtime.session import disable_rules, invoke, localise, run_state_machine, state_path
from offline_runtime.stack import OfflineStack

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture(scope="module")
def quiet_stack(stack: OfflineStack) -> OfflineStack:
    disable_rules(stack)
    return stack


def run(stack: OfflineStack, fn: str, name: str) -> dict:
    event = localise(stack, json.loads((EVENTS / name).read_text()))
    fixtures.prepare(stack, event)
    result, errored, logs = invoke(stack, fn, event)
    assert not errored, logs
    return result


def test_every_event_file_is_covered() -> None:
    covered = {
        "ingest_transactions_csv.json",
        "ingest_inventory_csv.json",
        "ingest_broken_gzip.json",
        "validate_suite.json",
        "validate_final.json",
        "publish.json",
        "quarantine_gate.json",
        "statemachine_dataset_staged.json",
    }
    assert {p.name for p in EVENTS.glob("*.json")} == covered


def test_ingest_transactions(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "IngestFunction", "ingest_transactions_csv.json")
    assert r["status"] == "STAGED" and r["rows_in"] == 40
    assert r["rows_in"] == r["rows_valid"] + r["rows_rejected"] and r["rows_rejected"] > 0


def test_ingest_inventory(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "IngestFunction", "ingest_inventory_csv.json")
    assert r["dataset"] == "inventory_movements" and r["status"] == "STAGED"


def test_ingest_broken_gzip_quarantines_the_file(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "IngestFunction", "ingest_broken_gzip.json")
    assert r["status"] == "FILE_QUARANTINED" and r["reason_code"] == "MALFORMED_GZIP"
    s3 = quiet_stack.client("s3")
    s3.head_object(Bucket=r["quarantine"]["bucket"], Key=r["quarantine"]["key"])


@pytest.mark.parametrize(
    "fn,suite",
    [
        ("SchemaValidatorFunction", "schema"),
        ("ContentValidatorFunction", "content"),
        ("BusinessValidatorFunction", "business"),
        ("EnhancedValidatorFunction", "enhanced"),
    ],
)
def test_validators(quiet_stack: OfflineStack, fn: str, suite: str) -> None:
    r = run(quiet_stack, fn, "validate_suite.json")
    assert r["suite"] == suite and r["checks"]
    assert all(0.0 <= c["score"] <= 1.0 for c in r["checks"])


def test_final_validation(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "FinalValidatorFunction", "validate_final.json")
    assert 0.9 < r["score"] <= 1.0 and r["critical_failed"] is False


def test_publish(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "PublishFunction", "publish.json")
    assert r["table"] == "transactions" and r["partitions"] == ["event_date=2026-11-21"]
    assert r["rows_published"] == 37


def test_quarantine(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "QuarantineFunction", "quarantine_gate.json")
    assert r["stage"] == "quality_gate" and r["reason_code"] == "QUALITY_BELOW_THRESHOLD"
    assert "validity" in r["reason"]


def test_state_machine_input(quiet_stack: OfflineStack) -> None:
    event = localise(quiet_stack, json.loads((EVENTS / "statemachine_dataset_staged.json").read_text()))
    fixtures.prepare(quiet_stack, event)
    desc = run_state_machine(quiet_stack, "PipelineStateMachine", event)
    assert desc["status"] == "SUCCEEDED"
    assert state_path(desc["executionArn"], quiet_stack)[-2:] == ["EmitPublished", "Published"]
