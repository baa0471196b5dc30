"""Every place where moto (or one process for many functions) differs from AWS and the emulator
corrects it: the moto behaviour is pinned here, unpatched, so an upgrade that changes it is noticed,
and the correction is shown to give AWS's behaviour."""

from __future__ import annotations

import contextlib
import inspect
import json
import threading
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction

from offline_runtime.emulator import compat
from offline_runtime.emulator.clock import Clock
from offline_runtime.emulator.eventbridge import aws_shape
from offline_runtime.emulator.patches import PatchSet


def test_lambda_invoke_seam_is_the_private_method_we_replace() -> None:
    params = list(inspect.signature(LambdaFunction._invoke_lambda).parameters)
    assert params == ["self", "event"]


def test_moto_enforces_bucket_policy_deny_without_its_condition() -> None:
    """Why bucket policies are recorded (and checked by the template tests), not applied."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="tls-only")
        s3.put_bucket_policy(
            Bucket="tls-only",
            Policy=json.dumps(
                {
                    "Statement": [
                        {
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": ["arn:aws:s3:::tls-only", "arn:aws:s3:::tls-only/*"],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ]
                }
            ),
        )
        with pytest.raises(s3.exceptions.ClientError, match=r"Forbidden|AccessDenied"):
            s3.put_object(Bucket="tls-only", Key="k", Body=b"x")  # AWS would allow this HTTPS request


def test_moto_s3_eventbridge_event_differs_from_aws_and_is_reshaped() -> None:
    moto_event = {
        "source": "aws.s3",
        "time": 1763700000.0,
        "ingestion-time": 1.0,
        "detail": {"object": {"key": "k", "eTag": "abc", "version-id": None}},
    }
    shaped = aws_shape(moto_event)
    assert shaped["time"] == "2025-11-21T04:40:00Z"
    assert shaped["detail"]["object"] == {"key": "k", "etag": "abc"}
    assert "ingestion-time" not in shaped


def test_moto_rules_do_not_deliver_lambda_or_state_machine_targets() -> None:
    from moto.events.models import Rule

    source = inspect.getsource(Rule.send_to_targets)
    assert '"lambda"' not in source and '"states"' not in source


def test_moto_delivers_sqs_to_lambda_synchronously_one_message_per_call() -> None:
    from moto.awslambda.models import LambdaBackend
    from moto.sqs.models import Queue

    assert "send_sqs_batch" in inspect.getsource(Queue.add_message)
    assert '"ApproximateReceiveCount": "1"' in inspect.getsource(LambdaBackend._send_sqs_message)


def test_moto_sns_hands_lambda_placeholder_attributes() -> None:
    from moto.awslambda.models import LambdaBackend

    assert '"TestBinary"' in inspect.getsource(LambdaBackend.send_sns_message)


def test_moto_s3_notifies_lambda_synchronously_and_drops_errors() -> None:
    from moto.s3 import notifications

    source = inspect.getsource(notifications._invoke_awslambda)
    assert "func.invoke(" in source and "except:" in source


def test_moto_default_sqs_message_size_is_1_mib_and_ours_is_aws_256_kib() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="plain")["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])["Attributes"]
        assert attrs["MaximumMessageSize"] == "1048576"
        with PatchSet(compat.patches(Clock())):
            url = sqs.create_queue(QueueName="patched")["QueueUrl"]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["MaximumMessageSize"])[
                "Attributes"
            ]
            assert attrs["MaximumMessageSize"] == "262144"


def test_moto_refuses_policy_documents_without_version() -> None:
    from offline_runtime.emulator.resources.iam import policy_document

    statement = {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps({"Statement": []}))
        with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
            iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(statement))
        iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=policy_document(statement))


def test_moto_transact_write_items_copies_tables_and_ours_does_not() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    assert "deepcopy" in inspect.getsource(DynamoDBBackend.transact_write_items)
    assert "deepcopy" not in inspect.getsource(compat._transact_write_items)


def test_moto_step_functions_retries_sleep_in_wall_time() -> None:
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    assert "time.sleep(interval_seconds)" in inspect.getsource(retrier_decl)
    clock = Clock()
    with PatchSet(compat.patches(clock)):
        retrier_decl.time.sleep(120)  # what the retrier calls: the clock moves, the wall does not
    assert clock.offset == pytest.approx(120)


def test_powertools_metrics_share_one_metric_set_per_process_unless_isolated() -> None:
    from aws_lambda_powertools.metrics.metrics import Metrics

    from offline_runtime.emulator import lambda_runtime

    assert Metrics(namespace="a").metric_set is Metrics(namespace="b").metric_set  # moto-independent fact
    seen: dict[str, Any] = {}
    with PatchSet(compat.patches(Clock())):
        metrics = Metrics(namespace="n", service="s")

        def in_environment(key: str) -> None:
            lambda_runtime._current.env_key = key
            metrics.add_metric(name=f"m_{key}", unit="Count", value=1)
            seen[key] = sorted(metrics.metric_set)

        threads = [threading.Thread(target=in_environment, args=(k,)) for k in ("fn#0", "other#0")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert seen == {"fn#0": ["m_fn#0"], "other#0": ["m_other#0"]}


def test_moto_gives_every_stream_record_of_a_mapping_the_same_sequence_number() -> None:
    from moto.dynamodb.models.table import StreamShard

    source = inspect.getsource(StreamShard.add)
    assert "seq = len(self.items) + self.starting_sequence_number" in source and "self.items = []" in source


def test_moto_events_task_has_no_client_error_branch_and_ours_fails_the_task_like_aws(
    fresh_orders: Any,
) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_events,
        state_task_service_sns,
    )

    # moto: SNS tasks name API errors (SNS.<Code>Exception); events tasks do not (States.Runtime)
    assert "ClientError" in inspect.getsource(state_task_service_sns.StateTaskServiceSns._from_error)
    assert "ClientError" not in inspect.getsource(state_task_service_events)
    # ours: a PutEvents error once is a TaskFailed the Emit state's Retry (States.TaskFailed) sees
    from offline_runtime.emulator.session import run_state_machine

    stack = fresh_orders
    rule = stack.faults.fail("events", "PutEvents", "InternalException", times=1)
    desc = run_state_machine(stack, "OrderFlow", {"order_id": "e-1", "items": [{"price": "2"}]})
    history = stack.client("stepfunctions").get_execution_history(executionArn=desc["executionArn"])["events"]
    failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert desc["status"] == "SUCCEEDED" and rule.injected == 1
    assert [f["error"] for f in failed] == ["EventBridge.InternalException"]
    assert "Error Code: InternalException" in failed[0]["cause"]


def _racing_claims(install: bool) -> int:
    """Two threads claim one key with ``attribute_not_exists``; moto's condition is parsed between
    its read of the current item and its write, and the parse is slowed so the threads overlap."""
    import time

    from moto.dynamodb.models import table as moto_table

    parse = moto_table.get_filter_expression

    def slow_parse(*args: Any) -> Any:
        time.sleep(0.05)
        return parse(*args)

    won: list[str] = []
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="leases",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

        def claim(owner: str) -> None:
            try:
                client.put_item(
                    TableName="leases",
                    Item={"pk": {"S": "run-1"}, "owner": {"S": owner}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
                won.append(owner)
            except client.exceptions.ConditionalCheckFailedException:
                pass

        patches = PatchSet(compat.patches(Clock())) if install else contextlib.nullcontext()
        moto_table.get_filter_expression = slow_parse  # type: ignore[assignment]
        try:
            with patches:
                threads = [threading.Thread(target=claim, args=(o,)) for o in ("a", "b")]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        finally:
            moto_table.get_filter_expression = parse  # type: ignore[assignment]
    return len(won)


def test_moto_conditional_writes_race_and_ours_are_atomic() -> None:
    assert _racing_claims(install=False) == 2  # moto: both "not exists" writes succeed
    assert _racing_claims(install=True) == 1  # as on DynamoDB: one wins, one is refused
