"""Delivery guarantees kept on one DynamoDB table (pk ``pk``), each item keyed explicitly.

* ``content#<dataset>#<sha256>``: the run that first staged these bytes (ingest). The same bytes
  under any other key, by multipart or under SSE-KMS (ETags that are no content hash), are a
  DUPLICATE of that run, never a second copy. A refused or failed run gives the claim back, so the
  same bytes can be replayed after a fix.
* ``publish#<run>``: the publish attempt that holds the run (a lease), so two publishes of one run
  never both write.
* ``live#<dataset>#<source key>``: the run whose rows are live for that source object. A new run
  from the same key with other bytes is a *correction*: its rows replace the live run's.

Conditional writes only (no read-modify-write), so every claim is safe under concurrency and a
retry of the same run finds its own claims and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from datapipe.ddb import condition_failed

CONTENT_RETENTION = timedelta(days=400)  # as long as a re-send can plausibly come back
PUBLISH_LEASE = timedelta(minutes=15)  # > the publish function's timeout (600 s)


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


@dataclass(frozen=True)
class ContentOwner:
    """Who staged these bytes first: a pointer for the DUPLICATE outcome."""

    run_id: str
    source_key: str
    claimed_at: str


class DeliveryLedger:
    def __init__(self, table_name: str, client: Any = None) -> None:
        import boto3

        self._db: Any = client or boto3.client("dynamodb")
        self._table = table_name

    # ------------------------------------------------------------------ content identity
    @staticmethod
    def _content_key(dataset: str, sha256: str) -> dict[str, Any]:
        return {"pk": {"S": f"content#{dataset}#{sha256}"}}

    def claim_content(
        self, dataset: str, sha256: str, run_id: str, source_key: str, now: datetime
    ) -> ContentOwner | None:
        """None when these bytes are this run's (first seen, or a retry of the same run); else the
        run that holds them."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._content_key(dataset, sha256),
                    "run_id": {"S": run_id},
                    "source_key": {"S": source_key},
                    "claimed_at": {"S": now.isoformat()},
                    "expires_at": {"N": str(_epoch(now + CONTENT_RETENTION))},
                },
                ConditionExpression="attribute_not_exists(pk) OR run_id = :run",
                ExpressionAttributeValues={":run": {"S": run_id}},
            )
            return None
        except Exception as exc:
            if not condition_failed(exc):
                raise
        owner = self.content_owner(dataset, sha256)
        if owner is None:  # released between the two calls: try once more
            return self.claim_content(dataset, sha256, run_id, source_key, now)
        return owner

    def content_owner(self, dataset: str, sha256: str) -> ContentOwner | None:
        item = self._db.get_item(
            TableName=self._table, Key=self._content_key(dataset, sha256), ConsistentRead=True
        ).get("Item")
        if item is None:
            return None
        return ContentOwner(item["run_id"]["S"], item["source_key"]["S"], item["claimed_at"]["S"])

    def release_content(self, dataset: str, sha256: str, run_id: str) -> None:
        """Give the bytes back (the run was refused or failed); only this run's claim is removed."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=self._content_key(dataset, sha256),
                ConditionExpression="run_id = :run",
                ExpressionAttributeValues={":run": {"S": run_id}},
            )
        except Exception as exc:
            if not condition_failed(exc):
                raise

    # ------------------------------------------------------------------ publish claims
    def acquire_publish(
        self, run_id: str, owner: str, now: datetime, lease: timedelta = PUBLISH_LEASE
    ) -> bool:
        """True when ``owner`` holds the run's publish (free, expired, or already its own)."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"publish#{run_id}"},
                    "owner": {"S": owner},
                    "lease_until": {"N": str(_epoch(now + lease))},
                    "expires_at": {"N": str(_epoch(now + lease + timedelta(days=1)))},
                },
                ConditionExpression="attribute_not_exists(pk) OR lease_until < :now OR #o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": {"N": str(_epoch(now))}, ":owner": {"S": owner}},
            )
            return True
        except Exception as exc:
            if not condition_failed(exc):
                raise
            return False

    def release_publish(self, run_id: str, owner: str) -> None:
        try:
            self._db.delete_item(
                TableName=self._table,
                Key={"pk": {"S": f"publish#{run_id}"}},
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except Exception as exc:
            if not condition_failed(exc):
                raise

    # ------------------------------------------------------------------ live run per source object
    @staticmethod
    def _live_key(dataset: str, source_key: str) -> dict[str, Any]:
        return {"pk": {"S": f"live#{dataset}#{source_key}"}}

    def live_run(self, dataset: str, source_key: str) -> str | None:
        item = self._db.get_item(
            TableName=self._table, Key=self._live_key(dataset, source_key), ConsistentRead=True
        ).get("Item")
        return None if item is None else str(item["run_id"]["S"])

    def set_live(
        self, dataset: str, source_key: str, run_id: str, previous: str | None, now: datetime
    ) -> bool:
        """Switch the source object's live run from ``previous`` to ``run_id``; False when it is
        no longer ``previous`` (another correction switched it meanwhile)."""
        condition = "attribute_not_exists(pk) OR run_id = :run"
        values: dict[str, Any] = {":run": {"S": run_id}}
        if previous is not None:
            condition += " OR run_id = :previous"
            values[":previous"] = {"S": previous}
        try:
            self._db.put_item(
                TableName=self._table,
                Item={
                    **self._live_key(dataset, source_key),
                    "run_id": {"S": run_id},
                    "switched_at": {"S": now.isoformat()},
                    **({"replaced": {"S": previous}} if previous else {}),
                },
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
            return True
        except Exception as exc:
            if not condition_failed(exc):
                raise
            return False


__all__ = ["CONTENT_RETENTION", "PUBLISH_LEASE", "ContentOwner", "DeliveryLedger"]
