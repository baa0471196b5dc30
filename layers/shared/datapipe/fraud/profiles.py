"""``FraudHistory`` on DynamoDB: one profile item per card and per account (pk ``profile_key``).

``load`` reads the profiles of the cards and accounts in a file (BatchGetItem); ``save`` merges
a file's rows into them: read, merge (a union by transaction id, bounded), write conditionally on
the version read, re-read on a lost race, so two files for the same account (a POS export and the
online feed) both land. Keys are one-way digests of the ids.

``save`` starts from the items ``load`` read in the same invocation (one BatchGetItem per 100
profiles instead of a GetItem per profile): the version condition still guards every write, so a
profile another file changed in between is re-read and merged again, never overwritten. A merge
that changes nothing (a replayed file) writes nothing.

The rows are one Binary attribute ``rows``: a format byte, then packed little-endian records, a
card's (event_us int64, txn_ref 8 bytes) and an account's (event_us int64, txn_ref 8 bytes, usd
float64): 16 and 24 bytes a transaction, no transaction id in the clear. An account item (the
last 20 amounts) is about 550 bytes and a card item fits a write unit (1 KB) up to 59
transactions in its 24 hours (a strongly consistent read unit, 4 KB, up to 250). Items written
before (JSON text ``recent`` with the ids) still load; the next write replaces them.
"""

from __future__ import annotations

import hashlib
import json
import struct
from typing import Any

import boto3
from botocore.exceptions import ClientError

from datapipe.ddb import condition_failed
from datapipe.fraud.history import CARD_RETENTION_US, FraudHistory, merge_account, merge_card, txn_ref

FORMAT = 1  # the first byte of ``rows``
_CARD = struct.Struct("<q8s")
_ACCOUNT = struct.Struct("<q8sd")
CardRows = list[tuple[int, str]]
AccountRows = list[tuple[int, str, float]]


def profile_key(kind: str, value: str) -> str:
    return f"{kind}#{hashlib.sha256(f'{kind}:{value}'.encode()).hexdigest()[:32]}"


def encode_card(rows: CardRows) -> bytes:
    return bytes([FORMAT]) + b"".join(_CARD.pack(t, bytes.fromhex(r)) for t, r in rows)


def encode_account(rows: AccountRows) -> bytes:
    return bytes([FORMAT]) + b"".join(_ACCOUNT.pack(t, bytes.fromhex(r), v) for t, r, v in rows)


def _packed(item: dict[str, Any]) -> bytes:
    data = bytes(item["rows"]["B"])
    if not data or data[0] != FORMAT:
        raise ValueError(f"profile rows in an unknown format {data[:1]!r}")
    return data[1:]


def decode_card(item: dict[str, Any] | None) -> CardRows:
    """A card item's rows, (event_us, txn_ref), from either format (none for no item)."""
    if item is None:
        return []
    if "rows" in item:
        return [(t, r.hex()) for t, r in _CARD.iter_unpack(_packed(item))]
    # written before the packed format: JSON [[event_us, transaction_id], ...]
    return [(int(t), txn_ref(str(i))) for t, i in json.loads(item["recent"]["S"])]  # in (time, id) order


def decode_account(item: dict[str, Any] | None) -> AccountRows:
    """An account item's rows, (event_us, txn_ref, usd), from either format (none for no item)."""
    if item is None:
        return []
    if "rows" in item:
        return [(t, r.hex(), v) for t, r, v in _ACCOUNT.iter_unpack(_packed(item))]
    # written before the packed format: JSON [[event_us, transaction_id, usd], ...]
    return [(int(t), txn_ref(str(i)), float(v)) for t, i, v in json.loads(item["recent"]["S"])]


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
                history.cards[card] = decode_card(items[key])
        for key, account in account_keys.items():
            if key in items:
                history.accounts[account] = decode_account(items[key])
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
            old: list[Any] = decode_card(item) if card else decode_account(item)
            version = int(item["version"]["N"]) if item else 0
            merged = merge(old)
            if item is not None and list(merged) == old:
                return 0
            packed = encode_card(merged) if card else encode_account(merged)
            try:
                self._db.put_item(
                    TableName=self._table,
                    Item={
                        "profile_key": {"S": key},
                        "rows": {"B": packed},
                        "version": {"N": str(version + 1)},
                    },
                    ConditionExpression="attribute_not_exists(profile_key)"
                    if version == 0
                    else "version = :v",
                    **({"ExpressionAttributeValues": {":v": {"N": str(version)}}} if version else {}),
                )
                return 1
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
        raise RuntimeError(f"profile {key} kept changing under {self._attempts} attempts")
