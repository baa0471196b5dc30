"""functions/case_management/app.py imported directly: fraud alert notifications -> cases."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from offline_runtime.emulator.session import drain
from offline_runtime.scenario.project import observe_bus
from tests.handlers.direct import DirectHandler, direct_handler, sample

TRANSACTION = "T20261121S001000017"


@pytest.fixture(scope="module")
def cases(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "CaseManagementFunction") as handler:
        yield handler


def notification(cases: DirectHandler, message: Any = None, **sns: Any) -> dict[str, Any]:
    event = copy.deepcopy(sample(cases.stack, "case_management_fraud_alert_sns.json"))
    if message is not None:
        event["Records"][0]["Sns"]["Message"] = message if isinstance(message, str) else json.dumps(message)
    event["Records"][0]["Sns"].update(sns)
    return event


def clear_cases(cases: DirectHandler) -> None:
    dynamodb = cases.stack.client("dynamodb")
    table = cases.stack.physical["FraudCasesTable"]
    for item in dynamodb.scan(TableName=table)["Items"]:
        dynamodb.delete_item(TableName=table, Key={"case_id": item["case_id"]})


def test_a_case_is_opened_on_the_stored_alerts_card_and_announced_once(cases: DirectHandler) -> None:
    # GIVEN the sample notification (masked ids only) and its stored alert record; no case yet
    clear_cases(cases)
    dynamodb = cases.stack.client("dynamodb")
    table = cases.stack.physical["FraudCasesTable"]
    bus = observe_bus(cases.stack, "direct-cases")
    event = notification(cases)
    # WHEN it arrives twice
    first = cases(event)
    (case_id,) = first["opened"]
    assert cases(event) == {"opened": [], "cases": [case_id]}
    # THEN one case about the stored alert's card (a digest, never the id), holding the alert once
    case = dynamodb.get_item(TableName=table, Key={"case_id": {"S": case_id}})["Item"]
    assert case["severity"] == {"S": "HIGH"} and case["alert_ids"] == {"SS": [TRANSACTION]}
    assert case["alerts"] == {"N": "1"} and case["subject"]["S"].startswith("card:")
    assert case["announced"] == {"BOOL": True}
    # AND it is announced once, with the account masked
    (opened,) = [e["detail"] for e in drain(cases.stack, bus) if e["detail-type"] == "FraudCaseOpened"]
    assert opened["case_id"] == case_id and opened["transaction_id"] == TRANSACTION
    assert opened["account_id_masked"] == "*****0123" and "account_id" not in opened
    assert "ACC000123" not in cases.log_text + json.dumps(case) and "CARD000123" not in json.dumps(case)


def test_a_case_stored_but_not_announced_is_announced_by_the_retry(cases: DirectHandler) -> None:
    """Measured defect: PutEvents failing after the case is stored; the retry found the case and
    skipped the event (FraudCaseOpened lost)."""
    clear_cases(cases)
    bus = observe_bus(cases.stack, "direct-cases-retry")
    event = notification(cases)
    rule = cases.stack.faults.fail("events", "PutEvents", "InternalError", times=1)
    with pytest.raises(Exception, match="InternalError"):
        cases(event)
    assert rule.injected == 1
    assert not [e for e in drain(cases.stack, bus) if e["detail-type"] == "FraudCaseOpened"]
    retried = cases(event)
    (opened,) = [e["detail"] for e in drain(cases.stack, bus) if e["detail-type"] == "FraudCaseOpened"]
    assert retried["opened"] == [opened["case_id"]]
    assert cases(event)["opened"] == []  # and never twice


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ("this is not an alert", "Records[0].Sns.Message"),
        ({"alarm": "CPU above 80%"}, "Records[0].Sns.Message.transaction_id"),
        ({"transaction_id": ""}, "Records[0].Sns.Message.transaction_id"),
        ("[]", "Records[0].Sns.Message"),
    ],
)
def test_an_sns_message_that_is_not_an_alert_names_the_field(
    cases: DirectHandler, message: Any, field: str
) -> None:
    with pytest.raises(InvalidEvent) as err:
        cases(notification(cases, message))
    assert err.value.field == field
    (line,) = cases.logged("invalid event")
    assert line["field"] == field


def test_an_alert_without_its_severity_attribute_names_it(cases: DirectHandler) -> None:
    with pytest.raises(InvalidEvent) as err:
        cases(notification(cases, MessageAttributes={"account_type": {"Type": "String", "Value": "credit"}}))
    assert err.value.field == "Records[0].Sns.MessageAttributes.severity"


def test_an_alert_for_a_transaction_never_alerted_is_refused(cases: DirectHandler) -> None:
    with pytest.raises(LookupError, match="no stored alert for transaction T-NEVER"):
        cases(notification(cases, {"transaction_id": "T-NEVER"}))


def test_an_sqs_event_is_not_an_sns_notification(cases: DirectHandler) -> None:
    event = sample(cases.stack, "purchase_orders_reorder_request.json", prepare=False)
    with pytest.raises(InvalidEvent) as err:
        cases(event)
    assert err.value.field.startswith("Records[0]")
