"""The banking tables on DynamoDB: end-of-day control, the customer-portal balances, and the
register of regulatory reports. Every write is conditional or keyed so that a redelivered event,
a retried invocation or two concurrent runs leave one result.

* ``EndOfDayControl`` (pk ``business_date``): one item per business day (status BLOCKED or
  CLOSED, the version of its balances, the digest of their content, the reconciliation status,
  attempts, restatements, whether the close was announced), and one ``LEDGER`` item (the first
  and last closed day). A close is recorded only over the version it was computed from
  (optimistic concurrency): a second writer of the same version loses and reports "already closed".
* ``PortalBalances`` (pk ``account_id``, sk ``business_date``): the mobile app's balance of each
  account per business day; the latest item is the current balance. Items are put whole (same
  key, same content on a retry), versions in order (end of day runs one at a time).
* ``ReportRegister`` (pk ``report_id``, e.g. ``daily#2026-11-30``): each report's issued version,
  the fingerprint of its inputs, the location and checksums of its files, or why it is blocked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import ClientError

from datapipe.ddb import condition_failed

LEDGER_KEY = "LEDGER"
CLOSED = "CLOSED"
BLOCKED = "BLOCKED"
ISSUED = "ISSUED"


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@dataclass
class DayRecord:
    business_date: date
    status: str
    version: int = 0
    digest: str = ""
    reconciliation: str = ""
    announced: bool = False
    attempts: int = 0
    summary_key: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> DayRecord:
        item = _plain(item)
        known = {
            "business_date",
            "status",
            "version",
            "digest",
            "reconciliation",
            "announced",
            "attempts",
            "summary_key",
        }
        return cls(
            business_date=date.fromisoformat(item["business_date"]),
            status=str(item.get("status", "")),
            version=int(item.get("version", 0)),
            digest=str(item.get("digest", "")),
            reconciliation=str(item.get("reconciliation", "")),
            announced=bool(item.get("announced", False)),
            attempts=int(item.get("attempts", 0)),
            summary_key=str(item.get("summary_key", "")),
            detail={k: v for k, v in item.items() if k not in known},
        )


@dataclass(frozen=True)
class Ledger:
    first_day: date
    last_day: date


class EndOfDayControl:
    def __init__(self, table_name: str, resource: Any = None) -> None:
        self._table: Any = (resource or boto3.resource("dynamodb")).Table(table_name)

    def get(self, day: date) -> DayRecord | None:
        item = self._table.get_item(Key={"business_date": day.isoformat()}, ConsistentRead=True).get("Item")
        return DayRecord.from_item(item) if item else None

    def ledger(self) -> Ledger | None:
        item = self._table.get_item(Key={"business_date": LEDGER_KEY}, ConsistentRead=True).get("Item")
        if not item:
            return None
        return Ledger(date.fromisoformat(item["first_day"]), date.fromisoformat(item["last_day"]))

    def extend_ledger(self, day: date) -> None:
        """The ledger starts at its first closed day; ``last_day`` only moves forward."""
        try:
            self._table.put_item(
                Item={"business_date": LEDGER_KEY, "first_day": day.isoformat(), "last_day": day.isoformat()},
                ConditionExpression="attribute_not_exists(business_date)",
            )
            return
        except ClientError as exc:
            if not condition_failed(exc):
                raise
        try:
            self._table.update_item(
                Key={"business_date": LEDGER_KEY},
                UpdateExpression="SET last_day = :d",
                ConditionExpression="last_day < :d",
                ExpressionAttributeValues={":d": day.isoformat()},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    def record_blocked(self, day: date, missing: list[dict[str, Any]], at: datetime, trigger: str) -> int:
        """One more blocked attempt (never over a closed day); returns the attempt count."""
        try:
            resp = self._table.update_item(
                Key={"business_date": day.isoformat()},
                UpdateExpression=(
                    "SET #s = :blocked, #m = :missing, last_attempt_at = :at, last_trigger = :trigger "
                    "ADD attempts :one"
                ),
                ConditionExpression="attribute_not_exists(#s) OR #s <> :closed",
                ExpressionAttributeNames={"#s": "status", "#m": "missing"},
                ExpressionAttributeValues={
                    ":blocked": BLOCKED,
                    ":closed": CLOSED,
                    ":missing": missing,
                    ":at": at.isoformat(),
                    ":trigger": trigger,
                    ":one": 1,
                },
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return 0  # closed meanwhile
            raise
        return int(resp["Attributes"].get("attempts", 1))

    def record_closed(self, day: date, version: int, fields: dict[str, Any]) -> bool:
        """Version ``version`` of the day, over version ``version - 1`` (or none); False when
        another run recorded it first."""
        expected = version - 1
        item = {
            **fields,
            "business_date": day.isoformat(),
            "status": CLOSED,
            "version": version,
            "announced": False,
            "closed_at": _now(),
        }
        condition = "attribute_not_exists(version) OR version = :expected"
        if expected > 0:
            condition = "version = :expected"
        try:
            self._table.put_item(
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeValues={":expected": expected},
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def mark_announced(self, day: date, version: int) -> None:
        try:
            self._table.update_item(
                Key={"business_date": day.isoformat()},
                UpdateExpression="SET announced = :t",
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":t": True, ":v": version},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise


class PortalBalances:
    def __init__(self, table_name: str, resource: Any = None) -> None:
        self._table: Any = (resource or boto3.resource("dynamodb")).Table(table_name)

    def write(self, items: list[dict[str, Any]]) -> int:
        with self._table.batch_writer(overwrite_by_pkeys=["account_id", "business_date"]) as batch:
            for item in items:
                batch.put_item(Item=item)
        return len(items)

    def latest(self, account_id: str) -> dict[str, Any] | None:
        from boto3.dynamodb.conditions import Key

        items = self._table.query(
            KeyConditionExpression=Key("account_id").eq(account_id), ScanIndexForward=False, Limit=1
        )["Items"]
        return _plain(items[0]) if items else None


@dataclass
class ReportRecord:
    report_id: str
    status: str
    version: int = 0
    fingerprint: str = ""
    announced: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ReportRecord:
        item = _plain(item)
        known = {"report_id", "status", "version", "fingerprint", "announced"}
        return cls(
            report_id=str(item["report_id"]),
            status=str(item.get("status", "")),
            version=int(item.get("version", 0)),
            fingerprint=str(item.get("fingerprint", "")),
            announced=bool(item.get("announced", False)),
            detail={k: v for k, v in item.items() if k not in known},
        )


class ReportRegister:
    def __init__(self, table_name: str, resource: Any = None) -> None:
        self._table: Any = (resource or boto3.resource("dynamodb")).Table(table_name)

    def get(self, report_id: str) -> ReportRecord | None:
        item = self._table.get_item(Key={"report_id": report_id}, ConsistentRead=True).get("Item")
        return ReportRecord.from_item(item) if item else None

    def many(self, report_ids: list[str]) -> dict[str, ReportRecord]:
        out: dict[str, ReportRecord] = {}
        for report_id in report_ids:  # a month is 31 reads: BatchGetItem would need paging anyway
            record = self.get(report_id)
            if record is not None:
                out[report_id] = record
        return out

    def record_blocked(self, report_id: str, reason: str, missing: list[str], at: datetime) -> None:
        """A blocked attempt, never over an issued report (a re-issue that cannot run keeps it)."""
        try:
            self._table.update_item(
                Key={"report_id": report_id},
                UpdateExpression=(
                    "SET #s = :blocked, reason = :reason, #m = :missing, last_attempt_at = :at "
                    "ADD attempts :one"
                ),
                ConditionExpression="attribute_not_exists(#s) OR #s <> :issued",
                ExpressionAttributeNames={"#s": "status", "#m": "missing"},
                ExpressionAttributeValues={
                    ":blocked": BLOCKED,
                    ":issued": ISSUED,
                    ":reason": reason,
                    ":missing": missing,
                    ":at": at.isoformat(),
                    ":one": 1,
                },
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise

    def record_issued(self, report_id: str, version: int, fingerprint: str, fields: dict[str, Any]) -> bool:
        """Version ``version`` over ``version - 1`` (or a blocked/absent item); False if another run
        issued it first."""
        item = {
            **fields,
            "report_id": report_id,
            "status": ISSUED,
            "version": version,
            "fingerprint": fingerprint,
            "announced": False,
            "issued_at": _now(),
        }
        condition = "attribute_not_exists(version) OR version = :expected"
        if version > 1:
            condition = "version = :expected"
        try:
            self._table.put_item(
                Item=item, ConditionExpression=condition, ExpressionAttributeValues={":expected": version - 1}
            )
        except ClientError as exc:
            if condition_failed(exc):
                return False
            raise
        return True

    def mark_announced(self, report_id: str, version: int) -> None:
        try:
            self._table.update_item(
                Key={"report_id": report_id},
                UpdateExpression="SET announced = :t",
                ConditionExpression="version = :v",
                ExpressionAttributeValues={":t": True, ":v": version},
            )
        except ClientError as exc:
            if not condition_failed(exc):
                raise
