"""Record ids unique across files within a retention window: check at the gate, claim at publish.

A row whose id an earlier run already published (a re-sent row, a late re-send under a new name)
is a duplicate: reported as such and never republished. The gate only *looks* (``seen``), so a
file the gate quarantines burns none of its ids and can be fixed and replayed; publish *claims*
(``claim``) with conditional writes, so two runs racing with the same rows publish them once.
A claim by the same run succeeds again (a retried publish), and an expired claim (older than the
retention window; DynamoDB's TTL deletes lazily) no longer counts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from datapipe.ddb import condition_failed

MAX_BATCH_GET = 100
CLAIM_WORKERS = 8  # conditional PutItems in flight per claim (the client's pool holds 10 connections)


@dataclass(frozen=True)
class ClaimResult:
    claimed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # ids another run holds


class IdRegistry(Protocol):
    def seen(self, dataset: str, ids: Sequence[str], run_id: str, now: datetime) -> dict[str, str]:
        """Ids claimed by *another* run and not expired at ``now`` -> that run's id."""
        ...

    def claim(
        self,
        dataset: str,
        ids: Sequence[str],
        run_id: str,
        now: datetime,
        retention: timedelta,
        replacing: str | None = None,
    ) -> ClaimResult:
        """Claim every id not held by another run (``replacing``: a run whose ids this run takes
        over, the one a correction replaces); say which were claimed and which were not."""
        ...

    def release(self, dataset: str, ids: Sequence[str], run_id: str) -> None:
        """Give back this run's claims (its publish failed for good), so a replay can claim them."""
        ...


def split_duplicates(table: pa.Table, column: str, duplicates: Sequence[str]) -> tuple[pa.Table, pa.Table]:
    """(rows to publish, rows that are duplicates of earlier runs), in table order."""
    if not duplicates:
        return table, table.slice(0, 0)
    dup = pc.is_in(table.column(column), value_set=pa.array(list(duplicates), type=pa.string()))
    dup = pc.fill_null(dup, False)
    return table.filter(pc.invert(dup)), table.filter(dup)


def _key(dataset: str, record_id: str) -> dict[str, Any]:
    return {"record_key": {"S": f"{dataset}#{record_id}"}}


def _epoch(at: datetime) -> int:
    return int(at.timestamp())


class DynamoIdRegistry:
    """``IdRegistry`` on a DynamoDB table (pk ``record_key`` = "dataset#id", TTL ``expires_at``).

    ``claim``: one conditional PutItem per id
    (``attribute_not_exists(record_key) OR run_id = :run OR expires_at < :now``), ``CLAIM_WORKERS``
    at a time; a failed condition names an id another run holds. Not TransactWriteItems: the ids
    need no all-or-nothing (a cancelled transaction was retried without its held ids anyway), and
    a transaction bills two write units per item, a PutItem one (claims are one write per
    published row: the largest DynamoDB line of the day).
    """

    def __init__(self, table_name: str, client: Any = None) -> None:
        import boto3

        self._db: Any = client or boto3.client("dynamodb")
        self._table = table_name

    def _claims(
        self, dataset: str, ids: Sequence[str], consistent: bool
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, stored claim) for every id that has one: BatchGetItem, 100 keys a call."""
        unique = list(dict.fromkeys(ids))
        prefix = len(dataset) + 1
        for start in range(0, len(unique), MAX_BATCH_GET):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [_key(dataset, i) for i in unique[start : start + MAX_BATCH_GET]],
                    "ProjectionExpression": "record_key, run_id, expires_at",
                    "ConsistentRead": consistent,
                }
            }
            while request:
                resp = self._db.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self._table, []):
                    yield item["record_key"]["S"][prefix:], item
                request = resp.get("UnprocessedKeys") or {}

    def seen(self, dataset: str, ids: Sequence[str], run_id: str, now: datetime) -> dict[str, str]:
        out: dict[str, str] = {}
        for record_id, item in self._claims(dataset, ids, consistent=False):
            owner = item["run_id"]["S"]
            if owner != run_id and int(item["expires_at"]["N"]) >= _epoch(now):
                out[record_id] = owner
        return out

    def claim(
        self,
        dataset: str,
        ids: Sequence[str],
        run_id: str,
        now: datetime,
        retention: timedelta,
        replacing: str | None = None,
    ) -> ClaimResult:
        from botocore.exceptions import ClientError

        condition = "attribute_not_exists(record_key) OR run_id = :run OR expires_at < :now"
        values = {":run": {"S": run_id}, ":now": {"N": str(_epoch(now))}}
        if replacing is not None:
            condition += " OR run_id = :replacing"
            values[":replacing"] = {"S": replacing}
        claimed_at, expires = str(_epoch(now)), str(_epoch(now + retention))

        def put(record_id: str) -> bool:
            """True: claimed (or already this run's); False: another run holds it."""
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item={
                        **_key(dataset, record_id),
                        "run_id": {"S": run_id},
                        "claimed_at": {"N": claimed_at},
                        "expires_at": {"N": expires},
                    },
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
                return True
            except ClientError as exc:
                if condition_failed(exc):
                    return False
                raise

        unique = list(dict.fromkeys(ids))
        if len(unique) <= 1:
            outcomes = [put(i) for i in unique]
        else:  # boto3 clients are thread-safe; a failure is raised here, after the others ended
            with ThreadPoolExecutor(max_workers=min(CLAIM_WORKERS, len(unique))) as pool:
                outcomes = list(pool.map(put, unique))
        claimed = [i for i, ok in zip(unique, outcomes, strict=True) if ok]
        duplicates = [i for i, ok in zip(unique, outcomes, strict=True) if not ok]
        return ClaimResult(claimed, duplicates)

    def release(self, dataset: str, ids: Sequence[str], run_id: str) -> None:
        """Deletes only the claims this run holds, found first with batched reads: a refused run
        usually claimed nothing, and a conditional delete that fails still costs a write. The
        delete stays conditional (a claim taken over meanwhile is left alone)."""
        from botocore.exceptions import ClientError

        mine = [i for i, item in self._claims(dataset, ids, consistent=True) if item["run_id"]["S"] == run_id]
        for record_id in mine:
            try:
                self._db.delete_item(
                    TableName=self._table,
                    Key=_key(dataset, record_id),
                    ConditionExpression="run_id = :run",
                    ExpressionAttributeValues={":run": {"S": run_id}},
                )
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
