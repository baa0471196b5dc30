"""Alerts and events within the services' size limits: the full payload to S3, a pointer in its place.

SNS messages and EventBridge entries are refused above 256 KB (262,144 bytes); and what they carry
is wrapped again on delivery (the SNS envelope of a Lambda or SQS subscriber, the EventBridge
event that invokes a function asynchronously, itself limited to 256 KB). A payload is therefore
kept under ``BUDGET_BYTES``: when its JSON is larger, the whole payload is written to S3 once
(the key is its SHA-256, so a retry writes the same object) and what is sent is a preview of it
(short values kept, long strings and lists cut, fields dropped largest first if needed) plus
``truncated: true`` and ``full_payload`` naming the object.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from datapipe.ports import ObjectStore

SERVICE_LIMIT_BYTES = 262_144  # SNS Publish / PublishBatch request, EventBridge PutEvents entry
BUDGET_BYTES = 240 * 1024  # leaves room for the envelopes added on delivery
_MAX_STRING = 1024
_MAX_ITEMS = 20
_MAX_KEYS = 50
_MAX_KEY = 128
_MAX_DEPTH = 4
_RESERVED = ("truncated", "full_payload", "omitted_fields")

Serialise = Callable[[Any], str]


def compact_json(obj: Any) -> str:
    return json.dumps(obj, default=str, separators=(",", ":"))


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


class PayloadTooLarge(ValueError):
    """A payload over its budget where nothing can take the full version (no offload configured)."""


def _preview(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return value if len(value) <= _MAX_STRING else f"{value[:_MAX_STRING]}… [{len(value)} characters]"
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            return f"{{… {len(value)} fields}}"
        items = list(value.items())
        out = {str(k)[:_MAX_KEY]: _preview(v, depth + 1) for k, v in items[:_MAX_KEYS]}
        if len(items) > _MAX_KEYS:
            out["…"] = f"{len(items) - _MAX_KEYS} more fields"
        return out
    if isinstance(value, (list, tuple)):
        if depth >= _MAX_DEPTH:
            return [f"… {len(value)} items"]
        head = [_preview(v, depth + 1) for v in value[:_MAX_ITEMS]]
        return head + ([f"… {len(value) - _MAX_ITEMS} more items"] if len(value) > _MAX_ITEMS else [])
    return value


def shrink(
    payload: dict[str, Any], budget: int, pointer: dict[str, Any], serialise: Serialise = compact_json
) -> dict[str, Any]:
    """A preview of ``payload`` whose serialised form fits ``budget`` bytes and names where the
    full payload is (``pointer``). Scalars and short strings survive; what cannot fit is listed in
    ``omitted_fields``."""
    preview = _preview(payload)
    body: dict[str, Any] = {k: v for k, v in preview.items() if k not in _RESERVED}
    omitted: list[str] = []

    def assembled() -> dict[str, Any]:
        out = {**body, "truncated": True, "full_payload": pointer}
        if omitted:
            out["omitted_fields"] = omitted
        return out

    while body and utf8_size(serialise(assembled())) > budget:
        largest = max(body, key=lambda k: utf8_size(serialise(body[k])))
        omitted.append(largest)
        del body[largest]
    result = assembled()
    if utf8_size(serialise(result)) > budget:  # only a pathological pointer could get here
        raise PayloadTooLarge(f"even the pointer to the full payload exceeds {budget} bytes")
    return result


class PayloadOffload:
    """Writes full payloads that are too large to send to ``s3://<bucket>/<prefix>...``."""

    def __init__(self, store: ObjectStore, bucket: str, prefix: str = "oversize/") -> None:
        self._store = store
        self._bucket = bucket
        self._prefix = prefix

    def save(self, kind: str, body: str, now: datetime | None = None) -> dict[str, Any]:
        data = body.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        day = (now or datetime.now(UTC)).strftime("%Y/%m/%d")
        safe_kind = "".join(c if c.isalnum() or c in "-_/" else "_" for c in kind).strip("/")
        key = f"{self._prefix}{safe_kind}/{day}/{digest}.json"
        self._store.put(self._bucket, key, data, "application/json")
        return {
            "bucket": self._bucket,
            "key": key,
            "uri": f"s3://{self._bucket}/{key}",
            "bytes": len(data),
            "sha256": digest,
        }


def fit(
    payload: dict[str, Any],
    budget: int,
    kind: str,
    offload: PayloadOffload | None,
    serialise: Serialise = compact_json,
) -> tuple[dict[str, Any], str]:
    """(payload to send, its serialised text): ``payload`` itself when it fits ``budget``, else
    the full text is offloaded and a shrunk preview with a pointer is returned."""
    text = serialise(payload)
    if utf8_size(text) <= budget:
        return payload, text
    if offload is None:
        raise PayloadTooLarge(
            f"{kind}: {utf8_size(text)} bytes over the {budget}-byte budget and no bucket to offload to"
        )
    pointer = offload.save(kind, text)
    small = shrink(payload, budget, pointer, serialise)
    return small, serialise(small)
