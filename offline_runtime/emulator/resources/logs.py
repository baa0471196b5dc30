"""AWS::Logs::LogGroup (with its retention)."""

from __future__ import annotations

import contextlib
from typing import Any

from offline_runtime.emulator.cloudformation import (
    Created,
    Provider,
    Resource,
    Stack,
    physical_name,
    provider,
)
from offline_runtime.emulator.resources.base import client, tags_map


@provider("AWS::Logs::LogGroup")
class LogGroup(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        logs = client(stack, "logs")
        name = props.get("LogGroupName") or physical_name(stack.name, resource.logical_id, 512)
        kwargs: dict[str, Any] = {"logGroupName": name}
        if props.get("KmsKeyId"):
            kwargs["kmsKeyId"] = props["KmsKeyId"]
        if props.get("Tags"):
            kwargs["tags"] = tags_map(props["Tags"])
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(**kwargs)  # the Lambda runtime may have made a function's group first
        if props.get("RetentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        return Created(name, {"Arn": f"arn:aws:logs:{stack.region}:{stack.account}:log-group:{name}:*"})
