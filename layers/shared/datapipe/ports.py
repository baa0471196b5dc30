"""What the domain needs from the outside world; ``datapipe.aws`` implements it with boto3."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass
class StoredObject:
    body: bytes
    etag: str
    version_id: str | None
    last_modified: datetime | None
    size: int


class ObjectStore(Protocol):
    def get(self, bucket: str, key: str, version_id: str | None = None) -> StoredObject: ...

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None: ...

    def copy(
        self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str, src_version: str | None = None
    ) -> None: ...

    def list_keys(self, bucket: str, prefix: str) -> list[str]: ...

    def delete(self, bucket: str, keys: list[str]) -> None: ...


class EventBus(Protocol):
    def put(self, detail_type: str, detail: dict[str, Any]) -> None: ...


class Notifier(Protocol):
    def notify(self, subject: str, message: dict[str, Any], severity: str) -> None: ...
