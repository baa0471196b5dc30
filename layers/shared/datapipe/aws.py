"""boto3 adapters for the ports in ``datapipe.ports``: the only module that talks to AWS APIs."""

from __future__ import annotations

import json
from typing import Any

import boto3

from datapipe.ports import StoredObject

MAX_EVENT_ENTRIES = 10


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
