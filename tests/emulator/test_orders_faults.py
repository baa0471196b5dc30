"""The second SAM app under faults, redeliveries and parameters: each test on a deployment of its own."""

from __future__ import annotations

import json
from typing import Any

import pytest

from offline_runtime.emulator.cloudformation import StackError
from offline_runtime.emulator.session import drain, run_state_machine
from offline_runtime.emulator.stack import OfflineStack, offline_aws
from tests.emulator.conftest import TEMPLATE
from tests.emulator.test_orders_app import _item


def test_sqs_batch_with_one_poison_message_retries_only_it_then_parks_it(fresh_orders: OfflineStack) -> None:
    stack = fresh_orders
    sqs = stack.client("sqs")
    url = stack.outputs["OrdersQueueUrl"]
    bodies = [json.dumps({"order_id": f"q-{i}", "items": [{"price": "1"}]}) for i in range(4)]
    bodies.insert(2, "this is not an order")
    # held until all five are in: a poll that runs while moto is still adding a batch's messages
    # receives part of it (so can a poll on AWS), and this test counts batches
    stack.dispatcher.paused = True
    try:
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
        )
    finally:
        stack.dispatcher.paused = False
    stack.wait_idle()
    intake = [i for i in stack.lambdas.invocations if i.logical_id == "IntakeFunction"]
    # batch 1: the five messages (four started, one reported); after the 90 s visibility timeout
    # (emulated) batch 2: the poison alone; received twice = maxReceiveCount, so the next receive parks it
    assert [stack.sqs.log.batches, stack.sqs.log.messages, stack.sqs.log.partial_failures] == [2, 6, 2]
    assert "receive #1" in intake[0].logs and "receive #2" in intake[1].logs
    assert stack.clock.offset > 85  # the visibility timeout elapsed in emulated time
    sfn = stack.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=stack.outputs["OrderFlowArn"])["executions"]
    assert sorted(e["name"] for e in executions) == [f"order-q-{i}" for i in range(4)]  # each once
    parked = sqs.receive_message(QueueUrl=stack.outputs["OrdersDeadLetterQueueUrl"], AttributeNames=["All"])
    assert [m["Body"] for m in parked["Messages"]] == ["this is not an order"]
    assert parked["Messages"][0]["Attributes"]["ApproximateReceiveCount"] in ("2", "3")
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=0).get("Messages") is None


