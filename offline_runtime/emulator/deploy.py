"""Deploys the real template.yaml into moto and wires what moto's CloudFormation leaves out.

Steps: parse the SAM template, point CodeUri/ContentUri at S3 and inline the state machine
definition (as `sam deploy` packaging would), translate with aws-sam-translator, create the
stack with moto's CloudFormation, then apply what moto skips: DefinitionSubstitutions, the raw
bucket's EventBridge notifications, SNS subscriptions, Lambda EventInvokeConfig destinations,
the AWS-managed layers the functions reference. Functions then run in-process
(``lambda_adapter``) and EventBridge delivers to Lambda / Step Functions (``eventbridge``).
"""

from __future__ import annotations

import copy
import io
import json
import os
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

from offline_runtime.emulator import compat as moto_compat
from offline_runtime.emulator.athena import OfflineAthena
from offline_runtime.emulator.eventbridge import EventBridgeDelivery
from offline_runtime.emulator.lambda_runtime import FunctionSource, InProcessLambdas
from offline_runtime.emulator.sns import SnsDelivery
from offline_runtime.emulator.streams import StreamPoller

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT_BUCKET = "offline-sam-artifacts"
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "core": {"service_whitelist": None},
}


class _AnyManagedPolicy(dict):  # type: ignore[type-arg]
    """samtranslator asks for managed policy ARNs by name; AWS-managed ones follow one pattern."""

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def __getitem__(self, name: str) -> str:
        return f"arn:aws:iam::aws:policy/{name}"


class _PolicyLoader:
    def load(self) -> dict[str, str]:
        return _AnyManagedPolicy()


