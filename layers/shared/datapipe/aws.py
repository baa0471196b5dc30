"""boto3 adapters for the ports in ``datapipe.ports``: the only module that talks to AWS APIs."""

from __future__ import annotations

import json
from typing import Any

import boto3

from datapipe.ports import StoredObject, StreamedObject

MAX_EVENT_ENTRIES = 10
READ_CHUNK_BYTES = 1024**2
MULTIPART_PART_BYTES = 8 * 1024**2  # S3's minimum part is 5 MiB (except the last)


class S3ObjectStore:
    def __init__(self, client: Any = None) -> None:
        self._s3: Any = client or boto3.client("s3")

    def get(self, bucket: str, key: str, version_id: str | None = None) -> StoredObject:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        resp = self._s3.get_object(**kwargs)
        body = resp["Body"].read()
        return StoredObject(
            body=body,
            etag=str(resp.get("ETag", "")).strip('"'),
            version_id=resp.get("VersionId"),
            last_modified=resp.get("LastModified"),
            size=len(body),
        )

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self._s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def open_read(self, bucket: str, key: str, version_id: str | None = None) -> StreamedObject:
        """GetObject with its body streamed in 1 MiB chunks (never read whole)."""
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            kwargs["VersionId"] = version_id
        resp = self._s3.get_object(**kwargs)
        body = resp["Body"]
        return StreamedObject(
            chunks=iter(body.iter_chunks(chunk_size=READ_CHUNK_BYTES)),
            etag=str(resp.get("ETag", "")).strip('"'),
            version_id=resp.get("VersionId"),
            last_modified=resp.get("LastModified"),
            size=int(resp.get("ContentLength", 0)),
            close=body.close,
        )

    def open_write(self, bucket: str, key: str, content_type: str) -> S3StreamWriter:
        return S3StreamWriter(self._s3, bucket, key, content_type)

    def copy(
        self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str, src_version: str | None = None
    ) -> None:
        source: dict[str, Any] = {"Bucket": src_bucket, "Key": src_key}
        if src_version:
            source["VersionId"] = src_version
        self._s3.copy_object(CopySource=source, Bucket=dst_bucket, Key=dst_key)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
        return keys

    def delete(self, bucket: str, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            self._s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )


class S3StreamWriter:
    """Writes an object in parts: one PutObject when it stays under a part, else a multipart
    upload of 8 MiB parts (memory: one part), completed at close, aborted on abort."""

    def __init__(self, client: Any, bucket: str, key: str, content_type: str) -> None:
        self._s3, self._bucket, self._key, self._type = client, bucket, key, content_type
        self._buf = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._done = False

    def write(self, data: bytes) -> int:
        self._buf += data
        while len(self._buf) >= MULTIPART_PART_BYTES:
            self._upload(bytes(self._buf[:MULTIPART_PART_BYTES]))
            del self._buf[:MULTIPART_PART_BYTES]
        return len(data)

    def _upload(self, body: bytes) -> None:
        if self._upload_id is None:
            self._upload_id = self._s3.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType=self._type
            )["UploadId"]
        number = len(self._parts) + 1
        resp = self._s3.upload_part(
            Bucket=self._bucket, Key=self._key, UploadId=self._upload_id, PartNumber=number, Body=body
        )
        self._parts.append({"PartNumber": number, "ETag": resp["ETag"]})

    def close(self) -> None:
        if self._done:
            return
        if self._upload_id is None:
            self._s3.put_object(
                Bucket=self._bucket, Key=self._key, Body=bytes(self._buf), ContentType=self._type
            )
        else:
            if self._buf:
                self._upload(bytes(self._buf))
            self._s3.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buf.clear()
        self._done = True

    def abort(self) -> None:
        if self._done:
            return
        if self._upload_id is not None:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
        self._buf.clear()
        self._done = True


class PutEventsFailed(RuntimeError):
    pass


