"""AWS::Scheduler::Schedule and ScheduleGroup (SAM's ScheduleV2): fired by emulator.schedules."""

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


@provider("AWS::Scheduler::ScheduleGroup")
class ScheduleGroup(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        name = props.get("Name") or physical_name(stack.name, resource.logical_id, 64)
        arn = client(stack, "scheduler").create_schedule_group(Name=name)["ScheduleGroupArn"]
        return Created(name, {"Arn": arn})


@provider("AWS::Scheduler::Schedule")
class Schedule(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        name = props.get("Name") or physical_name(stack.name, resource.logical_id, 64)
        target = dict(props["Target"])
        if "RetryPolicy" in target:
            target["RetryPolicy"] = {k: int(v) for k, v in target["RetryPolicy"].items()}
        kwargs: dict[str, Any] = {
            "Name": name,
            "ScheduleExpression": props["ScheduleExpression"],
            "FlexibleTimeWindow": {
                k: (int(v) if k == "MaximumWindowInMinutes" else v)
                for k, v in props["FlexibleTimeWindow"].items()
            },
            "Target": target,
            "State": props.get("State", "ENABLED"),
        }
        for key in (
            "GroupName",
            "ScheduleExpressionTimezone",
            "Description",
            "StartDate",
            "EndDate",
            "KmsKeyArn",
        ):
            if props.get(key):
                kwargs[key] = props[key]
        arn = client(stack, "scheduler").create_schedule(**kwargs)["ScheduleArn"]
        return Created(name, {"Arn": arn})