def _tiny_zip(note: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("OFFLINE.txt", note)
    return buf.getvalue()


@dataclass
class Prepared:
    template: dict[str, Any]
    sources: dict[str, FunctionSource]  # logical id -> source
    uploads: dict[str, str]  # s3 key -> local dir
    sam_resources: dict[str, Any] = field(default_factory=dict)


def load_template(path: Path) -> dict[str, Any]:
    return yaml_parse(path.read_text())  # type: ignore[no-any-return]


def prepare(template: dict[str, Any], root: Path) -> Prepared:
    """What `sam package` does: local paths -> S3 locations; plus inline state machine JSON."""
    tpl = copy.deepcopy(template)
    globals_fn = tpl.get("Globals", {}).get("Function", {})
    sources: dict[str, FunctionSource] = {}
    uploads: dict[str, str] = {}
    for logical, res in tpl["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::Serverless::Function":
            code_uri = props.get("CodeUri", globals_fn.get("CodeUri"))
            handler = props.get("Handler", globals_fn.get("Handler"))
            key = f"code/{logical}.zip"
            uploads[key] = code_uri
            props["CodeUri"] = f"s3://{ARTIFACT_BUCKET}/{key}"
            sources[logical] = FunctionSource(logical, root / code_uri, handler)
        elif res["Type"] == "AWS::Serverless::LayerVersion":
            key = f"layers/{logical}.zip"
            uploads[key] = props["ContentUri"]
            props["ContentUri"] = f"s3://{ARTIFACT_BUCKET}/{key}"
        elif res["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            definition = json.loads((root / props.pop("DefinitionUri")).read_text())
            props["Definition"] = definition
    return Prepared(tpl, sources, uploads, template["Resources"])


def _resolve_sub(text: str, values: dict[str, str]) -> str:
    return re.sub(r"\$\{([^}!]+)\}", lambda m: values.get(m.group(1), m.group(0)), text)


class OfflineStack:
    """The template deployed into moto (call inside an active ``moto.mock_aws``)."""

    def __init__(
        self,
        root: Path = ROOT,
        region: str = "us-east-1",
        parameters: dict[str, str] | None = None,
        stack_name: str = "retail-datapipe-offline",
        echo_logs: bool = False,
    ) -> None:
        self.root = root
        self.region = region
        self.parameters = parameters or {}
        self.stack_name = stack_name
        self.echo_logs = echo_logs
        self.physical: dict[str, str] = {}
        self.resource_types: dict[str, str] = {}
        self.translated: dict[str, Any] = {}
        self.lambdas: InProcessLambdas | None = None
        self.delivery: EventBridgeDelivery | None = None
        self.sns: SnsDelivery | None = None
        self.streams: StreamPoller | None = None
        self.athena: OfflineAthena | None = None
        self.outputs: dict[str, str] = {}
        self.unapplied_bucket_policies: dict[str, Any] = {}
        self.params: dict[str, str] = {}
        self._pending_workgroups: list[dict[str, Any]] = []

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)

    # -- deploy -------------------------------------------------------------------------
    def deploy(self) -> OfflineStack:
        os.environ["AWS_DEFAULT_REGION"] = self.region  # samtranslator and handlers read it
        moto_compat.apply()
        sam = load_template(self.root / "template.yaml")
        prepared = prepare(sam, self.root)
        s3 = self.client("s3")
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        for key, local in prepared.uploads.items():
            s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=_tiny_zip(f"local source: {local}"))

        params = self._parameter_values(sam)
        self.params = params
        self.translated = transform(
            prepared.template,
            {**params, "AWS::Region": self.region, "AWS::AccountId": DEFAULT_ACCOUNT_ID},
            _PolicyLoader(),
        )
        self._create_named_resources_moto_skips(params)
        cfn = self.client("cloudformation")
        cfn.create_stack(
            StackName=self.stack_name,
            TemplateBody=json.dumps(self.translated),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in self.parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        self._wait_created(cfn)
        for res in cfn.describe_stack_resources(StackName=self.stack_name)["StackResources"]:
            # moto lists skipped types too, without ids
            if "PhysicalResourceId" in res and "LogicalResourceId" in res:
                self.physical[res["LogicalResourceId"]] = res["PhysicalResourceId"]
        for logical, res in self.translated["Resources"].items():
            self.resource_types[logical] = res["Type"]
        self._apply_definition_substitutions(params)
        self._apply_bucket_properties(params)
        self._apply_resource_policies(params)
        self._create_glue_tables(params)
        for props in self._pending_workgroups:
            resolved = self._resolve_tree(props, params)
            self.client("athena").create_work_group(
                Name=resolved["Name"], Configuration=resolved.get("WorkGroupConfiguration", {})
            )
        self._create_subscriptions(params)
        # moto re-generates some names when it renders Outputs; resolve them as CloudFormation does
        self.outputs = {
            k: self._resolve(v["Value"], params) for k, v in self.translated.get("Outputs", {}).items()
        }
        self._install_runtime(prepared)
        return self

    def _parameter_values(self, sam: dict[str, Any]) -> dict[str, str]:
        values = {k: str(v.get("Default", "")) for k, v in sam.get("Parameters", {}).items()}
        values.update(self.parameters)
        return values

    @staticmethod
    def _wait_created(cfn: Any) -> None:
        for _ in range(100):
            stacks = cfn.describe_stacks()["Stacks"]
            if all(s["StackStatus"].endswith("COMPLETE") for s in stacks):
                return
            time.sleep(0.05)

    def _create_named_resources_moto_skips(self, params: dict[str, str]) -> None:
        """Glue databases and Athena workgroups: moto's CloudFormation skips them, and other
        resources Ref them by name. Create them through their APIs and put the name in place."""
        resources = self.translated["Resources"]
        names: dict[str, str] = {}
        for logical, res in list(resources.items()):
            props = res.get("Properties", {})
            if res["Type"] == "AWS::Glue::Database":
                name = self._resolve(props["DatabaseInput"]["Name"], params)
                self.client("glue").create_database(
                    DatabaseInput={"Name": name, "Description": props["DatabaseInput"].get("Description", "")}
                )
            elif res["Type"] == "AWS::Athena::WorkGroup":
                # created once the stack exists: its result location names a stack bucket
                name = self._resolve(props["Name"], params)
                self._pending_workgroups.append(props)
            else:
                continue
            names[logical] = name
            self.physical[logical] = name
            self.resource_types[logical] = res["Type"]
            del resources[logical]

        def replace(node: Any) -> Any:
            if isinstance(node, dict):
                if set(node) == {"Ref"} and node["Ref"] in names:
                    return names[node["Ref"]]
                if "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
                    text = node["Fn::Sub"]
                    for logical, name in names.items():
                        text = text.replace("${" + logical + "}", name)
                    return {"Fn::Sub": text}
                out = {k: replace(v) for k, v in node.items()}
                if isinstance(out.get("DependsOn"), list):
                    out["DependsOn"] = [d for d in out["DependsOn"] if d not in names]
                elif out.get("DependsOn") in names:
                    out.pop("DependsOn")
                return out
            if isinstance(node, list):
                return [replace(v) for v in node]
            return node

        self.translated = replace(self.translated)

    def function_arn(self, logical: str) -> str:
        return str(
            self.client("lambda").get_function(FunctionName=self.physical[logical])["Configuration"][
                "FunctionArn"
            ]
        )

    def _apply_bucket_properties(self, params: dict[str, str]) -> None:
        """moto's CloudFormation applies a bucket's encryption only; versioning, public access
        block, ownership, lifecycle and EventBridge notifications are applied here."""
        s3 = self.client("s3")
        for logical, res in self.translated["Resources"].items():
            if res["Type"] != "AWS::S3::Bucket":
                continue
            props = self._resolve_tree(res.get("Properties", {}), params)
            bucket = self.physical[logical]
            if "VersioningConfiguration" in props:
                s3.put_bucket_versioning(
                    Bucket=bucket,
                    VersioningConfiguration={"Status": props["VersioningConfiguration"]["Status"]},
                )
            if "PublicAccessBlockConfiguration" in props:
                s3.put_public_access_block(
                    Bucket=bucket,
                    PublicAccessBlockConfiguration={
                        k: bool(v) for k, v in props["PublicAccessBlockConfiguration"].items()
                    },
                )
            if "OwnershipControls" in props:
                s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls=props["OwnershipControls"])
            rules = props.get("LifecycleConfiguration", {}).get("Rules", [])
            if rules:
                s3.put_bucket_lifecycle_configuration(
                    Bucket=bucket, LifecycleConfiguration={"Rules": [self._lifecycle_rule(r) for r in rules]}
                )
            conf = props.get("NotificationConfiguration", {})
            if conf.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
                s3.put_bucket_notification_configuration(
                    Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
                )

    @staticmethod
    def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
        """CloudFormation's lifecycle rule shape -> the S3 API's."""
        out: dict[str, Any] = {
            "ID": rule.get("Id", "rule"),
            "Status": rule["Status"],
            "Filter": {"Prefix": rule.get("Prefix", "")},
        }
        if "ExpirationInDays" in rule:
            out["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
        if "NoncurrentVersionExpiration" in rule:
            out["NoncurrentVersionExpiration"] = {
                "NoncurrentDays": int(rule["NoncurrentVersionExpiration"]["NoncurrentDays"])
            }
        return out

    def _apply_resource_policies(self, params: dict[str, str]) -> None:
        """Topic and queue policies: skipped by moto's CloudFormation, applied here.

        Bucket policies are kept aside, not applied: moto enforces a bucket policy's Deny
        statements without their Conditions, so the TLS-only policy (deny when
        aws:SecureTransport is false) would deny every request, unlike AWS.
        tests/integration/test_template.py checks those policies instead."""
        for logical, res in self.translated["Resources"].items():
            props = res.get("Properties", {})
            if res["Type"] == "AWS::S3::BucketPolicy":
                self.unapplied_bucket_policies[logical] = self._resolve_tree(props["PolicyDocument"], params)
            elif res["Type"] == "AWS::SNS::TopicPolicy":
                doc = self._resolve_tree(props["PolicyDocument"], params)
                for topic in props["Topics"]:
                    self.client("sns").set_topic_attributes(
                        TopicArn=self._resolve(topic, params),
                        AttributeName="Policy",
                        AttributeValue=json.dumps(doc),
                    )
            elif res["Type"] == "AWS::SQS::QueuePolicy":
                doc = self._resolve_tree(props["PolicyDocument"], params)
                for url in props["Queues"]:
                    self.client("sqs").set_queue_attributes(
                        QueueUrl=self._resolve(url, params), Attributes={"Policy": json.dumps(doc)}
                    )

    def _create_glue_tables(self, params: dict[str, str]) -> None:
        """AWS::Glue::Table: skipped by moto's CloudFormation, created through the Glue API."""
        for logical, res in self.translated["Resources"].items():
            if res["Type"] != "AWS::Glue::Table":
                continue
            props = self._resolve_tree(res["Properties"], params)
            self.client("glue").create_table(
                DatabaseName=props["DatabaseName"], TableInput=props["TableInput"]
            )
            self.physical[logical] = props["TableInput"]["Name"]

    def _resolve_tree(self, node: Any, params: dict[str, str]) -> Any:
        if isinstance(node, dict):
            if len(node) == 1 and next(iter(node)) in ("Ref", "Fn::GetAtt", "Fn::Sub"):
                return self._resolve(node, params)
            return {k: self._resolve_tree(v, params) for k, v in node.items()}
        if isinstance(node, list):
            return [self._resolve_tree(v, params) for v in node]
        return node

    def _resolve(self, value: Any, params: dict[str, str]) -> str:
        """Ref / GetAtt / Sub as CloudFormation would resolve them, for the values moto ignores."""
        if isinstance(value, str):
            return value
        if "Ref" in value:
            resolved = self._sub_value(value["Ref"], params)
            if resolved is None:
                raise KeyError(f"cannot resolve Ref {value['Ref']}")
            return resolved
        if "Fn::GetAtt" in value:
            logical, attr = value["Fn::GetAtt"]
            if attr == "Arn":
                kind = self.resource_types[logical]
                if kind == "AWS::Lambda::Function":
                    return self.function_arn(logical)
                if kind == "AWS::SQS::Queue":
                    url = self.physical[logical]
                    return str(
                        self.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                            "Attributes"
                        ]["QueueArn"]
                    )
                if kind == "AWS::SNS::Topic":
                    return self.physical[logical]
                if kind == "AWS::S3::Bucket":
                    return f"arn:aws:s3:::{self.physical[logical]}"
                if kind == "AWS::Events::Rule":
                    bus = self.translated["Resources"][logical]["Properties"].get("EventBusName")
                    kwargs = {"EventBusName": self._resolve(bus, params)} if bus else {}
                    return str(
                        self.client("events").describe_rule(Name=self.physical[logical], **kwargs)["Arn"]
                    )
                if kind == "AWS::DynamoDB::Table":
                    return str(
                        self.client("dynamodb").describe_table(TableName=self.physical[logical])["Table"][
                            "TableArn"
                        ]
                    )
            if attr == "StreamArn":
                return str(
                    self.client("dynamodb").describe_table(TableName=self.physical[logical])["Table"][
                        "LatestStreamArn"
                    ]
                )
            if attr == "QueueName":
                return self.physical[logical].rsplit("/", 1)[1]
            if attr == "TopicName":
                return self.physical[logical].rsplit(":", 1)[1]
            raise NotImplementedError(f"GetAtt {logical}.{attr}")
        if "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            text = value["Fn::Sub"]
            for name in re.findall(r"\$\{([^}!]+)\}", text):
                resolved = self._sub_value(name, params)
                if resolved is not None:
                    text = text.replace("${" + name + "}", resolved)
            return text
        raise NotImplementedError(f"cannot resolve {value}")

    def _sub_value(self, name: str, params: dict[str, str]) -> str | None:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::Partition": "aws",
            "AWS::AccountId": DEFAULT_ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
        }
        if name in params:
            return params[name]
        if name in pseudo:
            return pseudo[name]
        if "." in name:
            logical, attr = name.split(".", 1)
            return self._resolve({"Fn::GetAtt": [logical, attr]}, params)
        return self.physical.get(name)

    def _apply_definition_substitutions(self, params: dict[str, str]) -> None:
        """Two gaps at once. moto's CloudFormation ignores DefinitionSubstitutions, and it creates
        state machines in its non-executing Step Functions backend, while the API (configured to
        execute ASL) serves another. Re-create each machine through the API, substituted."""
        from moto.stepfunctions.models import stepfunctions_backends

        sfn = self.client("stepfunctions")
        cfn_backend = stepfunctions_backends[DEFAULT_ACCOUNT_ID][self.region]
        for logical, res in self.translated["Resources"].items():
            if res["Type"] != "AWS::StepFunctions::StateMachine":
                continue
            props = res["Properties"]
            arn = self.physical[logical]
            created = cfn_backend.describe_state_machine(arn)
            values = {
                k: self._resolve(v, params) for k, v in props.get("DefinitionSubstitutions", {}).items()
            }
            substituted = _resolve_sub(created.definition, values)
            json.loads(substituted)  # still valid JSON, or the template is wrong
            sfn.create_state_machine(
                name=created.name,
                definition=substituted,
                roleArn=created.roleArn,
                type=props.get("StateMachineType", "STANDARD"),
            )

    def _create_subscriptions(self, params: dict[str, str]) -> None:
        sns = self.client("sns")
        conditions = self._conditions(params)
        for logical, res in self.translated["Resources"].items():
            if res["Type"] != "AWS::SNS::Subscription":
                continue
            if res.get("Condition") and not conditions.get(res["Condition"], True):
                continue
            props = res["Properties"]
            attributes = {}
            for key in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy"):
                if key in props:
                    val = props[key]
                    attributes[key] = json.dumps(val) if isinstance(val, dict) else str(val).lower()
            resp = sns.subscribe(
                TopicArn=self._resolve(props["TopicArn"], params),
                Protocol=props["Protocol"],
                Endpoint=self._resolve(props["Endpoint"], params),
                Attributes=attributes,
                ReturnSubscriptionArn=True,
            )
            self.physical[logical] = resp["SubscriptionArn"]

    def _conditions(self, params: dict[str, str]) -> dict[str, bool]:
        """Evaluates the simple Equals/Not conditions this template uses."""
        out: dict[str, bool] = {}

        def ev(expr: Any) -> bool:
            if isinstance(expr, dict) and "Fn::Not" in expr:
                return not ev(expr["Fn::Not"][0])
            if isinstance(expr, dict) and "Fn::Equals" in expr:
                a, b = (
                    self._resolve(x, params) if isinstance(x, dict) else str(x) for x in expr["Fn::Equals"]
                )
                return a == b
            if isinstance(expr, dict) and "Condition" in expr:
                return out[expr["Condition"]]
            raise NotImplementedError(expr)

        for name, expr in self.translated.get("Conditions", {}).items():
            out[name] = ev(expr)
        return out

    def _on_failure_destinations(self, params: dict[str, str]) -> dict[str, str]:
        out = {}
        for res in self.translated["Resources"].values():
            if res["Type"] != "AWS::Lambda::EventInvokeConfig":
                continue
            props = res["Properties"]
            dest = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if dest:
                fn_name = self._resolve(props["FunctionName"], params)
                out[fn_name] = self._resolve(dest, params)
        return out

    def _install_runtime(self, prepared: Prepared) -> None:
        sources = {
            self.physical[logical]: src
            for logical, src in prepared.sources.items()
            if logical in self.physical
        }
        self.lambdas = InProcessLambdas(sources, self.region, echo_logs=self.echo_logs)
        from moto.awslambda.utils import get_backend

        backend = get_backend(DEFAULT_ACCOUNT_ID, self.region)
        self.lambdas.install([backend.get_function(name) for name in sources])
        params = self._parameter_values(load_template(self.root / "template.yaml"))
        self.delivery = EventBridgeDelivery(self.region, self._on_failure_destinations(params))
        self.delivery.install()
        self.sns = SnsDelivery(self.delivery)
        self.sns.install()
        self.streams = StreamPoller(self.region)
        self.streams.install()
        self.athena = OfflineAthena()
        self.athena.install()

    def teardown(self) -> None:
        if self.athena:
            self.athena.uninstall()
        if self.streams:
            self.streams.uninstall()
        if self.sns:
            self.sns.uninstall()
        if self.delivery:
            self.delivery.uninstall()
        if self.lambdas:
            self.lambdas.uninstall()

    # -- waiting ------------------------------------------------------------------------
    def running_executions(self) -> int:
        sfn = self.client("stepfunctions")
        count = 0
        for sm in sfn.list_state_machines()["stateMachines"]:
            count += len(
                sfn.list_executions(stateMachineArn=sm["stateMachineArn"], statusFilter="RUNNING")[
                    "executions"
                ]
            )
        return count

    def wait_idle(self, timeout_s: float = 600, poll_s: float = 0.2) -> None:
        """Until no EventBridge delivery is pending and no execution is running, twice in a row."""
        deadline = time.monotonic() + timeout_s
        quiet = 0
        while time.monotonic() < deadline:
            if (
                (self.delivery is None or self.delivery.idle)
                and (self.streams is None or self.streams.idle)
                and self.running_executions() == 0
            ):
                quiet += 1
                if quiet >= 2:
                    return
            else:
                quiet = 0
            time.sleep(poll_s)
        raise TimeoutError(f"pipeline still busy after {timeout_s}s")
