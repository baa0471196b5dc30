"""AWS::Events::EventBus and AWS::Events::Rule (pattern or schedule, with its targets)."""

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
from offline_runtime.emulator.resources.base import as_json, client, tags_list

_TARGET_KEYS = (
    "Id",
    "Arn",
    "RoleArn",
    "Input",
    "InputPath",
    "InputTransformer",
    "RetryPolicy",
    "DeadLetterConfig",
    "SqsParameters",
    "HttpParameters",
)


def _target(target: dict[str, Any]) -> dict[str, Any]:
    out = {k: target[k] for k in _TARGET_KEYS if k in target}
    if "RetryPolicy" in out:
        out["RetryPolicy"] = {k: int(v) for k, v in out["RetryPolicy"].items()}
    if "InputTransformer" in out and isinstance(out["InputTransformer"].get("InputPathsMap"), dict):
        out["InputTransformer"] = dict(out["InputTransformer"])
    return out


@provider("AWS::Events::EventBus")
class EventBus(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        kwargs: dict[str, Any] = {"Name": props["Name"]}
        if props.get("Tags"):
            kwargs["Tags"] = tags_list(props["Tags"])
        arn = client(stack, "events").create_event_bus(**kwargs)["EventBusArn"]
        return Created(props["Name"], {"Arn": arn, "Name": props["Name"]})


@provider("AWS::Events::Rule")
class Rule(Provider):
    """Ref is the rule name, or ``<bus>|<rule>`` for a rule on a custom bus (CloudFormation's id)."""

    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        events = client(stack, "events")
        name = props.get("Name") or physical_name(stack.name, resource.logical_id, 64)
        bus = props.get("EventBusName")
        if bus and bus.startswith("arn:"):
            bus = bus.rsplit("/", 1)[-1]
        kwargs: dict[str, Any] = {"Name": name, "State": props.get("State", "ENABLED")}
        if bus:
            kwargs["EventBusName"] = bus
        if "EventPattern" in props:
            kwargs["EventPattern"] = as_json(props["EventPattern"])
        if "ScheduleExpression" in props:
            kwargs["ScheduleExpression"] = props["ScheduleExpression"]
        if props.get("Description"):
            kwargs["Description"] = props["Description"]
        if props.get("RoleArn"):
            kwargs["RoleArn"] = props["RoleArn"]
        arn = events.put_rule(**kwargs)["RuleArn"]
        targets = [_target(t) for t in props.get("Targets") or []]
        if targets:
            target_kwargs: dict[str, Any] = {"Rule": name, "Targets": targets}
            if bus:
                target_kwargs["EventBusName"] = bus
            events.put_targets(**target_kwargs)
        ref = f"{bus}|{name}" if bus and bus != "default" else name
        return Created(ref, {"Arn": arn})
