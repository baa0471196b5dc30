"""Wiring proven by delivery: something really travels through each rule, subscription, queue, DLQ
and failure path of the template on the offline stack (issue 8 part 8).

One deployment for the module, with every conditional subscription deployed; each test drives its
own file or event (distinct stores) and heals its faults. ``DELIVERY_TESTS`` in
``test_wiring_coverage.py`` maps every hop of the template to the test here (or elsewhere) that
proves it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from offline_runtime.emulator.session import drain, localise, observe_topic, state_path
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario import datagen
from offline_runtime.scenario.project import EVENTS, observe_bus, offline_aws

YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)
ACCOUNTS = datagen._accounts(random.Random(8), 300)
ENDPOINTS = {
    "OpsAlertEmail": "ops@example.com",
    "OpsPagerEmail": "ops-pager@example.com",
    "PagerPhoneNumber": "+15555550100",
    "FraudTeamEmail": "fraud-team@example.com",
    "StoreManagerEmail": "store-managers@example.com",
    "QuarantineRetentionDays": "14",  # not the default: the deployed lifecycle must follow it
}


@pytest.fixture(scope="module")
def wired() -> Iterator[OfflineStack]:
    with offline_aws(parameters=ENDPOINTS) as stack:
        yield stack


@pytest.fixture
def stack(wired: OfflineStack) -> Iterator[OfflineStack]:
    """The module's stack, observers drained and faults healed around each test."""
    yield wired
    wired.faults.heal()
    wired.wait_idle()


@pytest.fixture(scope="module")
def observed(wired: OfflineStack) -> dict[str, str]:
    return {
        "bus": observe_bus(wired, "wiring-bus"),
        "ops": observe_topic(wired, wired.outputs["OpsTopicArn"], "wiring-ops"),
    }


def settle(stack: OfflineStack, observed: dict[str, str]) -> None:
    for url in observed.values():
        drain(stack, url)
    assert stack.sns is not None
    stack.sns.outbox.clear()


def upload(stack: OfflineStack, store: str, bad_rate: float, seed: int) -> dict[str, Any]:
    """A raw transactions file through the real wiring; the execution it started, with its states."""
    body, _ = datagen.transactions_csv(store, "CA", YESTERDAY, 120, ACCOUNTS, random.Random(seed), bad_rate)
    sfn = stack.client("stepfunctions")
    machine = stack.physical["PipelineStateMachine"]
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    key = f"transactions/{YESTERDAY}/pos-{store}.csv"
    stack.client("s3").put_object(Bucket=stack.outputs["RawBucketName"], Key=key, Body=body)
    stack.wait_idle()
    (new,) = [
        e
        for e in sfn.list_executions(stateMachineArn=machine)["executions"]
        if e["executionArn"] not in before
    ]
    desc = sfn.describe_execution(executionArn=new["executionArn"])
    desc["states"] = state_path(desc["executionArn"], stack)
    desc["failed_tasks"] = [
        e
        for e in sfn.get_execution_history(executionArn=desc["executionArn"], maxResults=1000)["events"]
        if e["type"] == "TaskFailed"
    ]
    return dict(desc)


def entries_of(detail_type: str) -> Any:
    """Fault match: a PutEvents call that carries this detail type (the state machine's, not ingest's)."""
    return lambda entries: any(e.get("DetailType") == detail_type for e in entries or [])


def ops_alerts(stack: OfflineStack, observed: dict[str, str]) -> list[tuple[str, str]]:
    return [
        (m["MessageAttributes"]["severity"]["Value"], m.get("Subject", ""))
        for m in drain(stack, observed["ops"])
    ]


def kinds(stack: OfflineStack, observed: dict[str, str]) -> list[str]:
    return sorted(e["detail-type"] for e in drain(stack, observed["bus"]))


# -- the state machine's notify / emit states: their Retry, and AlertOps when they fail for good --
# An API error inside the optimized events:putEvents integration is a TaskFailed
# (EventBridge.<Code>Exception) as on AWS: the emulator corrects moto, which ends the task as
# States.Runtime (offline_runtime/emulator/compat.py, pinned in tests/emulator/test_divergences.py).


