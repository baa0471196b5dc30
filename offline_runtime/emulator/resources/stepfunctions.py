"""AWS::StepFunctions::StateMachine: created through the API moto serves with execution enabled.

moto's CloudFormation creates state machines in its non-executing backend and ignores
``DefinitionSubstitutions``; here the definition is substituted as CloudFormation does and created
where executions really run the ASL.
"""

from __future__ import annotations

import json
import re
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
from offline_runtime.emulator.resources.base import client, tags_list

_PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")


def substitute(definition: str, values: dict[str, Any]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(values[name]) if name in values else match.group(0)

    return _PLACEHOLDER.sub(replace, definition)


@provider("AWS::StepFunctions::StateMachine")
class StateMachine(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        sfn = client(stack, "stepfunctions")
        name = props.get("StateMachineName") or physical_name(stack.name, resource.logical_id, 80)
        definition = self._definition(stack, props)
        definition = substitute(definition, props.get("DefinitionSubstitutions") or {})
        try:
            json.loads(definition)
        except ValueError as exc:
            raise StackError(
                f"{resource.logical_id}: definition is not valid JSON after substitution: {exc}"
            ) from exc
        kwargs: dict[str, Any] = {
            "name": name,
            "definition": definition,
            "roleArn": props["RoleArn"],
            "type": props.get("StateMachineType", "STANDARD"),
        }
        if props.get("Tags"):
            kwargs["tags"] = [{"key": t["Key"], "value": t["Value"]} for t in tags_list(props["Tags"])]
        if props.get("TracingConfiguration"):
            kwargs["tracingConfiguration"] = {
                "enabled": str(props["TracingConfiguration"].get("Enabled")).lower() == "true"
            }
        arn = sfn.create_state_machine(**kwargs)["stateMachineArn"]
        stack.context.setdefault("state_machine_logging", {})[name] = props.get("LoggingConfiguration")
        return Created(arn, {"Arn": arn, "Name": name, "StateMachineRevisionId": ""})

    @staticmethod
    def _definition(stack: Stack, props: dict[str, Any]) -> str:
        if props.get("DefinitionString"):
            return str(props["DefinitionString"])
        location = props.get("DefinitionS3Location")
        if location:
            kwargs = {"Bucket": location["Bucket"], "Key": location["Key"]}
            if location.get("Version"):
                kwargs["VersionId"] = location["Version"]
            body: bytes = client(stack, "s3").get_object(**kwargs)["Body"].read()
            text = body.decode()
            if location["Key"].endswith((".yaml", ".yml")):
                import yaml

                text = json.dumps(yaml.safe_load(text))
            return text
        return json.dumps(props.get("Definition") or {})
