"""The audit trail: every business event, one JSON line per object, laid out for Athena.

``audit/detail_type=<type>/event_date=<yyyy-mm-dd>/<event id>.json`` under the curated bucket,
read through the ``pipeline_events`` Glue table (JSON SerDe, partitioned by detail_type and
event_date). Keys are the event ids, so a redelivered event overwrites itself.
"""

from __future__ import annotations

import json
import re
from typing import Any

AUDIT_PREFIX = "audit/"
AUDIT_TABLE = "pipeline_events"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def partition_values(event: dict[str, Any]) -> tuple[str, str]:
    return _SAFE.sub("_", str(event["detail-type"])), str(event["time"])[:10]


def audit_key(event: dict[str, Any]) -> str:
    detail_type, day = partition_values(event)
    return f"{AUDIT_PREFIX}detail_type={detail_type}/event_date={day}/{_SAFE.sub('_', str(event['id']))}.json"


def audit_line(event: dict[str, Any]) -> bytes:
    """One line: Athena's JSON SerDe reads one object per line; detail stays a JSON string so the
    table's schema does not change with every event type (query it with json_extract_scalar)."""
    record = {
        "id": event["id"],
        "source": event["source"],
        "time": event["time"],
        "detail": json.dumps(event.get("detail", {}), separators=(",", ":"), default=str),
    }
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"