def test_async_function_error_is_retried_then_sent_to_its_on_failure_destination(
    fresh_orders: OfflineStack,
) -> None:
    stack = fresh_orders
    stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": stack.outputs["BusName"],
                "Source": "orders.flow",
                "DetailType": "OrderProcessed",
                "Detail": json.dumps({"order_id": "bad-7", "status": "ACCEPTED"}),
            }
        ]
    )
    stack.wait_idle()
    audits = [i for i in stack.lambdas.invocations if i.logical_id == "AuditFunction"]
    assert [a.errored for a in audits] == [True, True]  # MaximumRetryAttempts: 1
    assert stack.clock.offset > 55  # Lambda waits a minute before the first retry (emulated time)
    (record,) = drain(stack, stack.outputs["AuditFailureQueueUrl"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestPayload"]["detail"] == {"order_id": "bad-7", "status": "ACCEPTED"}
    assert record["responsePayload"]["errorMessage"] == "audit refuses bad-7"


@pytest.mark.parametrize("times", [1, None], ids=["once", "permanently"])
def test_fault_in_a_state_machine_task_once_vs_permanently(
    fresh_orders: OfflineStack, times: int | None
) -> None:
    stack = fresh_orders
    rule = stack.faults.fail(
        "dynamodb",
        "PutItem",
        "InternalServerError",
        times=times,
        match={"TableName": stack.outputs["OrdersTableName"]},
    )
    desc = run_state_machine(stack, "OrderFlow", {"order_id": "f-1", "items": [{"price": "2"}]})
    history = stack.client("stepfunctions").get_execution_history(executionArn=desc["executionArn"])["events"]
    failed_tasks = [e for e in history if e["type"] == "TaskFailed"]
    if times == 1:
        assert desc["status"] == "SUCCEEDED" and rule.injected == 1 and len(failed_tasks) == 1
        assert _item(stack, "f-1")["status"]["S"] == "ACCEPTED"  # type: ignore[index]
    else:  # the task's Retry (MaxAttempts 2) is used up, then its Catch leads to the Fail state
        assert desc["status"] == "FAILED" and desc["error"] == "OrderNotRecorded"
        assert rule.injected == 3 and len(failed_tasks) == 3
        assert _item(stack, "f-1") is None


def test_fault_matched_on_the_function_making_the_call(fresh_orders: OfflineStack) -> None:
    stack = fresh_orders
    stack.faults.fail(
        "dynamodb", "PutItem", "ProvisionedThroughputExceededException", times=None, function="NotifyFunction"
    )
    desc = run_state_machine(stack, "OrderFlow", {"order_id": "n-1", "items": [{"price": "3"}]})
    stack.wait_idle()
    assert desc["status"] == "SUCCEEDED"  # the state machine's own PutItem is not NotifyFunction's
    notify = [i for i in stack.lambdas.invocations if i.logical_id == "NotifyFunction"]
    assert len(notify) == 3 and all(n.error_type == "ProvisionedThroughputExceededException" for n in notify)
    assert _item(stack, "notice#n-1") is None and _item(stack, "n-1") is not None


def test_parameters_conditions_and_mappings_follow_the_values_given() -> None:
    with offline_aws(TEMPLATE, parameters={"Env": "prod"}, stack_name="orders-prod") as prod:
        assert prod.outputs["ProdOnly"] == "only in prod" and prod.outputs["BusName"] == "orders-prod"
        cfg = prod.client("lambda").get_function_configuration(FunctionName=prod.physical["SlowFunction"])
        assert cfg["Environment"]["Variables"]["MAX_ITEMS"] == "100"
        concurrency = prod.client("lambda").get_function_concurrency(
            FunctionName=prod.physical["SlowFunction"]
        )
        assert concurrency["ReservedConcurrentExecutions"] == 10  # Fn::If [IsProd, 10, 2]
    qa, low = {"Env": "qa"}, {"LargeOrderAmount": "0"}
    with (
        pytest.raises(StackError, match=r"parameter Env: 'qa' is not one of"),
        offline_aws(TEMPLATE, parameters=qa),
    ):
        pass
    with pytest.raises(StackError, match="below MinValue"), offline_aws(TEMPLATE, parameters=low):
        pass


def test_unsupported_types_are_reported_not_fatal(tmp_path: Any) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n"
        "  Api: {Type: AWS::ApiGateway::RestApi, Properties: {Name: x}}\n"
        "  Topic: {Type: AWS::SNS::Topic}\n"
        "Outputs:\n  TopicArn: {Value: !Ref Topic}\n"
    )
    with offline_aws(template) as stack:
        assert stack.cfn.unsupported == {"Api": "AWS::ApiGateway::RestApi"}
        assert stack.outputs["TopicArn"].startswith("arn:aws:sns:")


def test_dynamodb_stream_of_another_template_in_batches_with_a_parked_poison_record(
    fresh_orders: OfflineStack,
) -> None:
    stack = fresh_orders
    ddb = stack.client("dynamodb")
    table = stack.outputs["OrdersTableName"]
    with stack.streams.paused():  # written together: delivered as one batch, as the poller reads them
        for pk in ("a-1", "poison-1", "b-1"):
            ddb.put_item(TableName=table, Item={"pk": {"S": pk}, "status": {"S": "NEW"}})
    stack.wait_idle()
    changes = drain(stack, stack.outputs["LedgerQueueUrl"])
    # the batch stops at the poison record (checkpoint); b-1 comes again with each retry and, once
    # MaximumRetryAttempts (1) is used up, the rest of the batch is parked — as the Lambda poller does
    assert [c["pk"] for c in changes] == ["a-1", "b-1", "b-1"]  # a-1 once; b-1 again after the checkpoint
    (parked,) = drain(stack, stack.outputs["LedgerFailureQueueUrl"])
    assert parked["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert parked["DDBStreamBatchInfo"]["batchSize"] == 2  # poison-1 and the record after it
