"""``StockLedger`` on DynamoDB: a ledger table of applied movement ids + the inventory table.

One TransactWriteItems per chunk of at most 99 movements: a conditional ``Put`` per movement id
into the ledger (``attribute_not_exists(movement_id)``) and one ``Update`` of the item (``ADD
on_hand :q``, conditional on the item existing). Either all of it happens or none of it does, so
on_hand and the ledger never disagree. 99 + 1 = the 100 actions a transaction may hold.

When the transaction is cancelled, ``CancellationReasons`` (one per action, in order) says which
condition failed: the Update -> the item is unknown, nothing is written; some Puts -> those ids
are duplicates, and the transaction is retried with the rest only (and their summed quantity).
Real DynamoDB returns these reasons and so does moto (checked in tests/unit/test_inventory.py), so
there is no BatchGetItem fallback: a cancellation without usable reasons, or with any other reason
(TransactionConflict, throttling, validation), is re-raised. The ledger makes a re-run of the whole
file safe, and the caller's retry policy does that.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import ClientError

from datapipe.ddb import condition_failed
from datapipe.inventory.demand import Replenishment, daily_demand, merge_daily_sales, replenishment_for
from datapipe.inventory.ledger import ApplyOutcome, MovementGroup, sales_velocity_update

MAX_MOVEMENTS_PER_TRANSACTION = 99  # + the item's Update = DynamoDB's limit of 100 actions
_CONDITION_FAILED = "ConditionalCheckFailed"
_NO_FAILURE = "None"


class DynamoStockLedger:
    """Applies movement groups to the inventory table (pk store_id, sk product_id), each id once."""

    def __init__(
        self,
        table_name: str,
        ledger_table_name: str,
        client: Any = None,
        velocity_alpha: float = 0.2,
        velocity_attempts: int = 5,
    ) -> None:
        self._db: Any = client or boto3.client("dynamodb")
        self._table = table_name
        self._ledger = ledger_table_name
        self._alpha = velocity_alpha
        self._attempts = velocity_attempts

    def apply_group(self, group: MovementGroup) -> ApplyOutcome:
        applied: list[str] = []
        duplicates: list[str] = []
        ids = group.movement_ids
        for start in range(0, len(ids), MAX_MOVEMENTS_PER_TRANSACTION):
            chunk = ids[start : start + MAX_MOVEMENTS_PER_TRANSACTION]
            done = self._apply_chunk(group, chunk)
            applied += done.applied
            duplicates += done.duplicates
            if done.item_unknown:
                # The item is missing for every chunk alike: the rest is unknown too, untried.
                rest = ids[start + MAX_MOVEMENTS_PER_TRANSACTION :]
                return ApplyOutcome(applied, duplicates, done.unknown + rest, item_unknown=True)
        return ApplyOutcome(applied, duplicates)

    def _apply_chunk(self, group: MovementGroup, chunk: list[str]) -> ApplyOutcome:
        pending = list(chunk)
        duplicates: list[str] = []
        while pending:
            try:
                self._transact(group, pending)
                return ApplyOutcome(applied=pending, duplicates=duplicates)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                    raise
                codes = _cancellation_codes(exc, expected=len(pending) + 1)
                put_codes, update_code = codes[:-1], codes[-1]
                failed = [m for m, code in zip(pending, put_codes, strict=True) if code == _CONDITION_FAILED]
                rest = [m for m, code in zip(pending, put_codes, strict=True) if code != _CONDITION_FAILED]
                duplicates += failed
                if update_code == _CONDITION_FAILED:
                    return ApplyOutcome([], duplicates, rest, item_unknown=True)
                if not failed:  # cancelled, yet no condition failed: nothing to learn, retrying loops
                    raise
                pending = rest
        return ApplyOutcome([], duplicates)

    def _transact(self, group: MovementGroup, movement_ids: list[str]) -> None:
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._ledger,
                    "Item": {
                        "movement_id": {"S": m},
                        "store_id": {"S": group.store_id},
                        "product_id": {"S": group.product_id},
                        "quantity_change": {"N": str(q)},
                    },
                    "ConditionExpression": "attribute_not_exists(movement_id)",
                }
            }
            for m, q in zip(movement_ids, _quantities(group, movement_ids), strict=True)
        ]
        actions.append(
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(group.store_id, group.product_id),
                    "UpdateExpression": "ADD on_hand :q",
                    "ConditionExpression": "attribute_exists(product_id)",
                    "ExpressionAttributeValues": {":q": {"N": str(group.quantity_of(movement_ids))}},
                }
            }
        )
        self._db.transact_write_items(TransactItems=actions)

    def update_velocity(self, store_id: str, product_id: str, units_sold: int) -> float | None:
        """avg_daily_sales <- alpha x units_sold + (1 - alpha) x avg_daily_sales (``sales_velocity_update``).

        DynamoDB update expressions can add and subtract but not multiply, so ``SET avg =
        avg * :keep + :add`` is rejected (by DynamoDB and by moto alike). Instead: read, compute,
        and write conditionally on the value read (optimistic concurrency), re-reading on a lost
        race. An item without avg_daily_sales is seeded with units_sold: the only observation.
        Returns the new average, or None for an unknown item (which is not created).
        """
        key = self._key(store_id, product_id)
        for _ in range(self._attempts):
            item = self._db.get_item(
                TableName=self._table,
                Key=key,
                ConsistentRead=True,
                ProjectionExpression="product_id, avg_daily_sales",
            ).get("Item")
            if item is None:
                return None
            old = item.get("avg_daily_sales", {}).get("N")
            if old is None:
                new = sales_velocity_update(0.0, units_sold, alpha=1.0)
                condition = "attribute_exists(product_id) AND attribute_not_exists(avg_daily_sales)"
                values = {":new": _number(new)}
            else:
                new = sales_velocity_update(float(old), units_sold, self._alpha)
                condition = "avg_daily_sales = :old"
                values = {":new": _number(new), ":old": {"N": old}}
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET avg_daily_sales = :new",
                    ConditionExpression=condition,
                    ExpressionAttributeValues=values,
                )
                return float(values[":new"]["N"])
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
        raise RuntimeError(
            f"avg_daily_sales of {store_id}/{product_id} kept changing under {self._attempts} attempts"
        )

    def record_demand(
        self, store_id: str, product_id: str, sold_by_day: dict[str, int], service_z: float = 1.65
    ) -> Replenishment | None:
        """Merge units sold per business day into the item's ``daily_sales`` map (last 28 days) and
        derive avg_daily_sales, daily_sales_std, safety_stock and reorder_threshold from it.

        Read, compute, write conditionally on ``demand_version`` (optimistic concurrency), re-read
        on a lost race. An item with ``reorder_point_fixed`` keeps the planner's reorder point and
        gets ``reorder_point_expected`` beside it, so a point below lead-time demand shows.
        Returns the derived values, or None for an unknown item (which is not created)."""
        key = self._key(store_id, product_id)
        for _ in range(self._attempts):
            item = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True).get("Item")
            if item is None:
                return None
            old = {d: int(v["N"]) for d, v in item.get("daily_sales", {}).get("M", {}).items()}
            merged = merge_daily_sales(old, sold_by_day)
            as_of = max(date.fromisoformat(d) for d in merged)
            lead = float(item.get("lead_time_days", {}).get("N", "0"))
            review = float(item.get("review_days", {}).get("N", "1"))
            derived = replenishment_for(daily_demand(merged, as_of), lead, review, service_z)
            version = int(item.get("demand_version", {}).get("N", "0"))
            fixed = item.get("reorder_point_fixed", {}).get("BOOL") is True
            point = "reorder_point_expected" if fixed else "reorder_threshold"
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression=(
                        "SET daily_sales = :days, avg_daily_sales = :avg, daily_sales_std = :std, "
                        f"safety_stock = :ss, {point} = :rp, demand_version = :next"
                    ),
                    ConditionExpression=(
                        "attribute_not_exists(demand_version)" if version == 0 else "demand_version = :v"
                    ),
                    ExpressionAttributeValues={
                        ":days": {"M": {d: {"N": str(u)} for d, u in merged.items()}},
                        ":avg": _number(derived.avg_daily_sales),
                        ":std": _number(derived.daily_sales_std),
                        ":ss": {"N": str(derived.safety_stock)},
                        ":rp": {"N": str(derived.reorder_point)},
                        ":next": {"N": str(version + 1)},
                        **({":v": {"N": str(version)}} if version else {}),
                    },
                )
                return derived
            except ClientError as exc:
                if not condition_failed(exc):
                    raise
        raise RuntimeError(f"demand of {store_id}/{product_id} kept changing under {self._attempts} attempts")

    @staticmethod
    def _key(store_id: str, product_id: str) -> dict[str, Any]:
        return {"store_id": {"S": store_id}, "product_id": {"S": product_id}}


def _quantities(group: MovementGroup, movement_ids: list[str]) -> list[int]:
    by_id = dict(zip(group.movement_ids, group.quantities, strict=True))
    return [by_id[m] for m in movement_ids]


def _number(value: float) -> dict[str, str]:
    """A DynamoDB number with 6 decimals: enough for units/day, and no float noise stored."""
    return {"N": format(Decimal(str(round(value, 6))).normalize(), "f")}


def _cancellation_codes(exc: ClientError, expected: int) -> list[str]:
    """The per-action reason codes of a cancelled transaction; re-raises when they are unusable."""
    reasons = exc.response.get("CancellationReasons")  # type: ignore[typeddict-item]
    if not isinstance(reasons, list) or len(reasons) != expected:
        raise exc
    codes = [str(r.get("Code") or _NO_FAILURE) for r in reasons]
    if any(code not in (_NO_FAILURE, _CONDITION_FAILED) for code in codes):
        raise exc
    return codes
