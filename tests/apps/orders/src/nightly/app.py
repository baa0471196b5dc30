"""Scheduled job (EventBridge Scheduler, local time zone): records when it was scheduled to run."""

from __future__ import annotations

from typing import Any

from orders_lib import table


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    table().put_item(Item={"pk": f"nightly#{event['scheduled']}", "job": event["job"]})
    return event
