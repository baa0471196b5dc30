"""AWS::SSM::Parameter."""

from __future__ import annotations

from typing import Any

from offline_runtime.emulator.cloudformation import (
    Created,
    Provider,
    Resource,
    Stack,
    physical_name,
    provider,
)
from offline_runtime.emulator.resources.base import client


@provider("AWS::SSM::Parameter")
class Parameter(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        name = props.get("Name") or physical_name(stack.name, resource.logical_id, 128)
        kwargs: dict[str, Any] = {
            "Name": name,
            "Value": str(props["Value"]),
            "Type": props.get("Type", "String"),
        }
        if props.get("Description"):
            kwargs["Description"] = props["Description"]
        client(stack, "ssm").put_parameter(**kwargs)
        return Created(name, {"Type": kwargs["Type"], "Value": kwargs["Value"]})
