"""boto3 adapters: the only module (with ``datapipe.inventory.dynamo``) that talks to AWS APIs.

Handlers never import boto3: they build these adapters once per execution environment (a
``functools.cache`` factory in each handler) and call them. Every adapter makes its own client
unless one is passed (tests). Adapters that send alerts or events keep each payload within the
services' limits (``datapipe.payloads``): an oversize payload goes to S3 and a pointer is sent.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3

from datapipe.payloads import BUDGET_BYTES, SERVICE_LIMIT_BYTES, PayloadOffload, compact_json, fit, utf8_size
from datapipe.ports import StoredObject, StreamedObject

MAX_EVENT_ENTRIES = 10
_SNS_SUBJECT_LIMIT = 100
READ_CHUNK_BYTES = 1024**2
MULTIPART_PART_BYTES = 8 * 1024**2  # S3's minimum part is 5 MiB (except the last)


def _client(service: str, client: Any) -> Any:
    return client if client is not None else boto3.client(service)  # type: ignore[call-overload]


def _table(name: str, resource: Any) -> Any:
    return (resource if resource is not None else boto3.resource("dynamodb")).Table(name)


def _put_if_absent(table: Any, item: dict[str, Any], key: str) -> bool:
    """True when the item was written, False when an item with that key already existed."""
    try:
        table.put_item(Item=item, ConditionExpression=f"attribute_not_exists({key})")
        return True
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return False


# ---------------------------------------------------------------------------- S3
class S3ObjectStore:
    def __init__(self, client: Any = None) -> None:
        self._s3: Any = _client("s3", client)

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


# ---------------------------------------------------------------------------- EventBridge
class PutEventsFailed(RuntimeError):
    pass


class EventBridgeBus:
    """PutEvents, one entry per call; a detail over the budget is offloaded and truncated."""

    def __init__(
        self, bus_name: str, source: str, offload: PayloadOffload | None = None, client: Any = None
    ) -> None:
        self._events: Any = _client("events", client)
        self._bus = bus_name
        self._source = source
        self._offload = offload

    def put(self, detail_type: str, detail: dict[str, Any]) -> None:
        # EventBridge counts Source, DetailType, Detail and 14 bytes of Time towards an entry's size
        overhead = utf8_size(self._source) + utf8_size(detail_type) + 14
        _, text = fit(detail, BUDGET_BYTES - overhead, f"events/{detail_type}", self._offload)
        resp = self._events.put_events(
            Entries=[
                {"EventBusName": self._bus, "Source": self._source, "DetailType": detail_type, "Detail": text}
            ]
        )
        if resp.get("FailedEntryCount"):
            raise PutEventsFailed(f"{detail_type} not accepted by {self._bus}: {resp['Entries']}")


# ---------------------------------------------------------------------------- SNS
def _subject(text: str) -> str:
    """SNS subjects: printable ASCII, no line breaks, at most 100 characters."""
    clean = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return clean[:_SNS_SUBJECT_LIMIT] or "(no subject)"


def _attribute_bytes(attributes: dict[str, dict[str, str]]) -> int:
    """SNS counts each attribute's name, data type and value towards the message size."""
    return sum(
        utf8_size(name) + utf8_size(a.get("DataType", "")) + utf8_size(a.get("StringValue", ""))
        for name, a in attributes.items()
    )


def _indented(obj: Any) -> str:
    return json.dumps(obj, default=str, indent=2)


def _topic_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


class SnsNotifier:
    """Operator alerts: a subject, a JSON message (indented for e-mail) and a severity attribute."""

    def __init__(self, topic_arn: str, offload: PayloadOffload | None = None, client: Any = None) -> None:
        self._sns: Any = _client("sns", client)
        self._topic = topic_arn
        self._offload = offload

    def notify(self, subject: str, message: dict[str, Any], severity: str) -> None:
        attributes = {"severity": {"DataType": "String", "StringValue": severity}}
        clean_subject = _subject(subject)
        budget = BUDGET_BYTES - utf8_size(clean_subject) - _attribute_bytes(attributes)
        _, text = fit(message, budget, f"sns/{_topic_name(self._topic)}", self._offload, _indented)
        self._sns.publish(
            TopicArn=self._topic, Subject=clean_subject, Message=text, MessageAttributes=attributes
        )


@dataclass(frozen=True)
class Alert:
    """One message for ``SnsBatchPublisher``: its id (for failures), body and attributes."""

    id: str
    message: dict[str, Any]
    attributes: dict[str, dict[str, str]]