def test_emit_published_is_retried_when_put_events_fails_once(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    settle(stack, observed)
    fault = stack.faults.fail(
        "events", "PutEvents", "InternalFailure", match={"Entries": entries_of("DatasetPublished")}
    )
    desc = upload(stack, "W101", 0.0, 1)
    assert fault.injected == 1
    assert desc["status"] == "SUCCEEDED" and desc["states"][-3:] == [
        "PublishDataset",
        "EmitPublished",
        "Published",
    ]
    assert kinds(stack, observed).count("DatasetPublished") == 1
    assert drain(stack, observed["ops"]) == []  # a retried emit is not an incident


def test_emit_published_failing_for_good_alerts_ops(stack: OfflineStack, observed: dict[str, str]) -> None:
    settle(stack, observed)
    fault = stack.faults.fail(
        "events",
        "PutEvents",
        "InternalFailure",
        times=None,
        match={"Entries": entries_of("DatasetPublished")},
    )
    desc = upload(stack, "W102", 0.0, 2)
    assert fault.injected == 4  # the first attempt and the Retry's three (MaxAttempts 3)
    assert desc["status"] == "FAILED" and desc["error"] == "PipelineFailed"
    assert desc["states"][-3:] == ["EmitPublished", "AlertOps", "PipelineFailed"]
    # ops learns that a published dataset was never announced, with the cause
    (alert,) = drain(stack, observed["ops"])
    assert alert["MessageAttributes"]["severity"]["Value"] == "CRITICAL"
    assert alert["Subject"] == "Pipeline failure"
    message = json.loads(alert["Message"])
    assert "InternalFailure" in message["error"]["Cause"]
    assert message["publish"]["result"]["rows_published"] > 0
    assert "DatasetPublished" not in kinds(stack, observed)
    # the pager subscription (filter on the alarm body) is for alarms only; the ops e-mail gets it
    assert stack.sns is not None
    assert [
        (m.protocol, m.endpoint) for m in stack.sns.outbox if m.topic_arn == stack.outputs["OpsTopicArn"]
    ] == [("email", ENDPOINTS["OpsAlertEmail"])]


def test_notify_quarantine_is_retried_when_sns_publish_fails_once(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    settle(stack, observed)
    fault = stack.faults.fail(
        "sns",
        "Publish",
        "InternalError",
        match={"TopicArn": stack.outputs["OpsTopicArn"], "Subject": "Dataset quarantined*"},
    )
    desc = upload(stack, "W103", 0.6, 3)  # most rows bad: the gate quarantines the file
    assert fault.injected == 1
    assert desc["status"] == "SUCCEEDED" and desc["states"][-3:] == [
        "NotifyQuarantine",
        "EmitQuarantined",
        "Quarantined",
    ]
    assert ops_alerts(stack, observed) == [("HIGH", "Dataset quarantined by the quality gate")]
    assert kinds(stack, observed).count("DatasetQuarantined") == 1


def test_emit_quarantined_failing_for_good_alerts_ops_and_alert_ops_itself_retries(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    settle(stack, observed)
    emit = stack.faults.fail(
        "events",
        "PutEvents",
        "InternalFailure",
        times=None,
        match={"Entries": entries_of("DatasetQuarantined")},
    )
    alert_once = stack.faults.fail(
        "sns",
        "Publish",
        "InternalError",
        match={"TopicArn": stack.outputs["OpsTopicArn"], "Subject": "Pipeline failure"},
    )
    desc = upload(stack, "W104", 0.6, 4)
    assert emit.injected >= 1 and alert_once.injected == 1  # AlertOps' Retry delivered it
    assert desc["status"] == "FAILED"
    assert desc["states"][-4:] == ["NotifyQuarantine", "EmitQuarantined", "AlertOps", "PipelineFailed"]
    assert sorted(ops_alerts(stack, observed)) == [
        ("CRITICAL", "Pipeline failure"),
        ("HIGH", "Dataset quarantined by the quality gate"),
    ]
    assert "DatasetQuarantined" not in kinds(stack, observed)


# -- parameters reach what they configure --------------------------------------------------------


def test_quarantine_retention_parameter_is_the_deployed_lifecycle_of_what_the_pipeline_quarantines(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    settle(stack, observed)
    desc = upload(stack, "W105", 0.6, 5)
    assert desc["states"][-1] == "Quarantined"
    run_id = json.loads(desc["input"])["detail"]["run_id"]
    s3 = stack.client("s3")
    bucket = stack.physical["QuarantineBucket"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert any(run_id in key for key in keys)  # this file's dataset was quarantined there
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    (expire,) = [r for r in rules if r["ID"] == "ExpireQuarantine"]
    assert expire["Status"] == "Enabled"
    assert expire["Expiration"]["Days"] == int(ENDPOINTS["QuarantineRetentionDays"])
    assert expire["NoncurrentVersionExpiration"]["NoncurrentDays"] == 7
    prefix = (expire.get("Filter") or {}).get("Prefix", expire.get("Prefix", ""))
    assert all(key.startswith(prefix) for key in keys)  # the rule covers every quarantined object


def test_low_stock_event_reaches_the_store_manager_in_the_template_wording_and_the_reorder_queue(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    settle(stack, observed)
    sample = json.loads(
        json.loads((EVENTS / "purchase_orders_reorder_request.json").read_text())["Records"][0]["body"]
    )
    detail = {**sample["detail"], "store_id": "W106", "crossing_id": "c0ffee00c0ffee00c0ffee00"}
    # the stock record the crossing is about (an order adds to its on_order in one transaction)
    stack.client("dynamodb").put_item(
        TableName=stack.physical["InventoryTable"],
        Item={
            "store_id": {"S": "W106"},
            "product_id": {"S": detail["product_id"]},
            "on_hand": {"N": "17"},
            "reorder_threshold": {"N": "10"},
        },  # above it: no crossing of its own
    )
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.outputs["PipelineBusName"],
                "Source": sample["source"],
                "DetailType": sample["detail-type"],
                "Detail": json.dumps(detail),
            }
        ]
    )
    stack.wait_idle()
    assert stack.sns is not None
    (mail,) = [m for m in stack.sns.outbox if m.topic_arn == stack.physical["StoreManagerTopic"]]
    assert (mail.protocol, mail.endpoint) == ("email", ENDPOINTS["StoreManagerEmail"])
    # the rule's InputTransformer renders the notice (EventBridge gives SNS a JSON string)
    text = json.loads(mail.message) if mail.message.startswith('"') else mail.message
    for value in ("W106", detail["product_id"], str(detail["on_hand"]), str(detail["suggested_order_qty"])):
        assert value in text
    assert "<" not in text and "$." not in text  # every placeholder filled
    # the other target of the same event: the reorder queue, consumed into a purchase order
    orders = stack.client("dynamodb").scan(TableName=stack.physical["PurchaseOrdersTable"])["Items"]
    assert [o for o in orders if o.get("store_id", {}).get("S") == "W106"]
    assert "PurchaseOrderCreated" in kinds(stack, observed)


def test_transaction_received_rule_invokes_real_time_fraud(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    settle(stack, observed)
    event = localise(stack, json.loads((EVENTS / "fraud_realtime_transaction_received.json").read_text()))
    before = len([i for i in stack.lambdas.invocations if i.logical_id == "FraudRealtimeFunction"])
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
    runs = [i for i in stack.lambdas.invocations if i.logical_id == "FraudRealtimeFunction"][before:]
    assert len(runs) == 1 and not runs[0].errored
    # the alert it raised went through the fraud topic: the SMS pager (HIGH) and the fraud team
    assert stack.sns is not None
    told = sorted(m.protocol for m in stack.sns.outbox if m.topic_arn == stack.outputs["FraudAlertsTopicArn"])
    assert told == ["email", "sms"]


def test_analyst_review_queue_parks_what_analysts_cannot_take_after_max_receives(stack: OfflineStack) -> None:
    sqs = stack.client("sqs")
    queue, dlq = stack.physical["AnalystReviewQueue"], stack.physical["AnalystReviewDeadLetterQueue"]
    drain(stack, queue)  # alerts other tests sent the analysts
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"note": "analyst review wiring"}))
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    for _ in range(int(policy["maxReceiveCount"])):  # a reader that takes it and never deletes it
        (taken,) = sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0)["Messages"]
        assert json.loads(taken["Body"]) == {"note": "analyst review wiring"}
    assert sqs.receive_message(QueueUrl=queue, VisibilityTimeout=0).get("Messages") is None
    (parked,) = sqs.receive_message(QueueUrl=dlq)["Messages"]
    assert json.loads(parked["Body"]) == {"note": "analyst review wiring"}
    sqs.delete_message(QueueUrl=dlq, ReceiptHandle=parked["ReceiptHandle"])


