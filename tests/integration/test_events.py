"""Every file in events/ runs through the offline runtime, as `sam local invoke -e` would use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from offline_runtime.emulator.session import disable_rules, invoke, localise, run_state_machine, state_path
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario import fixtures

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture(scope="module")
def quiet_stack(stack: OfflineStack) -> OfflineStack:
    disable_rules(stack)
    return stack


def run(stack: OfflineStack, fn: str, name: str) -> dict:
    event = localise(stack, json.loads((EVENTS / name).read_text()))
    fixtures.prepare_event(stack, event)
    result, errored, logs = invoke(stack, fn, event)
    assert not errored, logs
    return result


def test_every_event_file_is_covered() -> None:
    covered = {
        "apply_movements_dataset_published.json",
        "fraud_scoring_dataset_published.json",
        "inventory_monitor_stream_records.json",
        "purchase_orders_reorder_request.json",
        "audit_trail_low_stock_event.json",
        "case_management_fraud_alert_sns.json",
        "fraud_realtime_transaction_received.json",
        "daily_report_schedule.json",
        "weekly_report_schedule.json",
        "ingest_transactions_csv.json",
        "ingest_inventory_csv.json",
        "ingest_broken_gzip.json",
        "validators_suite.json",
        "validators_final.json",
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
    r = run(quiet_stack, fn, "validators_suite.json")
    assert r["suite"] == suite and r["checks"]
    assert all(0.0 <= c["score"] <= 1.0 for c in r["checks"])


def _sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text())


def test_final_validation(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "FinalValidatorFunction", "validators_final.json")
    scores = {
        c["name"]: c["score"]
        for p in [
            _sample("validators_final.json")["schema_result"],
            *_sample("validators_final.json")["parallel"],
        ]
        for c in p["checks"]
    }
    assert {c["name"]: c["score"] for c in r["checks"]} == scores  # every check of the input, assessed
    assert 0.0 <= r["score"] <= 1.0 and min(scores.values()) <= r["score"] <= max(scores.values())


def test_publish(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "PublishFunction", "publish.json")
    staged = _sample("publish.json")["staged"]
    day = staged["source"]["key"].split("/")[1]
    assert r["table"] == "transactions" and r["partitions"] == [f"event_date={day}"]
    assert r["rows_published"] == staged["counts"]["rows_valid"]


def test_quarantine(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "QuarantineFunction", "quarantine_gate.json")
    assert r["stage"] == "quality_gate" and r["reason_code"] == "QUALITY_BELOW_THRESHOLD"
    quality = _sample("quarantine_gate.json")["quality"]
    assert f"quality score {quality['score']:.3f}" in r["reason"]
    assert all(name in r["reason"] for name in quality["failed_checks"])  # the reason names what failed


def test_state_machine_input(quiet_stack: OfflineStack) -> None:
    event = localise(quiet_stack, json.loads((EVENTS / "statemachine_dataset_staged.json").read_text()))
    fixtures.prepare_event(quiet_stack, event)
    desc = run_state_machine(quiet_stack, "PipelineStateMachine", event)
    assert desc["status"] == "SUCCEEDED"
    assert state_path(desc["executionArn"], quiet_stack)[-2:] == ["EmitPublished", "Published"]


def test_apply_movements(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "ApplyMovementsFunction", "apply_movements_dataset_published.json")
    # no stock master data in this account: every movement is reported as an unknown item
    published = _sample("apply_movements_dataset_published.json")["detail"]["rows_published"]
    assert r["movements"] == published and r["unknown"] == published and r["applied"] == 0
    assert r["unknown_report"]["key"].startswith("inventory/unknown_items/")


def test_inventory_monitor_emits_only_the_crossing(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "InventoryMonitorFunction", "inventory_monitor_stream_records.json")
    assert r == {"batchItemFailures": []}
    monitor = [i for i in quiet_stack.lambdas.invocations if i.logical_id == "InventoryMonitorFunction"][-1]
    assert monitor.logs.count('"message":"low stock"') == 1 and '"on_hand":17' in monitor.logs


def test_purchase_order_from_a_reorder_request(quiet_stack: OfflineStack) -> None:
    assert run(quiet_stack, "PurchaseOrderFunction", "purchase_orders_reorder_request.json") == {
        "batchItemFailures": []
    }
    table = quiet_stack.client("dynamodb")
    item = table.get_item(
        TableName=quiet_stack.physical["PurchaseOrdersTable"],
        Key={"po_id": {"S": "PO-3f2a9c1e5b7d4a6f8e0c1b2a"}},
    )["Item"]
    assert item["quantity"] == {"N": "48"}
    assert run(quiet_stack, "PurchaseOrderFunction", "purchase_orders_reorder_request.json") == {
        "batchItemFailures": []
    }


def test_audit_trail(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "AuditTrailFunction", "audit_trail_low_stock_event.json")
    assert r["key"].startswith("audit/detail_type=LowStockDetected/event_date=2026-11-22/")


def test_fraud_scoring(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "FraudScoringFunction", "fraud_scoring_dataset_published.json")
    published = _sample("fraud_scoring_dataset_published.json")["detail"]
    assert r["transactions_scored"] == published["rows_published"]
    assert sum(r["scored_by_severity"].values()) >= r["alerts"]


def test_fraud_realtime(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "FraudRealtimeFunction", "fraud_realtime_transaction_received.json")
    assert r["alert"]["severity"] == "HIGH" and r["alert"]["rules"] == ["OUT_OF_STATE_HIGH_AMOUNT"]


def test_case_management(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "CaseManagementFunction", "case_management_fraud_alert_sns.json")
    assert r == {"opened": ["CASE-T20261121S001000017"]}


def test_daily_report(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "DailyReportFunction", "daily_report_schedule.json")
    assert r["report_date"] == "2026-11-22" and r["location"]["prefix"].startswith("reports/daily/")


def test_weekly_report_without_its_dailies_is_blocked(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "WeeklyReportFunction", "weekly_report_schedule.json")
    assert r["status"] == "BLOCKED" and len(r["missing_daily_reports"]) == 6  # 2026-11-22 exists now
