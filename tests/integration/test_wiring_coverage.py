"""Every hop of the template (rule, subscription, queue, DLQ, event-source mapping) is named here
with the test in which something really travels through it; a hop added without one fails."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from offline_runtime.emulator.template import load_template, package, translate

ROOT = Path(__file__).resolve().parents[2]
HOP_TYPES = {
    "AWS::Events::Rule",
    "AWS::SNS::Subscription",
    "AWS::SQS::Queue",
    "AWS::Lambda::EventSourceMapping",
}

D = "tests.integration.test_wiring_delivery"
R = "tests.integration.test_redrive"
P = "tests.integration.test_wiring_parameters"
EOD = "tests.integration.test_end_of_day"
LOW_STOCK = (
    D,
    "test_low_stock_event_reaches_the_store_manager_in_the_template_wording_and_the_reorder_queue",
)
ASYNC_PARKS = (D, "test_an_asynchronous_function_that_keeps_failing_parks_the_event_in_its_queue")
ALARMS = (D, "test_alarm_notifications_page_only_when_critical_and_reach_the_ops_mailbox_always")
ANALYST = (D, "test_analyst_review_queue_parks_what_analysts_cannot_take_after_max_receives")

DELIVERY_TESTS: dict[str, tuple[str, str]] = {
    # rules
    "IngestFunctionRawObjectCreated": (
        R,
        "test_lambda_on_failure_record_is_replayed_to_its_function_once_and_only_after_acceptance",
    ),
    "PipelineStateMachineDatasetStaged": (
        R,
        "test_eventbridge_dead_letter_is_replayed_to_the_rule_target_and_a_lost_delete_does_not_double",
    ),
    "LowStockToReorderQueueRule": LOW_STOCK,
    "LowStockToStoreManagerRule": LOW_STOCK,
    "ApplyMovementsFunctionInventoryPublished": ASYNC_PARKS,
    "AuditTrailFunctionBusinessEvents": ASYNC_PARKS,
    "FraudScoringFunctionTransactionsPublished": ASYNC_PARKS,
    "FraudRealtimeFunctionTransactionReceived": (D, "test_transaction_received_rule_invokes_real_time_fraud"),
    "DailyReportFunctionDayClosed": (
        EOD,
        "test_the_daily_report_waits_for_end_of_day_and_is_issued_when_it_closes",
    ),
    "WeeklyReportFunctionDailyIssued": (
        EOD,
        "test_a_reissued_daily_report_retries_the_weekly_report_it_refused",
    ),
    "EndOfDayFunctionTransactionsPublished": (
        EOD,
        "test_a_late_file_restates_the_closed_days_and_reissues_the_report",
    ),
    "MonthlyReportFunctionReportIssued": (
        EOD,
        "test_an_issued_report_reaches_the_monthly_package_which_waits_for_its_scheduled_run",
    ),
    "FreshnessCheckFunctionAfterDueTime": (
        "tests.e2e.test_operations_day",
        "test_one_withheld_store_file_gives_exactly_one_dataset_late",
    ),
    # subscriptions
    "OpsAlertEmailSubscription": ALARMS,
    "OpsPagerSubscription": ALARMS,
    "StoreManagerEmailSubscription": LOW_STOCK,
    "PagerSubscription": (P, "test_severity_thresholds_decide_the_alert_severity_and_who_is_paged"),
    "FraudTeamEmailSubscription": (D, "test_transaction_received_rule_invokes_real_time_fraud"),
    "AnalystReviewSubscription": (
        "tests.integration.test_fraud_alert_routing",
        "test_analyst_queue_gets_high_and_above_as_raw_messages",
    ),
    "CaseManagementFunctionFraudAlerts": (
        "tests.integration.test_fraud_alert_routing",
        "test_case_management_opens_a_case_for_every_alert",
    ),
    # queues and their parking places
    "ReorderQueue": LOW_STOCK,
    "AnalystReviewQueue": ANALYST,
    "AnalystReviewDeadLetterQueue": ANALYST,
    "ReorderDeadLetterQueue": (R, "test_sqs_dead_letter_goes_back_to_its_source_queue_and_is_consumed"),
    "IngestDeadLetterQueue": (
        R,
        "test_lambda_on_failure_record_is_replayed_to_its_function_once_and_only_after_acceptance",
    ),
    "PipelineStartDeadLetterQueue": (
        R,
        "test_eventbridge_dead_letter_is_replayed_to_the_rule_target_and_a_lost_delete_does_not_double",
    ),
    "InventoryStreamFailureQueue": (
        "tests.integration.test_inventory_stream",
        "test_a_poison_record_neither_blocks_nor_loses_the_batch",
    ),
    "LowStockDeadLetterQueue": (
        D,
        "test_a_rule_target_that_keeps_refusing_parks_the_event_in_the_rule_dead_letter_queue",
    ),
    "FraudScoringDeadLetterQueue": ASYNC_PARKS,
    "FraudRealtimeDeadLetterQueue": ASYNC_PARKS,
    "ApplyMovementsDeadLetterQueue": ASYNC_PARKS,
    "AuditTrailDeadLetterQueue": ASYNC_PARKS,
    "CaseManagementDeadLetterQueue": ASYNC_PARKS,
    "BankingDeadLetterQueue": ASYNC_PARKS,
    "FreshnessCheckDeadLetterQueue": ASYNC_PARKS,
    # event-source mappings
    "InventoryMonitorFunctionInventoryStream": (
        "tests.integration.test_inventory_stream",
        "test_only_a_crossing_emits_and_a_restock_rearms",
    ),
    "PurchaseOrderFunctionReorderRequests": (
        R,
        "test_sqs_dead_letter_goes_back_to_its_source_queue_and_is_consumed",
    ),
}

# hops nothing can travel through offline, with the reason (README: "Parking places")
NOT_DELIVERABLE_OFFLINE = {
    "NotificationDeadLetterQueue": "e-mail and SMS deliveries never fail offline (the outbox takes "
    "every one); on AWS SNS parks them here after its delivery retries",
}


def hops() -> dict[str, str]:
    packaged = package(load_template(ROOT / "template.yaml"), ROOT)
    defaults = {k: str(v["Default"]) for k, v in packaged.template["Parameters"].items() if "Default" in v}
    translated = translate(packaged.template, defaults, "us-east-1")
    resources: dict[str, Any] = translated["Resources"]
    return {logical: res["Type"] for logical, res in resources.items() if res["Type"] in HOP_TYPES}


HOPS = hops()


def test_every_hop_has_a_delivery_test_or_a_stated_reason() -> None:
    assert set(DELIVERY_TESTS) | set(NOT_DELIVERABLE_OFFLINE) == set(HOPS)
    assert not set(DELIVERY_TESTS) & set(NOT_DELIVERABLE_OFFLINE)


@pytest.mark.parametrize("hop", sorted(DELIVERY_TESTS))
def test_the_named_delivery_test_exists_and_names_the_hop_when_parametrized(hop: str) -> None:
    module_name, function_name = DELIVERY_TESTS[hop]
    function = getattr(importlib.import_module(module_name), function_name)
    marks = [m for m in getattr(function, "pytestmark", []) if m.name == "parametrize"]
    if marks:  # one test for several hops: the hop is one of its cases
        cases = [case for m in marks for case in m.args[1]]
        named = any(hop in repr(case) or hop.startswith(str(case[0])) for case in cases)  # queue or function
        assert named, f"{function_name} has no case for {hop}"
