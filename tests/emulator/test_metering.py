"""The usage meter counts a known sequence exactly, on the orders app and on moto S3."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from offline_runtime.emulator import metering
from offline_runtime.emulator.session import run_state_machine
from offline_runtime.emulator.stack import OfflineStack


def test_one_execution_of_the_order_flow_is_counted_exactly(fresh_orders: OfflineStack) -> None:
    stack = fresh_orders
    stack.wait_idle()
    before = stack.meter.to_dict()
    result = run_state_machine(stack, "OrderFlow", {"order_id": "m-1", "items": [{"price": "5"}]})
    assert result["status"] == "SUCCEEDED"
    stack.wait_idle()
    usage = metering.usage(stack, stack.meter)

    price = next(f for f in usage["lambda"].values() if f["logical_id"] == "PriceFunction")
    prior = next((f for f in before["lambda"].values() if f["logical_id"] == "PriceFunction"), None)
    assert prior is None  # nothing ran before the execution
    # bare-ARN task + lambda:invoke task: two invocations, memory and architecture from the template
    assert price["invocations"] == 2
    assert (price["memory_mb"], price["architecture"]) == (256, "x86_64")
    assert price["billed_ms"] >= 2 and price["log_bytes"] > 0
    # Price, IsLarge, RecordAccepted, ReadBack, MarkProcessed, Notify, Emit, Report, Reprice
    flow = usage["step_functions"]["OrderFlow"]
    assert (flow["type"], flow["executions"], flow["transitions"]) == ("STANDARD", 1, 9)
    # the state machine's own service integrations, each once
    service = {(s, op): n for (caller, s, op), n in stack.meter.by_caller.items() if caller == "service"}
    assert service == {
        ("lambda", "Invoke"): 2,
        ("dynamodb", "PutItem"): 1,
        ("dynamodb", "GetItem"): 1,
        ("dynamodb", "UpdateItem"): 1,
        ("sns", "Publish"): 1,
        ("events", "PutEvents"): 1,
        ("sqs", "SendMessage"): 1,
    }
    assert usage["units"]["events.custom_chunks"] == 1
    assert usage["units"]["sns.publish_chunks"] == 1
    # the test's own calls (StartExecution, DescribeExecution polling) are the driver's, not billed
    assert ("stepfunctions", "DescribeExecution") not in stack.meter.requests
    assert stack.meter.driver[("stepfunctions", "DescribeExecution")] >= 1


@pytest.fixture
def metered_s3() -> Iterator[tuple[metering.Meter, Any]]:
    metering.register()
    meter = metering.Meter(ignore=("observer-bucket",))
    with mock_aws(), metering.patch(meter):
        s3 = boto3.client("s3", region_name="us-east-1")
        yield meter, s3


def _off_main_thread(work: Callable[[], None]) -> None:
    """Calls from another thread are AWS's (or the pipeline's) own, not the driver's."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # re-raised on the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run, name="service-worker")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]


def test_s3_requests_are_counted_by_class(metered_s3: tuple[metering.Meter, Any]) -> None:
    meter, s3 = metered_s3
    s3.create_bucket(Bucket="data")  # the driver's: not counted
    s3.create_bucket(Bucket="observer-bucket")

    def pipeline() -> None:
        for i in range(2):
            s3.put_object(Bucket="data", Key=f"k{i}", Body=b"x")
        s3.copy_object(Bucket="data", Key="k2", CopySource={"Bucket": "data", "Key": "k0"})
        for key in ("k0", "k1", "k2"):
            s3.get_object(Bucket="data", Key=key)["Body"].read()
        s3.head_object(Bucket="data", Key="k0")
        s3.list_objects_v2(Bucket="data")
        s3.delete_object(Bucket="data", Key="k1")
        s3.put_object(Bucket="observer-bucket", Key="seen", Body=b"x")  # ignored resource

    _off_main_thread(pipeline)
    assert meter.units == {"s3.tier1": 4, "s3.tier2": 4, "s3.free": 1}
    assert meter.requests[("s3", "GetObject")] == 3
    assert meter.driver[("s3", "CreateBucket")] == 2
    assert meter.driver[("s3", "PutObject")] == 1  # the ignored bucket's


def test_dynamodb_reads_are_units_of_4_kb_per_item_and_consistency_is_per_table() -> None:
    """BatchGetItem's ConsistentRead is inside each table's RequestItems: strongly consistent is
    one unit per started 4 KB of each item, eventually consistent half. Before, the request's top
    level was read and every BatchGetItem counted as eventually consistent."""
    metering.register()
    meter = metering.Meter()
    with mock_aws(), metering.patch(meter):
        db = boto3.client("dynamodb", region_name="us-east-1")
        for name in ("strong", "eventual"):
            db.create_table(
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            )
            db.put_item(TableName=name, Item={"k": {"S": "small"}})
            db.put_item(TableName=name, Item={"k": {"S": "big"}, "v": {"B": b"x" * 5000}})  # 2 read units

        def pipeline() -> None:
            keys = [{"k": {"S": "small"}}, {"k": {"S": "big"}}]
            db.batch_get_item(
                RequestItems={"strong": {"Keys": keys, "ConsistentRead": True}, "eventual": {"Keys": keys}}
            )

        _off_main_thread(pipeline)
    assert meter.units["ddb.rru"] == (1 + 2) + (1 + 2) / 2
