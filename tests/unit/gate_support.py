"""Staged tables and manifests shaped exactly like ingest's output, built straight from the
contract's expected schema (so gate tests do not depend on how ingest parses a file), and the
gate run the way the state machine runs it."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from datapipe.contracts import DatasetContract
from datapipe.quality import checks, history
from datapipe.quality.checks import Assessment, CheckResult
from datapipe.quality.dedupe import IdRegistry
from datapipe.quality.sources import history_entries

PUBLISH, ENHANCED = 0.90, 0.75


def _filler(field: pa.Field, n: int, i0: int) -> pa.Array:
    t = field.type
    if pa.types.is_decimal(t):
        return pa.array([Decimal("20.00")] * n, type=t)
    if pa.types.is_timestamp(t):
        return pa.array([datetime(2026, 3, 2, 12, tzinfo=UTC)] * n, type=t)
    if pa.types.is_integer(t):
        return pa.array([i0 + i for i in range(n)], type=t)
    if pa.types.is_floating(t):
        return pa.array([1.0] * n, type=t)
    if pa.types.is_boolean(t):
        return pa.array([False] * n, type=t)
    return pa.array([f"{field.name[:3].upper()}{i0 + i:07d}" for i in range(n)], type=t)


def staged(contract: DatasetContract, n: int, start: int = 0, **columns: Any) -> pa.Table:
    """n valid staged rows; ``columns`` override whole columns (lists or a scalar for all rows)."""
    schema = checks.expected_schema(contract)
    arrays = {}
    for name, typ in schema.items():
        field = pa.field(name, typ)
        if name in columns:
            value = columns[name]
            values = value if isinstance(value, list) else [value] * n
            if pa.types.is_decimal(typ):
                values = [None if v is None else Decimal(str(v)).quantize(Decimal("0.01")) for v in values]
            arrays[name] = pa.array(values, type=typ)
        else:
            arrays[name] = _filler(field, n, start)
    return pa.table(arrays)


def manifest(rows_in: int, rows_valid: int, rejects_by_rule: dict[str, int] | None = None) -> dict[str, Any]:
    return {
        "counts": {"rows_in": rows_in, "rows_valid": rows_valid, "rows_rejected": rows_in - rows_valid},
        "rejects_by_rule": rejects_by_rule or {},
    }


def day_times(day: date, n: int, seed: int = 1) -> list[datetime]:
    rng = random.Random(seed)
    start = datetime(day.year, day.month, day.day, 7, tzinfo=UTC)
    return sorted(start + timedelta(seconds=rng.randrange(14 * 3600)) for _ in range(n))


def amounts(n: int, seed: int = 2, scale: float = 1.0) -> list[float]:
    rng = random.Random(seed)
    return [round(rng.lognormvariate(3.0, 0.8) * scale, 2) for _ in range(n)]


def tx_day(contract: DatasetContract, store: str, day: date, n: int, seed: int = 1, **kw: Any) -> pa.Table:
    """One store's day of transactions (ids unique per store and day)."""
    ids = [f"T{store}{day:%Y%m%d}{i:06d}" for i in range(n)]
    cols: dict[str, Any] = {
        "transaction_id": ids,
        "store_id": store,
        "event_time": day_times(day, n, seed),
        "amount": amounts(n, seed),
    }
    cols.update(kw)
    return staged(contract, n, **cols)


def published_history(
    contract: DatasetContract, files: list[tuple[str, pa.Table]], run_prefix: str = "hist"
) -> list[dict[str, Any]]:
    """The per-source history records publish writes for these (key, table) files."""
    records: list[dict[str, Any]] = []
    for i, (key, table) in enumerate(files):
        for _, record in history_entries(
            contract, table, key, f"{run_prefix}-{i}", "2026-01-01T00:00:00+00:00"
        ):
            records.append(record)
    return records


def all_checks(
    contract: DatasetContract,
    table: pa.Table,
    man: dict[str, Any],
    key: str,
    arrival: datetime,
    records: list[dict[str, Any]],
    registry: IdRegistry | None = None,
    run_id: str = "run-under-test",
) -> tuple[list[CheckResult], list[CheckResult]]:
    """(gate checks, enhanced checks) as the validators compute them."""
    gate = [
        checks.schema_check(contract, table.schema, table),
        *checks.content_checks(contract, table, man),
        *checks.business_checks(contract, table, arrival),
        *history.history_checks(contract, table, key, run_id, records, registry, arrival),
    ]
    return gate, history.enhanced_checks(contract, table, key, run_id, records)


def run_gate(
    contract: DatasetContract,
    table: pa.Table,
    man: dict[str, Any],
    key: str,
    arrival: datetime,
    records: list[dict[str, Any]],
    registry: IdRegistry | None = None,
) -> tuple[str, Assessment, list[CheckResult]]:
    """The state machine's path: QualityGate, then the enhanced verdict in the borderline band."""
    gate, deep = all_checks(contract, table, man, key, arrival, records, registry)
    assessment = checks.assess(contract, gate)
    decision = checks.gate_decision(assessment, PUBLISH, ENHANCED)
    if decision == "enhanced":
        decision = "publish (enhanced)" if all(c.passed for c in deep) else "quarantine:enhanced"
    return decision, assessment, deep


class MemoryIdRegistry:
    """In-memory ``IdRegistry`` (the domain's own port), for gate tests."""

    def __init__(self) -> None:
        self.owner: dict[tuple[str, str], str] = {}
        self.lookups = 0

    def seen(self, dataset: str, ids: Any, run_id: str, now: datetime) -> dict[str, str]:
        self.lookups += 1
        return {i: o for i in ids if (o := self.owner.get((dataset, i))) is not None and o != run_id}

    def claim(self, dataset: str, ids: Any, run_id: str, now: datetime, retention: timedelta) -> Any:
        from datapipe.quality.dedupe import ClaimResult

        claimed, dups = [], []
        for i in ids:
            owner = self.owner.setdefault((dataset, i), run_id)
            (claimed if owner == run_id else dups).append(i)
        return ClaimResult(claimed, dups)

    def release(self, dataset: str, ids: Any, run_id: str) -> None:
        for i in ids:
            if self.owner.get((dataset, i)) == run_id:
                del self.owner[(dataset, i)]
