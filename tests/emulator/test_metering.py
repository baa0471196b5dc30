"""The usage meter counts a known sequence exactly, on the orders app and on moto S3."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from offline_runtime.emulator import environ, faults, metering
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
        s3.put_object(Bucket="data", Key="staging/a/b.parquet", Body=b"x")
        for _ in range(2):
            s3.get_object(Bucket="data", Key="staging/a/b.parquet")["Body"].read()
        s3.head_object(Bucket="data", Key="k0")
        s3.list_objects_v2(Bucket="data")
        s3.delete_object(Bucket="data", Key="k1")
        s3.put_object(Bucket="observer-bucket", Key="seen", Body=b"x")  # ignored resource
        s3.get_object(Bucket="observer-bucket", Key="seen")["Body"].read()

    _off_main_thread(pipeline)
    assert meter.units == {"s3.tier1": 5, "s3.tier2": 6, "s3.free": 1}
    assert meter.requests[("s3", "GetObject")] == 5
    # GETs by the key's first segment ("read once": how often the staged data is fetched)
    assert meter.s3_gets == {"k0": 1, "k1": 1, "k2": 1, "staging": 2}
    assert meter.to_dict()["s3_gets_by_prefix"]["staging"] == 2
    assert meter.driver[("s3", "CreateBucket")] == 2
    assert meter.driver[("s3", "PutObject")] == 1  # the ignored bucket's


def test_dynamodb_units_are_counted_per_table(metered_s3: tuple[metering.Meter, Any]) -> None:
    meter, _ = metered_s3
    db = boto3.client("dynamodb", region_name="us-east-1")
    for name in ("stack-ProfilesTable-A1", "stack-ClaimsTable-B2"):
        db.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    def pipeline() -> None:
        db.put_item(TableName="stack-ProfilesTable-A1", Item={"pk": {"S": "a"}, "v": {"S": "x" * 1500}})
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "stack-ClaimsTable-B2", "Item": {"pk": {"S": f"id{i}"}}}}
                for i in range(3)
            ]
        )
        db.get_item(TableName="stack-ProfilesTable-A1", Key={"pk": {"S": "a"}}, ConsistentRead=True)
        db.batch_get_item(
            RequestItems={"stack-ClaimsTable-B2": {"Keys": [{"pk": {"S": "id0"}}, {"pk": {"S": "id1"}}]}}
        )
        keys = [{"pk": {"S": k}} for k in ("id2", "no-such-id")]  # consistent, per table; one missing
        db.batch_get_item(RequestItems={"stack-ClaimsTable-B2": {"Keys": keys, "ConsistentRead": True}})

    _off_main_thread(pipeline)
    tables = meter.to_dict()["dynamodb_by_table"]
    # a 1.5 KB put is 2 WRU; a transaction's items 2 WRU each; a consistent read of it 1 RRU;
    # two small eventually consistent reads 0.5 RRU each; then two consistent ones, 1 RRU each,
    # the missing item's too (AWS: a read of an item that does not exist still consumes read units)
    assert tables["stack-ProfilesTable-A1"] == {"requests": 2, "wru": 2, "rru": 1.0}
    assert tables["stack-ClaimsTable-B2"] == {"requests": 3, "wru": 6, "rru": 3.0}
    assert list(tables) == ["stack-ClaimsTable-B2", "stack-ProfilesTable-A1"]  # most written first
    assert meter.units["ddb.wru"] == 8 and meter.units["ddb.rru"] == 4.0


def test_a_thread_a_handler_starts_belongs_to_its_invocation(metered_s3: tuple[metering.Meter, Any]) -> None:
    """On AWS a handler's worker threads are part of its invocation: their calls are the function's
    (fault rules, the meter), and a thread started outside any invocation is AWS's own."""
    meter, s3 = metered_s3
    s3.create_bucket(Bucket="data")

    def worker() -> None:
        s3.put_object(Bucket="data", Key="k", Body=b"x")

    def in_thread() -> None:
        thread = threading.Thread(target=worker, name="pool-worker")
        thread.start()
        thread.join()

    with environ.patches():
        faults.set_current_function("PublishFunction")
        try:
            in_thread()
        finally:
            faults.set_current_function(None)
        in_thread()
    assert meter.by_caller[("PublishFunction", "s3", "PutObject")] == 1
    assert meter.by_caller[("service", "s3", "PutObject")] == 1


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
