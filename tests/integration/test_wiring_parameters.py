"""Parameters proven by delivery: the fraud severity thresholds and minimum severity, and the
conditional subscriptions, each on a deployment of its own (the sample card authorisation scores
HIGH with the default thresholds: tests/integration/test_events.py)."""

from __future__ import annotations

import json
from typing import Any

from offline_runtime.emulator.session import drain, localise, observe_topic
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.project import EVENTS, offline_aws

SAMPLE = EVENTS / "fraud_realtime_transaction_received.json"


def authorise(stack: OfflineStack) -> list[dict[str, Any]]:
    """The sample authorisation put on the bus as the payments source does; the alerts the fraud
    topic carried (an unfiltered observer)."""
    observer = observe_topic(stack, stack.outputs["FraudAlertsTopicArn"], "fraud-topic-observer")
    event = localise(stack, json.loads(SAMPLE.read_text()))
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.outputs["PipelineBusName"],
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
            }
        ]
    )
    stack.wait_idle()
    runs = [i for i in stack.lambdas.invocations if i.logical_id == "FraudRealtimeFunction"]
    assert len(runs) == 1 and not runs[0].errored
    return drain(stack, observer)


def protocols(stack: OfflineStack, topic_output: str) -> list[str]:
    subs = stack.client("sns").list_subscriptions_by_topic(TopicArn=stack.outputs[topic_output])[
        "Subscriptions"
    ]
    return sorted(s["Protocol"] for s in subs)


def test_severity_thresholds_decide_the_alert_severity_and_who_is_paged() -> None:
    lowered = {
        "CriticalSeverityThreshold": "0.6",
        "HighSeverityThreshold": "0.4",
        "MediumSeverityThreshold": "0.2",
        "PagerPhoneNumber": "+15555550100",  # the only endpoint given: no e-mail subscription exists
    }
    with offline_aws(parameters=lowered) as stack:
        assert protocols(stack, "FraudAlertsTopicArn") == ["lambda", "sms", "sqs"]
        assert protocols(stack, "OpsTopicArn") == [] and protocols(stack, "StoreManagerTopicArn") == []
        (alert,) = authorise(stack)
        # the score that is HIGH by default is CRITICAL under these thresholds
        assert alert["MessageAttributes"]["severity"]["Value"] == "CRITICAL"
        assert json.loads(alert["Message"])["severity"] == "CRITICAL"
        assert stack.sns is not None
        assert [(m.protocol, m.attributes["severity"]["Value"]) for m in stack.sns.outbox] == [
            ("sms", "CRITICAL")
        ]
        (analyst,) = drain(stack, stack.outputs["AnalystReviewQueueUrl"])
        assert analyst["severity"] == "CRITICAL"


def test_minimum_severity_keeps_weaker_alerts_off_the_fraud_topic() -> None:
    with offline_aws(parameters={"FraudAlertMinSeverity": "CRITICAL"}) as stack:
        assert protocols(stack, "FraudAlertsTopicArn") == ["lambda", "sqs"]  # no pager, no e-mail
        assert authorise(stack) == []  # the HIGH alert is scored but not published
        assert drain(stack, stack.outputs["AnalystReviewQueueUrl"]) == []
        cases = stack.client("dynamodb").scan(TableName=stack.physical["FraudCasesTable"])["Items"]
        assert cases == []
