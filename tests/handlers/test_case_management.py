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

CASE = "CASE-T20261121S001000017"


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


def test_a_case_is_opened_on_the_stored_alerts_account(cases: DirectHandler) -> None:
    # GIVEN the sample notification (masked ids only) and its stored alert record; no case yet
    dynamodb = cases.stack.client("dynamodb")
    table = cases.stack.physical["FraudCasesTable"]
    dynamodb.delete_item(TableName=table, Key={"case_id": {"S": CASE}})
    bus = observe_bus(cases.stack, "direct-cases")
    event = notification(cases)
    # WHEN it arrives twice
    assert cases(event) == {"opened": [CASE]}
    assert cases(event) == {"opened": []}
    # THEN one case, on the account of the stored alert, announced once with the account masked
    case = dynamodb.get_item(TableName=table, Key={"case_id": {"S": CASE}})["Item"]
    assert case["account_id"] == {"S": "ACC000123"} and case["severity"] == {"S": "HIGH"}
    (opened,) = [e["detail"] for e in drain(cases.stack, bus) if e["detail-type"] == "FraudCaseOpened"]
    assert opened["account_id_masked"] == "*****0123" and "account_id" not in opened
    assert "ACC000123" not in cases.log_text


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
