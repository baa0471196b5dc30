"""Alerts that escalate, and cases that accumulate alerts.

Escalation: one alert claim per transaction, replaced only by a *higher* severity: a real-time
MEDIUM no longer blocks the CRITICAL the dataset path finds later with more context (the later
alert is published as superseding the earlier one). A lower or equal severity is not re-sent.

Cases: a burst on one card (or, without a card, one account) opens ONE case, and every later
alert on that subject joins it while it is open: a card-testing burst of 20 is one case with 20
alerts, at the highest severity seen. The subject is a one-way digest, so no card or account id
is written into case keys, events or logs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from datapipe.ddb import condition_failed, error_code
from datapipe.fraud.rules import SEVERITIES, FraudAlert

NEW, ESCALATED, NOT_HIGHER = "new", "escalated", "not_higher"


def subject_of(alert: FraudAlert) -> str:
    """ "card:<digest>" or "account:<digest>": what a case is about, without the id itself."""
    kind, value = ("card", alert.card_id) if alert.card_id else ("account", alert.account_id or "")
    return f"{kind}:{hashlib.sha256(f'{kind}:{value}'.encode()).hexdigest()[:20]}"


class DynamoAlertLedger:
    """Alert claims on the fraud alerts table (pk transaction_id) with escalation by severity."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self._db: Any = client or boto3.client("dynamodb")
        self._table = table_name

    def claim(self, alert: FraudAlert, source: str) -> tuple[str, str | None]:
        """(NEW | ESCALATED | NOT_HIGHER, the severity it replaced)."""
        rank = SEVERITIES.index(alert.severity)
        try:
            resp = self._db.update_item(
                TableName=self._table,
                Key={"transaction_id": {"S": alert.transaction_id}},
                UpdateExpression="SET severity = :s, severity_rank = :r, score = :score, #src = :source",
                ConditionExpression="attribute_not_exists(transaction_id) OR severity_rank < :r",
                ExpressionAttributeNames={"#src": "source"},
                ExpressionAttributeValues={
                    ":s": {"S": alert.severity},
                    ":r": {"N": str(rank)},
                    ":score": {"S": str(alert.score)},
                    ":source": {"S": source},
                },
                ReturnValues="UPDATED_OLD",
            )
        except ClientError as exc:
            if condition_failed(exc):
                return NOT_HIGHER, None
            raise
        previous = resp.get("Attributes", {}).get("severity", {}).get("S")
        return (ESCALATED if previous else NEW), previous

    def release(self, alert: FraudAlert, previous: str | None) -> None:
        """Undo a claim whose alert could not be published (back to the previous severity)."""
        key = {"transaction_id": {"S": alert.transaction_id}}
        if previous is None:
            self._db.delete_item(TableName=self._table, Key=key)
            return
        self._db.update_item(
            TableName=self._table,
            Key=key,
            UpdateExpression="SET severity = :s, severity_rank = :r",
            ExpressionAttributeValues={":s": {"S": previous}, ":r": {"N": str(SEVERITIES.index(previous))}},
        )


@dataclass(frozen=True)
class CaseUpdate:
    case_id: str
    opened: bool  # this alert opened the case
    added: bool  # False: the alert was already in the case (a redelivery)
    severity: str


