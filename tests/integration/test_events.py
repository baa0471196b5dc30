"""Every file in events/ runs through the offline runtime, as `sam local invoke -e` would use it."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from datapipe.fraud import SEVERITIES, FraudPolicy, score_records_python, severity
from offline_runtime.emulator.session import (
    disable_rules,
    drain,
    invoke,
    localise,
    run_state_machine,
    state_path,
)
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario import fixtures
from offline_runtime.scenario.project import observe_bus

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
        "end_of_day_schedule.json",
        "end_of_day_manual_restate.json",
        "monthly_report_schedule.json",
        "monthly_report_deadline_schedule.json",
        "freshness_check_schedule.json",
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
    assert r["suite"] == suite
    checks = {c["name"]: c for c in r["checks"]}
    # the scores the captured run of the sample produced (validators_final.json holds them)
    final = _sample("validators_final.json")
    captured = {
        p["suite"]: {c["name"]: (c["score"], c["passed"]) for c in p["checks"]}
        for p in [final["schema_result"], *final["parallel"]]
    }
    counts = _sample("validators_suite.json")["staged"]["counts"]
    expected = {
        "schema": {"schema": (1.0, True), **captured["schema"]},
        "content": captured["content"],
        "business": captured["business"],
        "enhanced": {"volume": (1.0, True), "distribution": (1.0, True)},  # first load: no baseline
    }[suite]
    if suite == "content":
        assert expected["validity"][0] == pytest.approx(counts["rows_valid"] / counts["rows_in"])
    assert set(expected) <= set(checks), checks
    for name, (score, passed) in expected.items():
        assert checks[name]["score"] == pytest.approx(score), name
        assert checks[name]["passed"] is passed, name


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
    bus = observe_bus(quiet_stack, "events-po-observer")
    table = quiet_stack.client("dynamodb")
    key = {"po_id": {"S": "PO-3f2a9c1e5b7d4a6f8e0c1b2a"}}
    orders = quiet_stack.physical["PurchaseOrdersTable"]
    # GIVEN the stock record the request is about (an order adds to its on_order in one transaction),
    # removed afterwards: the other samples run on an account without stock master data
    item = {"store_id": {"S": "S001"}, "product_id": {"S": "P0001"}}
    inventory = quiet_stack.physical["InventoryTable"]
    table.put_item(TableName=inventory, Item={**item, "on_hand": {"N": "17"}})
    try:
        assert run(quiet_stack, "PurchaseOrderFunction", "purchase_orders_reorder_request.json") == {
            "batchItemFailures": []
        }
        stock = table.get_item(TableName=inventory, Key=item, ConsistentRead=True)["Item"]
    finally:
        table.delete_item(TableName=inventory, Key=item)
    first = table.get_item(TableName=orders, Key=key)["Item"]
    assert stock["on_order"] == first["quantity"]  # the order is on order
    assert first["status"] == {"S": "SENT"}
    assert {k: first[k] for k in ("crossing_id", "store_id", "product_id", "on_hand_at_detection")} == {
        "crossing_id": {"S": "3f2a9c1e5b7d4a6f8e0c1b2a"},
        "store_id": {"S": "S001"},
        "product_id": {"S": "P0001"},
        "on_hand_at_detection": {"N": "17"},
    }
    # the same request delivered again: answered, but no second order and no second announcement
    assert run(quiet_stack, "PurchaseOrderFunction", "purchase_orders_reorder_request.json") == {
        "batchItemFailures": []
    }
    assert table.get_item(TableName=orders, Key=key)["Item"]["created_at"] == first["created_at"]
    created = [e for e in drain(quiet_stack, bus) if e["detail-type"] == "PurchaseOrderCreated"]
    assert [e["detail"]["po_id"] for e in created] == ["PO-3f2a9c1e5b7d4a6f8e0c1b2a"]


def test_audit_trail(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "AuditTrailFunction", "audit_trail_low_stock_event.json")
    assert r["key"].startswith("audit/detail_type=LowStockDetected/event_date=2026-11-22/")


def test_fraud_scoring(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "FraudScoringFunction", "fraud_scoring_dataset_published.json")
    assert (
        r["transactions_scored"]
        == _sample("fraud_scoring_dataset_published.json")["detail"]["rows_published"]
    )
    # the per-record Python scorer (an independent implementation) over the same staged rows
    event = localise(quiet_stack, json.loads((EVENTS / "fraud_scoring_dataset_published.json").read_text()))
    staged = event["detail"]["staged"]
    body = quiet_stack.client("s3").get_object(Bucket=staged["bucket"], Key=staged["key"])["Body"].read()
    records = pq.read_table(io.BytesIO(body)).to_pylist()
    params = quiet_stack.params
    policy = FraudPolicy(
        critical=float(params["CriticalSeverityThreshold"]),
        high=float(params["HighSeverityThreshold"]),
        medium=float(params["MediumSeverityThreshold"]),
    )
    flagged = Counter(severity(s, policy) for s in score_records_python(records, policy) if s > 0)
    assert r["scored_by_severity"] == {name: flagged.get(name, 0) for name in SEVERITIES}
    alerting = SEVERITIES[SEVERITIES.index(quiet_stack.params["FraudAlertMinSeverity"]) :]
    assert r["alerts"] == sum(flagged[name] for name in alerting) > 0
    assert r["published"] + r["already_alerted"] == r["alerts"]


def test_fraud_realtime(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "FraudRealtimeFunction", "fraud_realtime_transaction_received.json")
    assert r["alert"]["severity"] == "HIGH" and r["alert"]["rules"] == ["OUT_OF_STATE_HIGH_AMOUNT"]


def test_case_management(quiet_stack: OfflineStack) -> None:
    # GIVEN no case yet (fraud scoring may have opened one through SNS)
    dynamodb = quiet_stack.client("dynamodb")
    cases = quiet_stack.physical["FraudCasesTable"]
    for item in dynamodb.scan(TableName=cases)["Items"]:
        dynamodb.delete_item(TableName=cases, Key={"case_id": item["case_id"]})
    # WHEN the sample notification arrives, and again
    r = run(quiet_stack, "CaseManagementFunction", "case_management_fraud_alert_sns.json")
    again = run(quiet_stack, "CaseManagementFunction", "case_management_fraud_alert_sns.json")
    # THEN one case, about the stored alert's card (the message has no raw id), holding it once
    (case_id,) = r["opened"]
    assert again == {"opened": [], "cases": [case_id]}
    case = dynamodb.get_item(TableName=cases, Key={"case_id": {"S": case_id}})["Item"]
    assert case["alert_ids"] == {"SS": ["T20261121S001000017"]} and case["severity"] == {"S": "HIGH"}
    assert case["subject"]["S"].startswith("card:") and "ACC000123" not in json.dumps(case)


def test_freshness_check(quiet_stack: OfflineStack) -> None:
    # the sample's stack has published at most a sample file of one store: both calendars are late
    r = run(quiet_stack, "FreshnessCheckFunction", "freshness_check_schedule.json")
    assert r["business_day"] == "2026-11-22" and r["checked"] == ["inventory_movements", "transactions"]
    assert set(r["late"]) == {"inventory_movements", "transactions"} and r["late"]["transactions"] >= 60


def test_end_of_day_without_its_inputs_is_blocked(quiet_stack: OfflineStack) -> None:
    # the scheduled run of 2026-11-23 00:00 UTC closes 2026-11-22; nothing of the day has arrived
    r = run(quiet_stack, "EndOfDayFunction", "end_of_day_schedule.json")
    assert r["status"] == "BLOCKED" and r["business_date"] == "2026-11-22" and r["final"] is False
    assert {m["kind"] for m in r["missing"]} >= {"account_master", "interest_rates", "transactions"}


def test_end_of_day_restatement_of_a_day_never_closed_is_nothing_to_do(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "EndOfDayFunction", "end_of_day_manual_restate.json")
    assert r == {"status": "NOTHING_TO_RESTATE", "business_date": "2026-11-22"}


def test_daily_report_waits_for_end_of_day(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "DailyReportFunction", "daily_report_schedule.json")
    assert r["status"] == "BLOCKED" and r["period"] == "2026-11-22"
    assert r["reason"] == "end of day 2026-11-22 is not closed"


def test_weekly_report_without_its_dailies_is_blocked(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "WeeklyReportFunction", "weekly_report_schedule.json")
    # Sunday 2026-11-29 02:00: the week Sunday 22 .. Saturday 28 November
    assert r["status"] == "BLOCKED" and r["period"] == "2026-11-28"
    assert r["missing"] == [f"daily#2026-11-{d}" for d in range(22, 29)]


def test_monthly_report_without_its_dailies_is_blocked(quiet_stack: OfflineStack) -> None:
    r = run(quiet_stack, "MonthlyReportFunction", "monthly_report_schedule.json")
    assert r["status"] == "BLOCKED" and r["period"] == "2026-11" and r["deadline"] == "2026-12-07"
    assert len(r["missing"]) == 30 + 4  # 30 dailies, the weeks ending 7, 14, 21, 28 November


def test_monthly_deadline_on_the_fifth_business_day_is_overdue(quiet_stack: OfflineStack) -> None:
    # December 2026 (US-FRB): Tue 1, Wed 2, Thu 3, Fri 4, Mon 7 -> due on the 7th
    r = run(quiet_stack, "MonthlyReportDeadlineFunction", "monthly_report_deadline_schedule.json")
    assert (r["status"], r["period"], r["deadline"]) == ("OVERDUE", "2026-11", "2026-12-07")
