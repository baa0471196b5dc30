"""``FraudHistory`` on DynamoDB: one profile item per card and per account (pk ``profile_key``).

``load`` reads the profiles of the cards and accounts in a file (BatchGetItem); ``save`` merges
a file's rows into them: read, merge (a union by transaction id, bounded), write conditionally on
the version read, re-read on a lost race, so two files for the same account (a POS export and the
online feed) both land. Keys are one-way digests of the ids.

``save`` starts from the items ``load`` read in the same invocation (one BatchGetItem per 100
profiles instead of a GetItem per profile): the version condition still guards every write, so a
profile another file changed in between is re-read and merged again, never overwritten. A merge
that changes nothing (a replayed file) writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import boto3
from botocore.exceptions import ClientError

from datapipe.fraud.history import CARD_RETENTION_US, FraudHistory, merge_account, merge_card


def profile_key(kind: str, value: str) -> str:
    return f"{kind}#{hashlib.sha256(f'{kind}:{value}'.encode()).hexdigest()[:32]}"


class DynamoFraudProfiles:
    def __init__(self, table_name: str, client: Any = None, attempts: int = 5) -> None:
        self._db: Any = client or boto3.client("dynamodb")
        self._table = table_name
        self._attempts = attempts
        self._read: dict[str, dict[str, Any] | None] = {}  # what the last ``load`` read, by key

    def _get_many(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [{"profile_key": {"S": k}} for k in keys[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while request:
                resp = self._db.batch_get_item(RequestItems=request)
                for item in resp.get("Responses", {}).get(self._table, []):
                    out[item["profile_key"]["S"]] = item
                request = resp.get("UnprocessedKeys") or {}
        return out

    def load(self, cards: list[str], accounts: list[str]) -> FraudHistory:
        card_keys = {profile_key("card", c): c for c in dict.fromkeys(cards) if c}
        account_keys = {profile_key("account", a): a for a in dict.fromkeys(accounts) if a}
        items = self._get_many([*card_keys, *account_keys])
        self._read = {key: items.get(key) for key in [*card_keys, *account_keys]}
        history = FraudHistory()
        for key, card in card_keys.items():
            if key in items:
                history.cards[card] = [(int(t), str(i)) for t, i in json.loads(items[key]["recent"]["S"])]
        for key, account in account_keys.items():
            if key in items:
                history.accounts[account] = [
                    (int(t), str(i), float(v)) for t, i, v in json.loads(items[key]["recent"]["S"])
                ]
        return history

    def save(self, delta: FraudHistory, keep: int, retention_us: int = CARD_RETENTION_US) -> int:
        """Merge ``delta`` (a file's rows, as ``updated_history(FraudHistory(), ...)`` gives) into
        the stored profiles; returns how many profiles were written."""
        written = 0
        for card, rows in delta.cards.items():
            written += self._merge(
                profile_key("card", card),
                lambda old, rows=rows: merge_card(old, rows, retention_us),
                card=True,
            )
        for account, values in delta.accounts.items():
            written += self._merge(
                profile_key("account", account), lambda old, v=values: merge_account(old, v, keep), card=False
            )
        self._read = {}
        return written

    def _merge(self, key: str, merge: Any, card: bool) -> int:
        """1 when the profile was written, 0 when the merge changed nothing."""
        for attempt in range(self._attempts):
            if attempt == 0 and key in self._read:
                item = self._read[key]
            else:
                item = self._db.get_item(
                    TableName=self._table, Key={"profile_key": {"S": key}}, ConsistentRead=True
                ).get("Item")
            old_raw = json.loads(item["recent"]["S"]) if item else []
            old = (
                [(int(r[0]), str(r[1])) for r in old_raw]
                if card
                else [(int(r[0]), str(r[1]), float(r[2])) for r in old_raw]
            )
            version = int(item["version"]["N"]) if item else 0
            merged = merge(old)
            if item is not None and list(merged) == old:
                return 0
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item={
                        "profile_key": {"S": key},
                        "recent": {"S": json.dumps([list(r) for r in merged], separators=(",", ":"))},
                        "version": {"N": str(version + 1)},
                    },
                    ConditionExpression="attribute_not_exists(profile_key)"
                    if version == 0
                    else "version = :v",
                    **({"ExpressionAttributeValues": {":v": {"N": str(version)}}} if version else {}),
                )
                return 1
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError(f"profile {key} kept changing under {self._attempts} attempts")
