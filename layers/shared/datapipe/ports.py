"""What the domain needs from the outside world; ``datapipe.aws`` implements it with boto3."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass
class StoredObject:
    body: bytes
    etag: str
    version_id: str | None
    last_modified: datetime | None
    size: int


@dataclass
class StreamedObject:
    """An object being read as a stream: ``chunks`` yields its bytes in order, once."""

    chunks: Iterator[bytes]
    etag: str
    version_id: str | None
    last_modified: datetime | None
    size: int
    close: Any = field(default=None, repr=False)  # callable releasing the connection, or None


class ObjectWriter(Protocol):
    """An object written piece by piece (S3: multipart upload); nothing is visible before close."""

    def write(self, data: bytes) -> int: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class ObjectStore(Protocol):
    def open_read(self, bucket: str, key: str, version_id: str | None = None) -> StreamedObject: ...

    def open_write(self, bucket: str, key: str, content_type: str) -> ObjectWriter: ...

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
