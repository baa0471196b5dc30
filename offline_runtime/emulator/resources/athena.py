"""AWS::Athena::WorkGroup (its result location, encryption and enforcement honoured offline)."""

from __future__ import annotations

from typing import Any

from offline_runtime.emulator.cloudformation import Created, Provider, Resource, Stack, provider
from offline_runtime.emulator.resources.base import client, tags_list


@provider("AWS::Athena::WorkGroup")
class WorkGroup(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        configuration = dict(props.get("WorkGroupConfiguration") or {})
        if "BytesScannedCutoffPerQuery" in configuration:
            configuration["BytesScannedCutoffPerQuery"] = int(configuration["BytesScannedCutoffPerQuery"])
        for key in (
            "EnforceWorkGroupConfiguration",
            "PublishCloudWatchMetricsEnabled",
            "RequesterPaysEnabled",
        ):
            if key in configuration:
                configuration[key] = str(configuration[key]).lower() == "true"
        kwargs: dict[str, Any] = {"Name": props["Name"], "Configuration": configuration}
        if props.get("Description"):
            kwargs["Description"] = props["Description"]
        if props.get("Tags"):
            kwargs["Tags"] = tags_list(props["Tags"])
        client(stack, "athena").create_work_group(**kwargs)
        return Created(props["Name"])
