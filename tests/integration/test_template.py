"""template.yaml and the ASL, read as documents: the properties production depends on."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
ASL = json.loads((ROOT / "statemachine" / "pipeline.asl.json").read_text())


def of_type(kind: str) -> dict[str, Any]:
    return {k: v for k, v in RESOURCES.items() if v["Type"] == kind}


def test_layout_is_the_agreed_one() -> None:
    top = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
    required = {
        "template.yaml",
        "samconfig.toml",
        "functions",
        "layers",
        "events",
        "statemachine",
        "tests",
        "offline_runtime",
        "docs",
        "README.md",
        "Makefile",
        "pyproject.toml",
        "requirements-dev.txt",
        "requirements-iac.txt",  # checkov's own venv (make iac): its boto3 pin conflicts with the dev venv's
    }
    assert required <= top
    assert top - required <= {"out"}, f"unexpected top-level entries: {top - required - {'out'}}"


@pytest.mark.parametrize("bucket", sorted(of_type("AWS::S3::Bucket")))
def test_every_bucket_is_encrypted_private_and_tls_only(bucket: str) -> None:
    props = RESOURCES[bucket]["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert all(props["PublicAccessBlockConfiguration"].values())
    policies = [
        p["Properties"]
        for p in of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert len(policies) == 1, f"{bucket} needs exactly one bucket policy"
    (statement,) = policies[0]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_raw_bucket_is_versioned_and_notifies_eventbridge() -> None:
    raw = RESOURCES["RawBucket"]["Properties"]
    assert raw["VersioningConfiguration"]["Status"] == "Enabled"
    assert raw["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True


def test_gate_thresholds_are_parameters_not_literals() -> None:
    subs = RESOURCES["PipelineStateMachine"]["Properties"]["DefinitionSubstitutions"]
    assert subs["PublishThreshold"] == {"Ref": "PublishThreshold"}
    assert subs["EnhancedThreshold"] == {"Ref": "EnhancedThreshold"}
    gate = ASL["States"]["QualityGate"]["Choices"]
    assert {c.get("NumericGreaterThanEqualsPath") for c in gate} >= {
        "$.thresholds.publish",
        "$.thresholds.enhanced",
    }
    text = json.dumps(ASL)
    assert not re.search(r"\b0\.(9|90|75)\b", text), "threshold literal in the ASL"
    placeholders = set(re.findall(r"\$\{(\w+)\}", text))
    assert placeholders == set(subs), "every ${Placeholder} is substituted and vice versa"


def test_every_lambda_task_retries_with_backoff_and_is_caught() -> None:
    def tasks(states: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        out = []
        for name, st in states.items():
            if st["Type"] == "Task":
                out.append((name, st))
            for branch in st.get("Branches", []):
                out.extend(tasks(branch["States"]))
        return out

    for name, st in tasks(ASL["States"]):
        assert st.get("Retry"), f"{name} has no Retry"
        assert all(r["BackoffRate"] >= 2 for r in st["Retry"]), name
        in_branch = name in ("ContentQuality", "BusinessRules", "SourceHistory")
        in_failure_path = name in ("AlertOps", "AlertOpsQuarantined", "EmitFailureQuarantined")
        if not (in_branch or in_failure_path):
            assert st.get("Catch"), f"{name} has no Catch"
    assert ASL["States"]["ParallelChecks"]["Catch"]


def test_every_state_is_reachable_and_every_next_exists() -> None:
    states = ASL["States"]
    targets = {ASL["StartAt"]}
    for st in states.values():
        targets.update(filter(None, [st.get("Next"), st.get("Default")]))
        targets.update(c["Next"] for c in st.get("Choices", []))
        targets.update(c["Next"] for c in st.get("Catch", []))
    assert targets <= set(states)
    assert set(states) - targets == set(), f"unreachable: {set(states) - targets}"


def test_execution_ends_by_emitting_published_or_quarantined() -> None:
    states = ASL["States"]
    assert states["EmitPublished"]["Parameters"]["Entries"][0]["DetailType"] == "DatasetPublished"
    assert states["EmitPublished"]["Next"] == "Published"
    assert states["EmitQuarantined"]["Parameters"]["Entries"][0]["DetailType"] == "DatasetQuarantined"
    assert states["EmitFailureQuarantined"]["Next"] == "PipelineFailed"


@pytest.mark.parametrize("fn", sorted(of_type("AWS::Serverless::Function")))
def test_function_has_log_retention_scoped_policies_and_existing_handler(fn: str) -> None:
    props = RESOURCES[fn]["Properties"]
    log_groups = [
        r["Properties"]
        for r in of_type("AWS::Logs::LogGroup").values()
        if r["Properties"]["LogGroupName"] == {"Fn::Sub": f"/aws/lambda/${{{fn}}}"}
    ]
    assert log_groups and log_groups[0]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for policy in props.get("Policies", []):
        assert "Statement" in policy or any(isinstance(v, dict) for v in policy.values()), policy
        for stmt in policy.get("Statement", []):
            assert stmt["Resource"] != "*", f"{fn}: unscoped statement {stmt}"
    module, func = props["Handler"].rsplit(".", 1)
    source = (ROOT / props["CodeUri"] / f"{module}.py").read_text()
    names = {n.name for n in ast.parse(source).body if isinstance(n, ast.FunctionDef)}
    assert func in names, f"{fn}: handler {props['Handler']} not defined in {props['CodeUri']}"
    extra = {p.name for p in (ROOT / props["CodeUri"]).iterdir()} - {
        "app.py",
        "requirements.txt",
        "__pycache__",
    }
    assert not extra, f"{props['CodeUri']} holds more than app.py: {extra}"


def test_awswrangler_layer_is_built_from_parameter_and_region() -> None:
    for fn in ("IngestFunction", "PublishFunction"):
        layers = RESOURCES[fn]["Properties"]["Layers"]
        managed = [x for x in layers if isinstance(x, dict) and "Fn::Sub" in x]
        assert managed, fn
        arn = managed[0]["Fn::Sub"]
        assert "${AWS::Region}" in arn and "${AwsSdkPandasLayerVersion}" in arn
        assert "${AwsSdkPandasLayerAccount}" in arn


def test_no_handler_imports_heavy_libraries_it_does_not_need() -> None:
    for fn in ("ingest", "validators", "quarantine"):
        source = (ROOT / "functions" / fn / "app.py").read_text()
        assert "awswrangler" not in source and "pandas" not in source, fn


def test_shared_layer_is_built_by_sam_with_python311() -> None:
    layer = RESOURCES["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "python3.11"
    assert layer["Properties"]["ContentUri"] == "layers/shared"
    assert TEMPLATE["Globals"]["Function"]["Runtime"] == "python3.11"


def test_samconfig_has_default_dev_and_prod() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert {"default", "dev", "prod"} <= set(config)
    assert 'Stage="prod"' in config["prod"]["deploy"]["parameters"]["parameter_overrides"]


HANDLER_SOURCES = sorted((ROOT / "functions").glob("*/app.py"))


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _module_assignments(tree: ast.Module) -> dict[str, ast.expr]:
    return {
        t.id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }


@pytest.mark.parametrize("app", HANDLER_SOURCES, ids=lambda p: p.parent.name)
def test_every_handler_has_the_one_shape(app: Path) -> None:
    tree = ast.parse(app.read_text())
    imports = _imports(tree)
    # no AWS SDK in a handler: every AWS call goes through datapipe's adapters
    assert not {i for i in imports if i.split(".")[0] in ("boto3", "botocore")}, app
    # observability from the shared module, not Logger()/Tracer()/Metrics() of its own
    assert "datapipe.observability" in imports, app
    assert not {"Logger", "Tracer", "Metrics"} & {
        a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names
    }, app
    # settings: the function's own class, built at import
    assigned = _module_assignments(tree)
    settings = assigned.get("settings")
    assert isinstance(settings, ast.Call) and isinstance(settings.func, ast.Attribute), app
    assert settings.func.attr == "from_env" and ast.unparse(settings.func.value).endswith("Settings"), app
    assert ast.unparse(settings.func.value) != "Settings", f"{app}: the all-variables Settings"
    # clients once per execution environment, through functools.cache factories only
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in ("adapters", "store", "deps"):
            assert [ast.unparse(d) for d in node.decorator_list] == ["cache"], f"{app}: {node.name}"
    assert "global" not in app.read_text(), app
    # every entry point the template names wears the one decorator stack
    code_uri = f"functions/{app.parent.name}"
    entry_points = {
        r["Properties"]["Handler"].rsplit(".", 1)[1]
        for r in of_type("AWS::Serverless::Function").values()
        if r["Properties"]["CodeUri"] == code_uri
    }
    defined = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert entry_points and entry_points <= set(defined), app
    for name in entry_points:
        assert [ast.unparse(d) for d in defined[name].decorator_list] == ["obs.handler"], f"{app}: {name}"


SENDS = ("EventBridgePutEventsPolicy", "SNSPublishMessagePolicy")


def _oversize_writable(props: dict[str, Any]) -> bool:
    for policy in props.get("Policies", []):
        if "S3CrudPolicy" in policy and policy["S3CrudPolicy"] == {"BucketName": {"Ref": "QuarantineBucket"}}:
            return True
        for stmt in policy.get("Statement", []):
            resources = stmt["Resource"] if isinstance(stmt["Resource"], list) else [stmt["Resource"]]
            if (
                stmt["Action"] in ("s3:PutObject", ["s3:PutObject"])
                and {"Fn::Sub": "${QuarantineBucket.Arn}/oversize/*"} in resources
            ):
                return True
    return False


@pytest.mark.parametrize("fn", sorted(of_type("AWS::Serverless::Function")))
def test_a_function_that_sends_alerts_or_events_can_write_their_oversize_payloads(fn: str) -> None:
    props = RESOURCES[fn]["Properties"]
    sends = any(key in policy for policy in props.get("Policies", []) for key in SENDS)
    assert _oversize_writable(props) or not sends, f"{fn} publishes but cannot offload to oversize/"


def test_case_management_can_read_the_stored_alerts_it_opens_cases_on() -> None:
    policies = RESOURCES["CaseManagementFunction"]["Properties"]["Policies"]
    assert {"DynamoDBReadPolicy": {"TableName": {"Ref": "FraudAlertsTable"}}} in policies


# -- parking places, alarms and key (issue 8 parts 1 and 6) ---------------------------------------
ASYNC_EVENT_TYPES = {"EventBridgeRule", "SNS", "Schedule", "S3"}  # event sources that invoke asynchronously


def _logical(value: Any) -> str | None:
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return str(att[0] if isinstance(att, list) else att.split(".")[0])
    return None


def test_notify_and_emit_states_retry_then_alert_ops() -> None:
    states = ASL["States"]
    for name in ("NotifyQuarantine", "EmitPublished", "EmitQuarantined"):
        (retry,) = states[name]["Retry"]
        assert retry["ErrorEquals"] == ["States.TaskFailed"] and retry["MaxAttempts"] >= 2, name
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "AlertOps"}
        ]
    for name in ("AlertOps", "AlertOpsQuarantined", "EmitFailureQuarantined"):
        assert states[name]["Retry"][0]["ErrorEquals"] == ["States.TaskFailed"], name
    alert = states["AlertOps"]
    assert alert["Resource"] == "arn:aws:states:::sns:publish" and alert["Next"] == "PipelineFailed"
    assert alert["Parameters"]["TopicArn"] == "${OpsTopicArn}"
    assert alert["Parameters"]["MessageAttributes"]["severity"]["StringValue"] == "CRITICAL"


@pytest.mark.parametrize("fn", sorted(of_type("AWS::Serverless::Function")))
def test_every_asynchronously_invoked_function_parks_its_failures_in_a_queue(fn: str) -> None:
    props = RESOURCES[fn]["Properties"]
    events = props.get("Events", {}).values()
    if not any(e["Type"] in ASYNC_EVENT_TYPES for e in events):
        return  # invoked synchronously (state machine) or by a mapping (its own on-failure / DLQ)
    on_failure = props["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure["Type"] == "SQS"
    assert RESOURCES[_logical(on_failure["Destination"]) or ""]["Type"] == "AWS::SQS::Queue"


def _rule_targets() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for fn, res in of_type("AWS::Serverless::Function").items():
        for name, event in res["Properties"].get("Events", {}).items():
            if event["Type"] == "EventBridgeRule":
                out.append((f"{fn}.{name}", event["Properties"]))
    for name, event in RESOURCES["PipelineStateMachine"]["Properties"].get("Events", {}).items():
        out.append((f"PipelineStateMachine.{name}", event["Properties"]))
    for rule, res in of_type("AWS::Events::Rule").items():
        out.extend((f"{rule}.{t['Id']}", t) for t in res["Properties"]["Targets"])
    return out


@pytest.mark.parametrize("target", _rule_targets(), ids=lambda t: t[0])
def test_every_eventbridge_target_retries_then_parks(target: tuple[str, dict[str, Any]]) -> None:
    _, props = target
    assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert RESOURCES[_logical(props["DeadLetterConfig"]["Arn"]) or ""]["Type"] == "AWS::SQS::Queue"


def test_every_sns_subscription_has_a_redrive_policy() -> None:
    subscriptions = {k: v["Properties"] for k, v in of_type("AWS::SNS::Subscription").items()}
    for fn, res in of_type("AWS::Serverless::Function").items():
        for name, event in res["Properties"].get("Events", {}).items():
            if event["Type"] == "SNS":
                subscriptions[f"{fn}.{name}"] = event["Properties"]
    assert len(subscriptions) >= 7
    for name, props in subscriptions.items():
        dlq = _logical(props["RedrivePolicy"]["deadLetterTargetArn"])
        assert RESOURCES[dlq or ""]["Type"] == "AWS::SQS::Queue", name


PARKING_KEYS = 'deadLetterTargetArn|DeadLetterConfig": \\{"Arn|Destination'  # where a hop names its queue


def _parking_places() -> set[str]:
    """Queues named as a dead letter / on-failure destination anywhere in the template."""
    text = json.dumps(RESOURCES)
    return {
        q
        for q in of_type("AWS::SQS::Queue")
        if re.search(rf'"({PARKING_KEYS})": \{{"Fn::GetAtt": \["{q}", "Arn"\]', text)
    }


def test_every_queue_is_redriven_or_is_a_watched_parking_place() -> None:
    places = _parking_places()
    alarmed = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::GetAtt"][0]
        for a in of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"
    }
    for queue, res in of_type("AWS::SQS::Queue").items():
        if queue in places:
            assert queue in alarmed, f"{queue} parks messages but no alarm watches it"
        else:
            assert res["Properties"]["RedrivePolicy"]["maxReceiveCount"] >= 2, queue
    assert len(places) >= 12


def test_every_queue_that_services_send_to_only_accepts_this_stacks_sources() -> None:
    policies = of_type("AWS::SQS::QueuePolicy").values()
    assert policies
    for policy in policies:
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Effect"] == "Allow" and "Service" in statement.get("Principal", {}):
                condition = json.dumps(statement["Condition"])
                assert "aws:SourceArn" in condition, statement.get("Sid")


@pytest.mark.parametrize("fn", sorted(of_type("AWS::Serverless::Function")))
def test_every_function_has_errors_and_throttles_alarms_to_ops(fn: str) -> None:
    watched = {
        a["Properties"]["MetricName"]
        for a in of_type("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("Dimensions") == [{"Name": "FunctionName", "Value": {"Ref": fn}}]
        and a["Properties"]["AlarmActions"] == [{"Ref": "OpsTopic"}]
    }
    assert watched - {"Duration"} == {"Errors", "Throttles"}  # Duration: ingest's p95 alarm (operations)


def test_every_alarm_notifies_ops_with_its_severity_first_in_the_text() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    machine = {
        a["Properties"]["MetricName"]
        for a in alarms.values()
        if a["Properties"].get("Namespace") == "AWS/States"
    }
    assert machine == {"ExecutionsFailed", "ExecutionsTimedOut"}
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "OpsTopic"}], name
        text = props["AlarmDescription"]
        text = text["Fn::Sub"] if isinstance(text, dict) else text  # a threshold named in the text
        assert re.match(r"(CRITICAL|HIGH|WARNING): ", text), name
    # alarm notifications carry no message attributes: the pager filters on the message body
    pager = RESOURCES["OpsPagerSubscription"]["Properties"]
    assert pager["FilterPolicyScope"] == "MessageBody"
    assert pager["FilterPolicy"]["AlarmDescription"] == [{"prefix": "CRITICAL:"}]


def test_topics_use_the_customer_managed_key_that_eventbridge_and_cloudwatch_may_use() -> None:
    for topic, res in of_type("AWS::SNS::Topic").items():
        assert res["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["NotificationsKey", "Arn"]}, topic
    key = RESOURCES["NotificationsKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    services = {
        s["Principal"]["Service"]
        for s in key["KeyPolicy"]["Statement"]
        if "Service" in s["Principal"] and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(s["Action"])
    }
    assert services >= {"events.amazonaws.com", "cloudwatch.amazonaws.com"}


@pytest.mark.parametrize(
    "table",
    [
        "MovementLedgerTable",
        "FraudAlertsTable",
        "AccountProfilesTable",
        "CardActivityTable",
        "FraudCasesTable",
    ],
)
def test_tables_that_cannot_be_rebuilt_have_point_in_time_recovery(table: str) -> None:
    spec = RESOURCES[table]["Properties"]["PointInTimeRecoverySpecification"]
    assert spec["PointInTimeRecoveryEnabled"] is True


def test_curated_bucket_is_versioned() -> None:
    assert RESOURCES["CuratedBucket"]["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"


def test_quarantine_expiry_follows_its_parameter() -> None:
    (rule,) = [
        r
        for r in RESOURCES["QuarantineBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
        if r["Id"] == "ExpireQuarantine"
    ]
    assert rule["ExpirationInDays"] == {"Ref": "QuarantineRetentionDays"}