class SnsBatchPublisher:
    """PublishBatch in chunks of at most ten entries and 256 KB (the API's limits); each message
    within its budget. Returns the ids of the entries SNS did not accept."""

    def __init__(self, topic_arn: str, offload: PayloadOffload | None = None, client: Any = None) -> None:
        self._sns: Any = _client("sns", client)
        self._topic = topic_arn
        self._offload = offload

    def publish(self, alerts: list[Alert]) -> list[str]:
        entries = [self._entry(a) for a in alerts]
        failed: list[str] = []
        for chunk in _chunks(entries):
            resp = self._sns.publish_batch(
                TopicArn=self._topic, PublishBatchRequestEntries=[e for _, e, _ in chunk]
            )
            by_entry = {e["Id"]: alert_id for alert_id, e, _ in chunk}
            failed.extend(by_entry[f["Id"]] for f in resp.get("Failed", []))
        return failed

    def _entry(self, alert: Alert) -> tuple[str, dict[str, Any], int]:
        budget = BUDGET_BYTES - _attribute_bytes(alert.attributes)
        _, text = fit(alert.message, budget, f"sns/{_topic_name(self._topic)}", self._offload)
        entry = {"Id": _entry_id(alert.id), "Message": text, "MessageAttributes": alert.attributes}
        return alert.id, entry, utf8_size(text) + _attribute_bytes(alert.attributes)


def _chunks(entries: list[tuple[str, dict[str, Any], int]]) -> list[list[tuple[str, dict[str, Any], int]]]:
    chunks: list[list[tuple[str, dict[str, Any], int]]] = []
    current: list[tuple[str, dict[str, Any], int]] = []
    size = 0
    for entry in entries:
        if current and (len(current) == MAX_EVENT_ENTRIES or size + entry[2] > SERVICE_LIMIT_BYTES):
            chunks.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry[2]
    if current:
        chunks.append(current)
    return chunks


def _entry_id(value: str) -> str:
    """PublishBatch entry ids: up to 80 alphanumerics, hyphens or underscores."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in value)[:80]


# ---------------------------------------------------------------------------- Glue / Athena
class GluePartitions:
    """Registers partitions of a Glue table once per process (AlreadyExists is success)."""

    def __init__(self, database: str, table: str, client: Any = None) -> None:
        self._glue: Any = _client("glue", client)
        self._database = database
        self._table = table
        self._known: set[tuple[str, ...]] = set()
        self._descriptor: dict[str, Any] | None = None
        self._keys: list[str] = []

    def ensure(self, values: list[str]) -> None:
        key = tuple(values)
        if key in self._known:
            return
        if self._descriptor is None:
            table = self._glue.get_table(DatabaseName=self._database, Name=self._table)["Table"]
            self._descriptor = table["StorageDescriptor"]
            self._keys = [k["Name"] for k in table.get("PartitionKeys", [])]
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


class GlueCatalog:
    """Which tables a Glue database holds (a report asks before it queries)."""

    def __init__(self, database: str, client: Any = None) -> None:
        self._glue: Any = _client("glue", client)
        self._database = database

    def table_names(self) -> set[str]:
        names: set[str] = set()
        for page in self._glue.get_paginator("get_tables").paginate(DatabaseName=self._database):
            names.update(t["Name"] for t in page.get("TableList", []))
        return names


class AthenaQueries:
    """SQL through Athena (awswrangler, imported on first query: only the reports need it)."""

    def __init__(self, database: str, workgroup: str) -> None:
        self._database = database
        self._workgroup = workgroup

    def run(self, sql: str) -> list[dict[str, Any]]:
        import awswrangler as wr

        frame = wr.athena.read_sql_query(
            sql,
            database=self._database,
            workgroup=self._workgroup,
            ctas_approach=False,
            unload_approach=False,
        )
        frame = frame.astype(object).where(frame.notna(), None)  # NaN/NA -> None for JSON and CSV
        return list(frame.to_dict("records"))


# ---------------------------------------------------------------------------- DynamoDB: fraud
def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB resource items hold Decimals; callers get floats/ints back."""
    out: dict[str, Any] = {}
    for k, v in item.items():
        if isinstance(v, Decimal):
            out[k] = int(v) if v == v.to_integral_value() else float(v)
        else:
            out[k] = v
    return out


@dataclass(frozen=True)
class AlertClaim:
    """What a claim decided: ``outcome`` NEW | ESCALATED | NOT_HIGHER; ``supersedes``: the severity
    already published for the transaction, which this alert replaces (None when nothing was)."""

    outcome: str
    supersedes: str | None = None

    @property
    def to_publish(self) -> bool:
        return self.outcome != "not_higher"


_ALERT_NUMBERS_AND_TIME = ("amount", "event_time", "amount_usd", "local_hour")