def alarm_notification(alarm: dict[str, Any]) -> str:
    """The JSON body CloudWatch publishes when an alarm changes state (AWS's documented fields)."""
    return json.dumps(
        {
            "AlarmName": alarm["AlarmName"],
            "AlarmDescription": alarm["AlarmDescription"],
            "AWSAccountId": alarm["AlarmArn"].split(":")[4],
            "NewStateValue": "ALARM",
            "NewStateReason": "Threshold Crossed: 1 datapoint [1.0] was greater than the threshold (0.0).",
            "StateChangeTime": datetime.now(UTC).isoformat(),
            "Region": "US East (N. Virginia)",
            "AlarmArn": alarm["AlarmArn"],
            "OldStateValue": "OK",
            "Trigger": {"MetricName": alarm["MetricName"], "Namespace": alarm["Namespace"]},
        }
    )


def test_alarm_notifications_page_only_when_critical_and_reach_the_ops_mailbox_always(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    settle(stack, observed)
    cloudwatch, sns = stack.client("cloudwatch"), stack.client("sns")
    prefix = f"{stack.stack_name}-"
    alarms = {
        a["AlarmName"][len(prefix) :]: a
        for a in cloudwatch.describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
    }
    critical, high = alarms["IngestDeadLetterQueue-parked"], alarms["ReorderDeadLetterQueue-parked"]
    assert critical["AlarmDescription"].startswith("CRITICAL:") and high["AlarmDescription"].startswith(
        "HIGH:"
    )
    assert critical["AlarmActions"] == [stack.outputs["OpsTopicArn"]]
    for alarm in (critical, high):  # what CloudWatch does with AlarmActions (no message attributes)
        sns.publish(TopicArn=alarm["AlarmActions"][0], Message=alarm_notification(alarm))
    stack.wait_idle()
    assert stack.sns is not None
    told = sorted(
        (m.endpoint, json.loads(m.message)["AlarmName"])
        for m in stack.sns.outbox
        if m.topic_arn == stack.outputs["OpsTopicArn"]
    )
    assert told == sorted(
        [
            (ENDPOINTS["OpsAlertEmail"], critical["AlarmName"]),
            (ENDPOINTS["OpsAlertEmail"], high["AlarmName"]),
            (ENDPOINTS["OpsPagerEmail"], critical["AlarmName"]),  # the body filter: CRITICAL alarms only
        ]
    )


# -- every function's parking place receives its failures (the permanent-fault path) ------------
SERVICES = ("s3", "dynamodb", "events", "sns", "glue", "athena")


def bus_event(stack: OfflineStack, sample: str) -> dict[str, Any]:
    event = localise(stack, json.loads((EVENTS / sample).read_text()))
    return {
        "EventBusName": stack.outputs["PipelineBusName"],
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
    }


def trigger(stack: OfflineStack, how: str) -> None:
    if how.startswith("schedule:"):
        stack.schedules.fire_on(how.split(":", 1)[1], datetime.now(UTC).date())
    elif how == "sns":
        sns_sample = json.loads((EVENTS / "case_management_fraud_alert_sns.json").read_text())
        record = sns_sample["Records"][0]["Sns"]
        stack.client("sns").publish(
            TopicArn=stack.outputs["FraudAlertsTopicArn"],
            Message=record["Message"],
            MessageAttributes={
                k: {"DataType": v["Type"], "StringValue": v["Value"]}
                for k, v in record["MessageAttributes"].items()
            },
        )
    else:
        stack.client("events").put_events(Entries=[bus_event(stack, how)])


@pytest.mark.parametrize(
    ("function", "how", "queue"),
    [
        ("FraudScoringFunction", "fraud_scoring_dataset_published.json", "FraudScoringDeadLetterQueue"),
        ("FraudRealtimeFunction", "fraud_realtime_transaction_received.json", "FraudRealtimeDeadLetterQueue"),
        ("ApplyMovementsFunction", "apply_movements_dataset_published.json", "ApplyMovementsDeadLetterQueue"),
        ("AuditTrailFunction", "audit_trail_low_stock_event.json", "AuditTrailDeadLetterQueue"),
        ("CaseManagementFunction", "sns", "CaseManagementDeadLetterQueue"),
        ("DailyReportFunction", "schedule:DailyReportFunctionDaily", "BankingDeadLetterQueue"),
        (
            "FreshnessCheckFunction",
            "schedule:FreshnessCheckFunctionAfterDueTime",
            "FreshnessCheckDeadLetterQueue",
        ),
    ],
)
def test_an_asynchronous_function_that_keeps_failing_parks_the_event_in_its_queue(
    stack: OfflineStack, function: str, how: str, queue: str
) -> None:
    url = stack.physical[queue]
    drain(stack, url)
    for service in SERVICES:  # every AWS call the function makes fails, for good
        stack.faults.fail(service, "*", "InternalError", times=None, function=function)
    trigger(stack, how)
    stack.wait_idle()
    stack.faults.heal()
    parked = drain(stack, url)
    assert {p["requestContext"]["functionArn"].split(":")[6] for p in parked} == {stack.physical[function]}
    # the triggering event itself (the audit trail also parks the events its trigger led to)
    if how.endswith(".json"):
        wanted = bus_event(stack, how)["DetailType"]
        mine = [p for p in parked if p["requestPayload"]["detail-type"] == wanted]
    else:
        mine = parked
    assert len(mine) == 1, [p["requestContext"] for p in parked]
    assert mine[0]["requestContext"]["condition"] == "RetriesExhausted"
    assert mine[0]["requestPayload"]  # the event itself, for the redrive


def test_a_rule_target_that_keeps_refusing_parks_the_event_in_the_rule_dead_letter_queue(
    stack: OfflineStack,
) -> None:
    url = stack.physical["LowStockDeadLetterQueue"]
    drain(stack, url)
    topic = stack.physical["StoreManagerTopic"]
    refused = stack.faults.fail(
        "sns", "Publish", "KMS.AccessDeniedException", times=None, match={"TopicArn": topic}
    )
    sample = json.loads(
        json.loads((EVENTS / "purchase_orders_reorder_request.json").read_text())["Records"][0]["body"]
    )
    detail = {**sample["detail"], "store_id": "W108", "crossing_id": "feed0000feed0000feed0000"}
    entry = {
        "EventBusName": stack.outputs["PipelineBusName"],
        "Source": sample["source"],
        "DetailType": sample["detail-type"],
        "Detail": json.dumps(detail),
    }
    stack.client("events").put_events(Entries=[entry])
    stack.wait_idle()
    assert refused.injected == 9  # the first attempt and the target's MaximumRetryAttempts 8
    sqs = stack.client("sqs")
    (message,) = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["TARGET_ARN"] == topic and attributes["ERROR_CODE"] == "KMS.AccessDeniedException"
    assert "LowStockToStoreManagerRule" in attributes["RULE_ARN"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
