"""The emulator's own boto3 clients: one per service and region while a stack is deployed.

Deliveries (EventBridge targets, destinations, schedules) and the stack facade call AWS through
boto3 like any caller, so fault injection and payload limits apply to them; a new client per
delivery cost ~30 ms of botocore set-up each, more than the call. The clients belong to the
deployment: moto gives every offline account a new default session, so they are dropped at
teardown (and at deploy, should a previous stack have died without one)."""

from __future__ import annotations

import threading
from typing import Any

import boto3

from offline_runtime.emulator.patches import CallbackPatch, Patch

_clients: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def client(service: str, region: str) -> Any:
    key = (service, region)
    with _lock:
        found = _clients.get(key)
    if found is None:
        make: Any = boto3.client  # the service name is data here, not a literal
        found = make(service, region_name=region)
        with _lock:
            found = _clients.setdefault(key, found)
    return found


def clear() -> None:
    with _lock:
        _clients.clear()


def patch() -> Patch:
    return CallbackPatch(clear, clear, "the emulator's clients belong to one deployment")
