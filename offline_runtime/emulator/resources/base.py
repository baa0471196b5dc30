"""What providers share: boto3 clients for the stack's region and small property helpers."""

from __future__ import annotations

import json
from typing import Any

import boto3

from offline_runtime.emulator.cloudformation import Stack


def client(stack: Stack, service: str) -> Any:
    """One client per service for the whole deployment (making a client costs ~30 ms)."""
    clients: dict[str, Any] = stack.context.setdefault("clients", {})
    if service not in clients:
        make: Any = boto3.client  # the service name is data here, not a literal
        clients[service] = make(service, region_name=stack.region)
    return clients[service]


def tags_list(tags: Any) -> list[dict[str, str]]:
    """CloudFormation tags (list of Key/Value, or a SAM map) as the API's list."""
    if isinstance(tags, dict):
        return [{"Key": str(k), "Value": str(v)} for k, v in tags.items()]
    return [{"Key": str(t["Key"]), "Value": str(t["Value"])} for t in tags or []]


def tags_map(tags: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags_list(tags)}


def as_json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def boolean(value: Any) -> bool:
    return str(value).lower() == "true" if not isinstance(value, bool) else value