class FraudAlerts:
    """The FraudAlerts table (key transaction_id): one claim per transaction that both escalates
    and keeps the alert's full record (raw ids) for case management, which reads the ids here
    (the SNS message carries masked ids only).

    A claim stores the alert at its severity (``severity_rank``); ``sent_rank`` records what SNS
    accepted (``confirm``). A claim succeeds when the transaction has no alert, a lower one, or
    one at this severity that was never sent: a retry after a failed or interrupted publish
    claims again and sends, instead of finding its own claim and skipping (the outbox is the item
    itself). A lower or equal severity already sent is NOT_HIGHER and is not re-sent."""

    def __init__(self, table_name: str, resource: Any = None) -> None:
        self._table: Any = _table(table_name, resource)

    def claim(self, alert: Any, source: str) -> AlertClaim:
        """``alert``: a ``FraudAlert``; ``source``: "dataset" or "realtime"."""
        from datapipe.fraud.rules import ALERT_TEXT_FIELDS, SEVERITIES  # numpy: the fraud functions only

        rank = SEVERITIES.index(alert.severity)
        values: dict[str, Any] = {
            "severity": alert.severity,
            "severity_rank": rank,
            "score": str(alert.score),
            "rules": list(alert.rules),
            "reasons": list(alert.reasons),
            "source": source,
        }
        for name in (*ALERT_TEXT_FIELDS, *_ALERT_NUMBERS_AND_TIME):
            value = getattr(alert, name, None)
            if value is not None:
                values[name] = Decimal(str(value)) if isinstance(value, float) else value
        names = {f"#a{i}": k for i, k in enumerate(values)}
        expression = "SET " + ", ".join(f"#a{i} = :a{i}" for i in range(len(values)))
        try:
            resp = self._table.update_item(
                Key={"transaction_id": alert.transaction_id},
                UpdateExpression=expression,
                ConditionExpression="attribute_not_exists(transaction_id) OR #a1 < :a1 "
                "OR (#a1 = :a1 AND (attribute_not_exists(sent_rank) OR sent_rank < :a1))",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={f":a{i}": v for i, v in enumerate(values.values())},
                ReturnValues="ALL_OLD",
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return AlertClaim("not_higher")
        old = resp.get("Attributes") or {}
        sent = old.get("sent_rank")
        if sent is None:
            return AlertClaim("new")
        return AlertClaim("escalated", SEVERITIES[int(sent)])

    def confirm(self, alert: Any) -> None:
        """SNS accepted the alert: its severity is the one sent (never lowered)."""
        from datapipe.fraud.rules import SEVERITIES  # numpy: the fraud functions only

        rank = SEVERITIES.index(alert.severity)
        # a higher severity sent meanwhile keeps its rank: the condition fails, nothing to do
        with contextlib.suppress(self._table.meta.client.exceptions.ConditionalCheckFailedException):
            self._table.update_item(
                Key={"transaction_id": alert.transaction_id},
                UpdateExpression="SET sent_rank = :r, sent_severity = :s",
                ConditionExpression="attribute_not_exists(sent_rank) OR sent_rank < :r",
                ExpressionAttributeValues={":r": rank, ":s": alert.severity},
            )

    def get(self, transaction_id: str) -> dict[str, Any] | None:
        item = self._table.get_item(Key={"transaction_id": transaction_id}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None


def alert_message(alert: Any, claim: AlertClaim) -> dict[str, Any]:
    """The SNS body of a claimed alert: masked ids, and what it supersedes when it escalates."""
    message: dict[str, Any] = alert.to_message()
    if claim.supersedes is not None:
        message["supersedes"] = claim.supersedes
    return message


def alert_from_record(record: dict[str, Any], transaction_id: str, severity: str) -> Any:
    """A ``FraudAlert`` from the stored record (what case management adds to a case)."""
    from datapipe.fraud.rules import FraudAlert, alert_texts

    return FraudAlert(
        transaction_id=transaction_id,
        amount=str(record["amount"]) if record.get("amount") is not None else "",
        event_time=None if record.get("event_time") is None else str(record["event_time"]),
        **alert_texts(record),
        score=float(record.get("score") or 0.0),
        severity=severity,
        rules=tuple(str(r) for r in record.get("rules") or ()),
        reasons=tuple(str(r) for r in record.get("reasons") or ()),
    )


# ---------------------------------------------------------------------------- DynamoDB: orders
class PurchaseOrders:
    """The PurchaseOrders table (key po_id): one order per crossing, whatever the redeliveries."""

    def __init__(self, table_name: str, resource: Any = None) -> None:
        self._table: Any = _table(table_name, resource)

    def create(self, order: dict[str, Any]) -> bool:
        """False when the order exists already."""
        return _put_if_absent(self._table, order, "po_id")


__all__ = [
    "MAX_EVENT_ENTRIES",
    "Alert",
    "AlertClaim",
    "AthenaQueries",
    "EventBridgeBus",
    "FraudAlerts",
    "GlueCatalog",
    "GluePartitions",
    "PayloadOffload",
    "PurchaseOrders",
    "PutEventsFailed",
    "S3ObjectStore",
    "SnsBatchPublisher",
    "SnsNotifier",
    "alert_from_record",
    "alert_message",
    "compact_json",
]