class DynamoCaseBook:
    """Cases on the fraud cases table (pk case_id): a subject pointer item ``SUBJECT#<subject>``
    names the subject's open case; the case item holds its alerts (a string set of transaction
    ids, so a redelivered alert is not counted twice) and the highest severity."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        self._db: Any = client or boto3.client("dynamodb")
        self._table = table_name

    def _open_case(self, subject: str) -> str | None:
        item = self._db.get_item(
            TableName=self._table, Key={"case_id": {"S": f"SUBJECT#{subject}"}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else str(item["open_case"]["S"])

    def add(self, alert: FraudAlert, now: datetime) -> CaseUpdate:
        subject = subject_of(alert)
        for _ in range(3):
            case_id = self._open_case(subject)
            if case_id is None:
                opener = hashlib.sha256(alert.transaction_id.encode()).hexdigest()[:8]
                case_id = f"CASE-{subject.split(':')[1][:12]}-{opener}"
                try:
                    self._db.transact_write_items(
                        TransactItems=[
                            {
                                "Put": {
                                    "TableName": self._table,
                                    "Item": {
                                        "case_id": {"S": f"SUBJECT#{subject}"},
                                        "open_case": {"S": case_id},
                                    },
                                    "ConditionExpression": "attribute_not_exists(case_id)",
                                }
                            },
                            {
                                "Put": {
                                    "TableName": self._table,
                                    "Item": {
                                        "case_id": {"S": case_id},
                                        "subject": {"S": subject},
                                        "status": {"S": "OPEN"},
                                        "opened_at": {"S": now.isoformat()},
                                        "severity": {"S": alert.severity},
                                        "severity_rank": {"N": str(SEVERITIES.index(alert.severity))},
                                        "alert_ids": {"SS": [alert.transaction_id]},
                                        "alerts": {"N": "1"},
                                        "rules": {"SS": list(alert.rules) or ["NONE"]},
                                        "opened_by": {"S": alert.transaction_id},
                                        "announced": {"BOOL": False},
                                    },
                                    "ConditionExpression": "attribute_not_exists(case_id)",
                                }
                            },
                        ]
                    )
                    return CaseUpdate(case_id, True, True, alert.severity)
                except ClientError as exc:
                    if error_code(exc) != "TransactionCanceledException":
                        raise
                    continue  # another alert opened it meanwhile: join that case
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={"case_id": {"S": case_id}},
                    UpdateExpression="ADD alert_ids :id, alerts :one, #rules :rules SET last_alert_at = :now",
                    ConditionExpression="attribute_exists(case_id) AND NOT contains(alert_ids, :txn)",
                    ExpressionAttributeNames={"#rules": "rules"},
                    ExpressionAttributeValues={
                        ":id": {"SS": [alert.transaction_id]},
                        ":txn": {"S": alert.transaction_id},
                        ":one": {"N": "1"},
                        ":rules": {"SS": list(alert.rules) or ["NONE"]},
                        ":now": {"S": now.isoformat()},
                    },
                )
                added = True
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
                added = False
            severity = self._raise_severity(case_id, alert.severity)
            return CaseUpdate(case_id, False, added, severity)
        raise RuntimeError("could not open or join a case for this subject after 3 attempts")

    def _raise_severity(self, case_id: str, severity: str) -> str:
        rank = SEVERITIES.index(severity)
        try:
            self._db.update_item(
                TableName=self._table,
                Key={"case_id": {"S": case_id}},
                UpdateExpression="SET severity = :s, severity_rank = :r",
                ConditionExpression="severity_rank < :r",
                ExpressionAttributeValues={":s": {"S": severity}, ":r": {"N": str(rank)}},
            )
            return severity
        except ClientError as exc:
            if not condition_failed(exc):
                raise
        item = self._db.get_item(TableName=self._table, Key={"case_id": {"S": case_id}}, ConsistentRead=True)[
            "Item"
        ]
        return str(item["severity"]["S"])

    def unannounced(self, case_id: str) -> dict[str, Any] | None:
        """The case item while its FraudCaseOpened is not yet on the bus (the outbox: the flag is
        written with the case, in its transaction, and set once the event is accepted), else None."""
        item = self._db.get_item(
            TableName=self._table, Key={"case_id": {"S": case_id}}, ConsistentRead=True
        ).get("Item")
        if item is None or item.get("announced", {}).get("BOOL") is not False:
            return None
        return {
            "case_id": case_id,
            "opened_by": item.get("opened_by", {}).get("S"),
            "severity": item["severity"]["S"],
            "rules": sorted(r for r in item.get("rules", {}).get("SS", []) if r != "NONE"),
            "opened_at": item.get("opened_at", {}).get("S"),
        }

    def mark_announced(self, case_id: str) -> None:
        self._db.update_item(
            TableName=self._table,
            Key={"case_id": {"S": case_id}},
            UpdateExpression="SET announced = :t",
            ConditionExpression="attribute_exists(case_id)",
            ExpressionAttributeValues={":t": {"BOOL": True}},
        )

    def close(self, case_id: str) -> None:
        """An analyst closes the case: the subject's next alert opens a new one."""
        item = self._db.get_item(TableName=self._table, Key={"case_id": {"S": case_id}}, ConsistentRead=True)[
            "Item"
        ]
        self._db.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"case_id": {"S": case_id}},
                        "UpdateExpression": "SET #st = :closed",
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {":closed": {"S": "CLOSED"}},
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"case_id": {"S": f"SUBJECT#{item['subject']['S']}"}},
                        "ConditionExpression": "open_case = :c",
                        "ExpressionAttributeValues": {":c": {"S": case_id}},
                    }
                },
            ]
        )
