"""In-memory implementations of the domain's own ports (``datapipe.ports``) for unit tests.

These are not fakes of AWS APIs: they implement the small ObjectStore / EventBus / Notifier
protocols the domain defines, and record what was done to them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import pytest

from datapipe.ports import StoredObject, StreamedObject


class MemoryStore:
    """ObjectStore over a dict; versions are kept so a versioned get can be checked."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.content_types: dict[tuple[str, str], str] = {}
        self.gets: list[tuple[str, str, str | None]] = []

    def add(
        self,
        bucket: str,
        key: str,
        body: bytes,
        version_id: str | None = "v1",
        last_modified: datetime | None = None,
        etag: str | None = None,
    ) -> None:
        if etag is None:
            etag = hashlib.md5(body).hexdigest()  # an ETag, as S3 computes it for a single-part put
        self.objects[(bucket, key)] = StoredObject(body, etag, version_id, last_modified, len(body))

    def get(self, bucket: str, key: str, version_id: str | None = None) -> StoredObject:
        self.gets.append((bucket, key, version_id))
        obj = self.objects[(bucket, key)]
        if version_id is not None and obj.version_id != version_id:
            raise KeyError(f"{bucket}/{key}@{version_id}")
        return obj

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self.add(bucket, key, body, version_id=None)
        self.content_types[(bucket, key)] = content_type

    def open_read(self, bucket: str, key: str, version_id: str | None = None) -> StreamedObject:
        obj = self.get(bucket, key, version_id)
        step = 64 * 1024  # small pieces, so that streaming code paths are exercised
        chunks = iter([obj.body[i : i + step] for i in range(0, len(obj.body), step)])
        return StreamedObject(chunks, obj.etag, obj.version_id, obj.last_modified, obj.size)

    def open_write(self, bucket: str, key: str, content_type: str) -> MemoryWriter:
        return MemoryWriter(self, bucket, key, content_type)

    def copy(
        self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str, src_version: str | None = None
    ) -> None:
        src = self.get(src_bucket, src_key, src_version)
        self.add(dst_bucket, dst_key, src.body, version_id=None, last_modified=src.last_modified)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))

    def delete(self, bucket: str, keys: list[str]) -> None:
        for key in keys:
            self.objects.pop((bucket, key), None)

    def body(self, bucket: str, key: str) -> bytes:
        return self.objects[(bucket, key)].body

    def keys(self, bucket: str) -> list[str]:
        return self.list_keys(bucket, "")


class MemoryWriter:
    """Streaming write: the object appears at close (as a multipart upload completes), or never."""

    def __init__(self, store: MemoryStore, bucket: str, key: str, content_type: str) -> None:
        self._store, self._bucket, self._key, self._type = store, bucket, key, content_type
        self._parts: list[bytes] = []
        self.done = False

    def write(self, data: bytes) -> int:
        assert not self.done, "write after close/abort"
        self._parts.append(bytes(data))
        return len(data)

    def close(self) -> None:
        if not self.done:
            self._store.put(self._bucket, self._key, b"".join(self._parts), self._type)
            self.done = True

    def abort(self) -> None:
        self.done = True


class RecordingBus:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def put(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.events.append((detail_type, detail))


class RecordingNotifier:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any], str]] = []

    def notify(self, subject: str, message: dict[str, Any], severity: str) -> None:
        self.messages.append((subject, message, severity))


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()
