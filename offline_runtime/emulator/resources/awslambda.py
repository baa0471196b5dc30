"""AWS::Lambda::* — functions (their code stays local: the Lambda runtime imports it in-process),
layers, permissions, event-source mappings, event invoke configs, versions and aliases."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

from offline_runtime.emulator.cloudformation import (
    Created,
    Provider,
    Resource,
    Stack,
    StackError,
    physical_name,
    provider,
)
from offline_runtime.emulator.lambda_runtime import FunctionSource
from offline_runtime.emulator.resources.base import client, tags_map
from offline_runtime.emulator.template import FunctionCode, cache_dir


def tiny_zip(note: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("OFFLINE.txt", note)
    return buf.getvalue()


def _inline_code(stack: Stack, logical: str, code: str, handler: str) -> Path:
    """InlineCode / Code.ZipFile: written where the runtime can import it."""
    module = handler.rsplit(".", 1)[0].replace(".", "/")
    directory = cache_dir() / "inline" / stack.name / logical
    (directory / f"{module}.py").parent.mkdir(parents=True, exist_ok=True)
    (directory / f"{module}.py").write_text(code)
    return directory


@provider("AWS::Lambda::Function")
class Function(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        lam = client(stack, "lambda")
        logical = resource.logical_id
        name = props.get("FunctionName") or physical_name(stack.name, logical, 64)
        handler = props.get("Handler", "")
        runtime = props.get("Runtime", "python3.11")
        code = props.get("Code") or {}
        local: FunctionCode | None = stack.context.get("functions", {}).get(logical)
        if local is not None:
            code_dir = local.code_dir
        elif "ZipFile" in code:
            code_dir = _inline_code(stack, logical, code["ZipFile"], handler)
        else:
            code_dir = None  # code in S3 only: the function exists but cannot run here
        layers: list[str] = []
        external: list[str] = []
        for arn in props.get("Layers") or []:
            (layers if arn in stack.context.get("local_layer_arns", set()) else external).append(arn)
        kwargs: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": runtime,
            "Role": props["Role"],
            "Handler": handler,
            "Code": {"ZipFile": tiny_zip(f"local source: {code_dir}")},
            "Description": props.get("Description", ""),
            "Timeout": int(props.get("Timeout", 3)),
            "MemorySize": int(props.get("MemorySize", 128)),
            "Publish": False,
            "Environment": {
                "Variables": {
                    k: str(v) for k, v in ((props.get("Environment") or {}).get("Variables") or {}).items()
                }
            },
            "Layers": layers,
        }
        if props.get("Architectures"):
            kwargs["Architectures"] = props["Architectures"]
        if props.get("TracingConfig"):
            kwargs["TracingConfig"] = props["TracingConfig"]
        if props.get("DeadLetterConfig"):
            kwargs["DeadLetterConfig"] = props["DeadLetterConfig"]
        if props.get("Tags"):
            kwargs["Tags"] = tags_map(props["Tags"])
        created = lam.create_function(**kwargs)
        self._model_extras(stack, name, props)
        if props.get("ReservedConcurrentExecutions") is not None:
            lam.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=int(props["ReservedConcurrentExecutions"])
            )
        if code_dir is not None:
            stack.context.setdefault("sources", {})[name] = FunctionSource(
                logical, code_dir, handler, runtime
            )
        if external:
            stack.context.setdefault("external_layers", {})[name] = external
        return Created(name, {"Arn": created["FunctionArn"], "SnapStartResponse.ApplyOn": "None"})

    @staticmethod
    def _model_extras(stack: Stack, name: str, props: dict[str, Any]) -> None:
        """What moto's model does not keep but the runtime needs (legacy DLQ, custom log group)."""
        from moto.awslambda.utils import get_backend

        fn = get_backend(stack.account, stack.region).get_function(name)
        fn.dead_letter_config = props.get("DeadLetterConfig") or None  # type: ignore[attr-defined]
        log_group = (props.get("LoggingConfig") or {}).get("LogGroup")
        if log_group:
            fn.logs_group_name = log_group


