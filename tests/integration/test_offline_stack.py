"""The real template deployed into moto: what the handlers and the wiring will see."""

from __future__ import annotations

import json
from typing import Any

from offline_runtime.emulator.stack import OfflineStack


def test_buckets_carry_the_template_properties(stack: OfflineStack) -> None:
    s3 = stack.client("s3")
    raw = stack.outputs["RawBucketName"]
    assert s3.get_bucket_versioning(Bucket=raw)["Status"] == "Enabled"
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    # moto's GetBucketNotificationConfiguration omits EventBridge; its model holds it
    model = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].get_bucket(raw)
    assert model.notification_configuration.event_bridge is not None
    for name in ("RawBucketName", "CuratedBucketName", "QuarantineBucketName", "AthenaResultsBucketName"):
        bucket = stack.outputs[name]
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()), name
        assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    rules = s3.get_bucket_lifecycle_configuration(Bucket=stack.outputs["CuratedBucketName"])["Rules"]
    assert rules[0]["Filter"] == {"Prefix": "staging/"} and rules[0]["Expiration"] == {"Days": 14}


def test_function_environment_resolves_to_physical_names(stack: OfflineStack) -> None:
    env = stack.client("lambda").get_function_configuration(FunctionName=stack.physical["IngestFunction"])[
        "Environment"
    ]["Variables"]
    assert env["RAW_BUCKET"] == stack.outputs["RawBucketName"]
    assert env["CURATED_BUCKET"] == stack.outputs["CuratedBucketName"]
    assert env["EVENT_BUS_NAME"] == stack.outputs["PipelineBusName"]
    assert env["OPS_TOPIC_ARN"] == stack.outputs["OpsTopicArn"]
    assert env["GLUE_DATABASE"] == stack.stack_name.replace("-", "_")  # named after the stack
    assert env["POWERTOOLS_SERVICE_NAME"] == "ingest"  # function value over Globals
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "RetailDataPipeline"  # from Globals


def test_state_machine_definition_is_substituted(stack: OfflineStack) -> None:
    definition = stack.client("stepfunctions").describe_state_machine(
        stateMachineArn=stack.outputs["PipelineStateMachineArn"]
    )["definition"]
    assert "${" not in definition
    asl = json.loads(definition)
    fn = asl["States"]["SchemaValidation"]["Parameters"]["FunctionName"]
    assert fn == stack.function_arn("SchemaValidatorFunction")
    thresholds = asl["States"]["Init"]["Parameters"]["thresholds"]
    assert thresholds == {
        "publish.$": "States.StringToJson('0.9')",
        "enhanced.$": "States.StringToJson('0.75')",
    }


def test_rules_route_s3_objects_to_ingest_and_staged_datasets_to_the_state_machine(
    stack: OfflineStack,
) -> None:
    events = stack.client("events")
    raw_rule = events.describe_rule(Name=stack.rule_name("IngestFunctionRawObjectCreated"))
    pattern: dict[str, Any] = json.loads(raw_rule["EventPattern"])
    assert pattern["detail"]["bucket"]["name"] == [stack.outputs["RawBucketName"]]
    targets = events.list_targets_by_rule(Rule=raw_rule["Name"])["Targets"]
    assert targets[0]["Arn"] == stack.function_arn("IngestFunction")
    staged_rule = events.describe_rule(
        Name=stack.rule_name("PipelineStateMachineDatasetStaged"),
        EventBusName=stack.outputs["PipelineBusName"],
    )
    assert json.loads(staged_rule["EventPattern"]) == {
        "source": ["retail.datapipe"],
        "detail-type": ["DatasetStaged"],
    }
    targets = events.list_targets_by_rule(
        Rule=staged_rule["Name"], EventBusName=stack.outputs["PipelineBusName"]
    )["Targets"]
    assert targets[0]["Arn"] == stack.outputs["PipelineStateMachineArn"]


def test_glue_database_and_athena_workgroup_exist(stack: OfflineStack) -> None:
    assert stack.client("glue").get_database(Name=stack.outputs["GlueDatabaseName"])["Database"]
    wg = stack.client("athena").get_work_group(WorkGroup=stack.outputs["AthenaWorkGroupName"])
    assert wg["WorkGroup"]["State"] == "ENABLED"
    conf = wg["WorkGroup"]["Configuration"]
    assert conf["EnforceWorkGroupConfiguration"] is True
    assert (
        conf["ResultConfiguration"]["OutputLocation"]
        == f"s3://{stack.outputs['AthenaResultsBucketName']}/results/"
    )


def test_tls_only_bucket_policies_are_resolved_but_kept_aside(stack: OfflineStack) -> None:
    policy = stack.unapplied_bucket_policies["RawBucketPolicy"]
    resources = policy["Statement"][0]["Resource"]
    assert f"arn:aws:s3:::{stack.outputs['RawBucketName']}" in resources


def test_optional_endpoints_are_conditions(stack: OfflineStack) -> None:
    # the default deployment (no pager / e-mail parameters) has only the queue and the function
    subs = stack.client("sns").list_subscriptions_by_topic(TopicArn=stack.outputs["FraudAlertsTopicArn"])
    assert sorted(s["Protocol"] for s in subs["Subscriptions"]) == ["lambda", "sqs"]
