"""Fraud alerts through moto's SNS: which subscriber receives which severity (filter policies)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from datapipe.pii import mask_id
from offline_runtime.emulator.session import drain
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.project import observe_bus, offline_aws

ENDPOINTS = {"PagerPhoneNumber": "+15555550100", "FraudTeamEmail": "fraud-team@example.com"}
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
Routed = tuple[OfflineStack, dict[str, Any]]


def store_alert(stack: OfflineStack, i: int, severity: str) -> dict[str, Any]:
    """What fraud scoring does before publishing: the full alert record claimed in FraudAlerts;
    returns the message it publishes (masked ids only)."""
    record = {
        "transaction_id": f"T{i:05d}",
        "account_id": f"ACC{i:06d}",
        "card_id": f"CARD{i:06d}",
        "customer_id": f"CUS{i:06d}",
        "score": str(round(0.95 - 0.2 * i, 4)),
        "severity": severity,
        "rules": ["OUT_OF_STATE_HIGH_AMOUNT"],
        "reasons": ["test"],
    }
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical["FraudAlertsTable"])
    table.put_item(Item=record)
    return {
        "transaction_id": record["transaction_id"],
        "account_id_masked": mask_id(record["account_id"]),
        "card_id_masked": mask_id(record["card_id"]),
        "score": float(record["score"]),
        "severity": severity,
        "rules": record["rules"],
        "reasons": record["reasons"],
    }


def case_holding(stack: OfflineStack, transaction_id: str) -> dict[str, Any]:
    """The one case whose alerts include the transaction (cases are keyed by their subject)."""
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.physical["FraudCasesTable"])
    (case,) = [i for i in table.scan()["Items"] if transaction_id in i.get("alert_ids", set())]
    return dict(case)


@pytest.fixture(scope="module")
def routed() -> Iterator[tuple[OfflineStack, dict[str, Any]]]:
    with offline_aws(parameters=ENDPOINTS) as stack:
        bus_q = observe_bus(stack, "fraud-observer")
        sns = stack.client("sns")
        for i, severity in enumerate(SEVERITIES):
            alert = store_alert(stack, i, severity)
            sns.publish(
                TopicArn=stack.outputs["FraudAlertsTopicArn"],
                Message=json.dumps(alert),
                MessageAttributes={
                    "severity": {"DataType": "String", "StringValue": severity},
                    "account_type": {"DataType": "String", "StringValue": "credit"},
                },
            )
        stack.wait_idle(60)
        assert stack.sns is not None
        received = {
            "pager": [m.attributes["severity"]["Value"] for m in stack.sns.outbox if m.protocol == "sms"],
            "email": [m.attributes["severity"]["Value"] for m in stack.sns.outbox if m.protocol == "email"],
        }
        analyst = drain(stack, stack.outputs["AnalystReviewQueueUrl"])
        received["analyst"] = [m["severity"] for m in analyst]
        cases = [e["detail"] for e in drain(stack, bus_q) if e["detail-type"] == "FraudCaseOpened"]
        received["cases"] = [c["severity"] for c in cases]
        yield stack, received


def test_pager_gets_critical_and_high_only(routed: Routed) -> None:
    assert sorted(routed[1]["pager"]) == ["CRITICAL", "HIGH"]


def test_fraud_team_email_gets_medium_and_above(routed: Routed) -> None:
    assert sorted(routed[1]["email"]) == ["CRITICAL", "HIGH", "MEDIUM"]


def test_analyst_queue_gets_high_and_above_as_raw_messages(
    routed: tuple[OfflineStack, dict[str, Any]],
) -> None:
    assert sorted(routed[1]["analyst"]) == ["CRITICAL", "HIGH"]


def test_case_management_opens_a_case_for_every_alert(routed: Routed) -> None:
    assert sorted(routed[1]["cases"]) == sorted(SEVERITIES)


def test_medium_reaches_email_and_cases_not_pager_nor_analysts(
    routed: tuple[OfflineStack, dict[str, Any]],
) -> None:
    r = routed[1]
    assert "MEDIUM" in r["email"] and "MEDIUM" in r["cases"]
    assert "MEDIUM" not in r["pager"] and "MEDIUM" not in r["analyst"]


def test_case_severity_comes_from_the_real_message_attribute(
    routed: tuple[OfflineStack, dict[str, Any]],
) -> None:
    # The case function reads severity from MessageAttributes (AWS shape); moto alone would hand
    # it {"Test": ...} placeholders and the case would fail with a KeyError.
    stack, _ = routed
    case = case_holding(stack, "T00002")
    assert case["severity"] == "MEDIUM" and case["status"] == "OPEN"


def test_cases_are_about_the_stored_alerts_card_and_the_messages_never_a_raw_id(routed: Routed) -> None:
    # a case is about the stored alert's card, named by a one-way digest: no raw id in the case
    stack, _ = routed
    case = case_holding(stack, "T00001")
    digest = hashlib.sha256(b"card:CARD000001").hexdigest()[:20]
    assert case["subject"] == f"card:{digest}"
    assert not [i for i in ("ACC000001", "CARD000001", "CUS000001") if i in json.dumps(case, default=str)]
    assert stack.sns is not None
    delivered = " ".join(m.message for m in stack.sns.outbox)
    assert delivered and not [i for i in ("ACC000001", "CARD000001", "CUS000001") if i in delivered]


def test_a_redelivered_alert_does_not_open_a_second_case(routed: Routed) -> None:
    stack, _ = routed
    bus_q = observe_bus(stack, "fraud-observer-2")
    alert = {
        "transaction_id": "T00000",
        "score": 0.95,
        "severity": "CRITICAL",
        "rules": ["x"],
        "reasons": ["again"],
    }
    stack.client("sns").publish(
        TopicArn=stack.outputs["FraudAlertsTopicArn"],
        Message=json.dumps(alert),
        MessageAttributes={"severity": {"DataType": "String", "StringValue": "CRITICAL"}},
    )
    stack.wait_idle(60)
    assert [e for e in drain(stack, bus_q) if e["detail-type"] == "FraudCaseOpened"] == []