class EventBridgeBus:
    def __init__(self, bus_name: str, source: str, client: Any = None) -> None:
        self._events: Any = client or boto3.client("events")
        self._bus = bus_name
        self._source = source

    def put(self, detail_type: str, detail: dict[str, Any]) -> None:
        resp = self._events.put_events(
            Entries=[
                {
                    "EventBusName": self._bus,
                    "Source": self._source,
                    "DetailType": detail_type,
                    "Detail": json.dumps(detail, default=str),
                }
            ]
        )
        if resp.get("FailedEntryCount"):
            raise PutEventsFailed(f"{detail_type} not accepted by {self._bus}: {resp['Entries']}")


class SnsNotifier:
    def __init__(self, topic_arn: str, client: Any = None) -> None:
        self._sns: Any = client or boto3.client("sns")
        self._topic = topic_arn

    def notify(self, subject: str, message: dict[str, Any], severity: str) -> None:
        self._sns.publish(
            TopicArn=self._topic,
            Subject=subject[:100],
            Message=json.dumps(message, default=str, indent=2),
            MessageAttributes={"severity": {"DataType": "String", "StringValue": severity}},
        )


class GluePartitions:
    """Registers partitions of a Glue table once per process (AlreadyExists is success)."""

    def __init__(self, database: str, table: str, client: Any = None) -> None:
        self._glue: Any = client or boto3.client("glue")
        self._database = database
        self._table = table
        self._known: set[tuple[str, ...]] = set()
        self._descriptor: dict[str, Any] | None = None

    def ensure(self, values: list[str]) -> None:
        key = tuple(values)
        if key in self._known:
            return
        if self._descriptor is None:
            table = self._glue.get_table(DatabaseName=self._database, Name=self._table)["Table"]
            self._descriptor = table["StorageDescriptor"]
            self._keys = [k["Name"] for k in table.get("PartitionKeys", [])]
        assert self._descriptor is not None
        location = (
            self._descriptor["Location"].rstrip("/")
            + "/"
            + "/".join(f"{k}={v}" for k, v in zip(self._keys, values, strict=True))
            + "/"
        )
        descriptor = {**self._descriptor, "Location": location}
        resp = self._glue.batch_create_partition(
            DatabaseName=self._database,
            TableName=self._table,
            PartitionInputList=[{"Values": values, "StorageDescriptor": descriptor}],
        )
        for err in resp.get("Errors", []):
            if err.get("ErrorDetail", {}).get("ErrorCode") != "AlreadyExistsException":
                raise RuntimeError(f"cannot register partition {values} of {self._table}: {err}")
        self._known.add(key)


class AlertClaims:
    """At most one alert per transaction: a conditional put claims the transaction id first."""

    def __init__(self, table_name: str, resource: Any = None) -> None:
        self._table: Any = (resource or boto3.resource("dynamodb")).Table(table_name)

    def claim(self, transaction_id: str, severity: str, score: float, source: str) -> bool:
        try:
            self._table.put_item(
                Item={
                    "transaction_id": transaction_id,
                    "severity": severity,
                    "score": str(score),
                    "source": source,
                },
                ConditionExpression="attribute_not_exists(transaction_id)",
            )
            return True
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False

    def release(self, transaction_id: str) -> None:
        """Undo a claim whose alert could not be published, so a retry can publish it."""
        self._table.delete_item(Key={"transaction_id": transaction_id})


class SnsBatchPublisher:
    """PublishBatch in chunks of ten (the API's limit); raises if any entry failed."""

    def __init__(self, topic_arn: str, client: Any = None) -> None:
        self._sns: Any = client or boto3.client("sns")
        self._topic = topic_arn

    def publish(self, messages: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[str]:
        """messages: (id, message dict, message attributes). Returns the ids that failed."""
        failed: list[str] = []
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            resp = self._sns.publish_batch(
                TopicArn=self._topic,
                PublishBatchRequestEntries=[
                    {"Id": _entry_id(i), "Message": json.dumps(m, default=str), "MessageAttributes": a}
                    for i, m, a in chunk
                ],
            )
            by_entry = {_entry_id(i): i for i, _, _ in chunk}
            failed.extend(by_entry[f["Id"]] for f in resp.get("Failed", []))
        return failed


def _entry_id(value: str) -> str:
    """PublishBatch entry ids: up to 80 alphanumerics, hyphens or underscores."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in value)[:80]
