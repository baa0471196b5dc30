"""AWS payload limits, refused with AWS's own error codes."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from offline_runtime.emulator.stack import OfflineStack

KIB = 1024


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_payload_limits_are_aws_limits_with_aws_error_codes(orders: OfflineStack) -> None:
    lam, sns, sqs, events = (orders.client(s) for s in ("lambda", "sns", "sqs", "events"))
    fn = orders.physical["PriceFunction"]
    order = {"order_id": "x", "items": [], "pad": ""}

    def payload(size: int) -> bytes:
        body = json.dumps(order).encode()
        return json.dumps({**order, "pad": "x" * (size - len(body))}).encode()

    with pytest.raises(ClientError) as sync:
        lam.invoke(FunctionName=fn, Payload=payload(6 * KIB * KIB + 1))
    assert (
        _code(sync) == "RequestEntityTooLargeException"
        and sync.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    )
    assert (
        lam.invoke(FunctionName=fn, Payload=payload(6 * KIB * KIB))["StatusCode"] == 200
    )  # at the limit: accepted

    with pytest.raises(ClientError) as asynchronous:
        lam.invoke(FunctionName=fn, InvocationType="Event", Payload=payload(256 * KIB + 1))
    assert _code(asynchronous) == "RequestEntityTooLargeException"
    assert (
        lam.invoke(FunctionName=fn, InvocationType="Event", Payload=payload(256 * KIB))["StatusCode"] == 202
    )

    topic = orders.outputs["OrderEventsTopicArn"]
    with pytest.raises(sns.exceptions.InvalidParameterException):
        sns.publish(TopicArn=topic, Message="x" * (256 * KIB + 1))
    with pytest.raises(ClientError) as attributes:  # attributes count towards the 256 KiB
        sns.publish(
            TopicArn=topic,
            Message="x" * (256 * KIB - 10),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "y" * 20}},
        )
    assert _code(attributes) == "InvalidParameter"
    with pytest.raises(ClientError) as batch:
        sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[{"Id": str(i), "Message": "x" * (100 * KIB)} for i in range(3)],
        )
    assert _code(batch) == "BatchRequestTooLong"

    queue = orders.outputs["ReportQueueUrl"]
    with pytest.raises(ClientError) as message:
        sqs.send_message(QueueUrl=queue, MessageBody="x" * (256 * KIB + 1))
    assert _code(message) == "InvalidParameterValue" and "262144" in str(message.value)
    sqs.send_message(QueueUrl=queue, MessageBody="x" * (256 * KIB))  # AWS's default maximum is accepted

    detail = json.dumps({"pad": "x" * (256 * KIB)})
    with pytest.raises(ClientError) as put:
        events.put_events(
            Entries=[{"Source": "s", "DetailType": "d", "Detail": detail, "EventBusName": "default"}]
        )
    assert _code(put) == "ValidationException"

    with pytest.raises(ClientError) as execution:
        orders.client("stepfunctions").start_execution(
            stateMachineArn=orders.outputs["OrderFlowArn"], input=json.dumps({"pad": "x" * (256 * KIB)})
        )
    assert _code(execution) == "InvalidExecutionInput"
    orders.wait_idle()


def test_a_response_over_6_mb_fails_the_invocation_as_lambda_does(orders: OfflineStack) -> None:
    result, errored, _ = orders.invoke("SlowFunction", {"seconds": 0, "respond_bytes": 6 * KIB * KIB})
    assert errored and result["errorType"] == "Function.ResponseSizeTooLarge"
    result, errored, _ = orders.invoke("SlowFunction", {"seconds": 0, "respond_bytes": 6 * KIB * KIB - 200})
    assert not errored and len(result["pad"]) == 6 * KIB * KIB - 200
