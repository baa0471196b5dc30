"""Pins the moto behaviours the offline runtime adapts to, so an upgrade that changes one is noticed."""

from __future__ import annotations

import inspect
import json

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.models import LambdaFunction
from moto.events.models import EventBus

from offline_runtime.emulator import compat as moto_compat
from offline_runtime.emulator.deploy import OfflineStack
from offline_runtime.emulator.eventbridge import aws_shape


def test_lambda_invoke_seam_is_the_private_method_we_replace() -> None:
    # read from moto's source, not the live class: a deployed stack (this module's, in whatever
    # order the tests run) has replaced the method with the runtime's own
    import ast
    from pathlib import Path

    from moto.awslambda import models

    tree = ast.parse(Path(models.__file__).read_text())
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == LambdaFunction.__name__]
    (method,) = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "_invoke_lambda"]
    assert [a.arg for a in method.args.args] == ["self", "event"]


def test_event_bus_ref_is_patched_by_us_not_native() -> None:
    moto_compat.apply()
    prop = EventBus.__dict__["physical_resource_id"]
    assert prop.fget.__module__ == "offline_runtime.emulator.compat"


def test_cloudformation_state_machines_land_in_the_non_executing_backend(stack: OfflineStack) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.stepfunctions.models import stepfunctions_backends
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    arn = stack.outputs["PipelineStateMachineArn"]
    classic = stepfunctions_backends[DEFAULT_ACCOUNT_ID][stack.region]
    parser = stepfunctions_parser_backends[DEFAULT_ACCOUNT_ID][stack.region]
    assert classic is not parser
    assert "${SchemaValidatorArn}" in classic.describe_state_machine(arn).definition
    assert "${" not in parser.describe_state_machine(arn).definition


def test_moto_enforces_bucket_policy_deny_without_its_condition() -> None:
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


def test_moto_rules_do_not_deliver_lambda_targets_natively() -> None:
    from moto.events.models import Rule

    source = inspect.getsource(Rule.send_to_targets)
    assert '"lambda"' not in source and '"states"' not in source