@provider("AWS::Lambda::LayerVersion")
class LayerVersion(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        name = props.get("LayerName") or physical_name(stack.name, resource.logical_id, 64)
        kwargs: dict[str, Any] = {
            "LayerName": name,
            "Content": {"ZipFile": tiny_zip("offline layer")},
            "Description": props.get("Description", ""),
        }
        if props.get("CompatibleRuntimes"):
            kwargs["CompatibleRuntimes"] = props["CompatibleRuntimes"]
        if props.get("CompatibleArchitectures"):
            kwargs["CompatibleArchitectures"] = props["CompatibleArchitectures"]
        arn = client(stack, "lambda").publish_layer_version(**kwargs)["LayerVersionArn"]
        stack.context.setdefault("local_layer_arns", set()).add(arn)
        key = str((props.get("Content") or {}).get("S3Key", ""))  # layers/<SAM logical id>.zip
        sam_logical = key.removeprefix("layers/").removesuffix(".zip")
        local = stack.context.get("layers", {}).get(sam_logical)
        if local is not None:
            stack.context.setdefault("layer_dirs", []).append(local)
        return Created(arn, {"LayerVersionArn": arn})


@provider("AWS::Lambda::Permission")
class Permission(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        kwargs: dict[str, Any] = {
            "FunctionName": props["FunctionName"],
            "StatementId": physical_name(stack.name, resource.logical_id, 100),
            "Action": props["Action"],
            "Principal": props["Principal"],
        }
        for key in (
            "SourceArn",
            "SourceAccount",
            "EventSourceToken",
            "FunctionUrlAuthType",
            "PrincipalOrgID",
        ):
            if key in props:
                kwargs[key] = props[key]
        client(stack, "lambda").add_permission(**kwargs)
        return Created(kwargs["StatementId"])


_ESM_KEYS = (
    "EventSourceArn",
    "FunctionName",
    "BatchSize",
    "StartingPosition",
    "StartingPositionTimestamp",
    "MaximumBatchingWindowInSeconds",
    "FunctionResponseTypes",
    "BisectBatchOnFunctionError",
    "MaximumRetryAttempts",
    "MaximumRecordAgeInSeconds",
    "DestinationConfig",
    "FilterCriteria",
    "ScalingConfig",
    "Enabled",
    "ParallelizationFactor",
    "TumblingWindowInSeconds",
)


@provider("AWS::Lambda::EventSourceMapping")
class EventSourceMapping(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        kwargs = {k: props[k] for k in _ESM_KEYS if k in props}
        for key in (
            "BatchSize",
            "MaximumBatchingWindowInSeconds",
            "MaximumRetryAttempts",
            "MaximumRecordAgeInSeconds",
            "ParallelizationFactor",
        ):
            if key in kwargs:
                kwargs[key] = int(kwargs[key])
        for key in ("BisectBatchOnFunctionError", "Enabled"):
            if key in kwargs:
                kwargs[key] = str(kwargs[key]).lower() == "true"
        if "ScalingConfig" in kwargs:
            kwargs["ScalingConfig"] = {k: int(v) for k, v in kwargs["ScalingConfig"].items()}
        esm = client(stack, "lambda").create_event_source_mapping(**kwargs)
        return Created(
            esm["UUID"], {"Id": esm["UUID"], "EventSourceMappingArn": esm.get("EventSourceMappingArn", "")}
        )


@provider("AWS::Lambda::EventInvokeConfig")
class EventInvokeConfig(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        kwargs: dict[str, Any] = {"FunctionName": props["FunctionName"]}
        qualifier = props.get("Qualifier")
        if qualifier and qualifier != "$LATEST":
            kwargs["Qualifier"] = qualifier
        if "MaximumRetryAttempts" in props:
            kwargs["MaximumRetryAttempts"] = int(props["MaximumRetryAttempts"])
        if "MaximumEventAgeInSeconds" in props:
            kwargs["MaximumEventAgeInSeconds"] = int(props["MaximumEventAgeInSeconds"])
        if props.get("DestinationConfig"):
            kwargs["DestinationConfig"] = props["DestinationConfig"]
        client(stack, "lambda").put_function_event_invoke_config(**kwargs)
        return Created(f"{props['FunctionName']}-{qualifier or '$LATEST'}")


@provider("AWS::Lambda::Version")
class Version(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        out = client(stack, "lambda").publish_version(
            FunctionName=props["FunctionName"], Description=props.get("Description", "")
        )
        return Created(out["FunctionArn"], {"Version": out["Version"], "FunctionArn": out["FunctionArn"]})


@provider("AWS::Lambda::Alias")
class Alias(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        out = client(stack, "lambda").create_alias(
            FunctionName=props["FunctionName"],
            Name=props["Name"],
            FunctionVersion=str(props["FunctionVersion"]),
        )
        return Created(out["AliasArn"], {"AliasArn": out["AliasArn"]})


def require(value: Any, what: str) -> Any:
    if value is None:
        raise StackError(f"{what} is required")
    return value
