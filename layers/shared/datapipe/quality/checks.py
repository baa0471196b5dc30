"""Dataset-level quality checks over a staged dataset, each a named score in [0, 1].

Checks are plain functions of (contract, Arrow table, manifest) so they are testable without AWS.
A check passes when its score reaches the contract's minimum for it; critical checks veto the
gate whatever the aggregate score.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datapipe.contracts import BusinessRule, DatasetContract
from datapipe.ingest.validation import LINEAGE_COLUMNS, arrow_type


@dataclass
class CheckResult:
    name: str
    score: float
    passed: bool
    critical: bool
    threshold: float
    details: dict[str, Any] = field(default_factory=dict)
    floor: float | None = None

    @property
    def veto(self) -> bool:
        """Blocks publication whatever the aggregate score."""
        if self.floor is not None and self.score < self.floor:
            return True
        return self.critical and not self.passed

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(float(self.score), 6)
        d["veto"] = self.veto
        return d


def _result(
    contract: DatasetContract,
    name: str,
    score: float,
    details: dict[str, Any],
    threshold: float | None = None,
    critical: bool | None = None,
) -> CheckResult:
    score = float(min(1.0, max(0.0, score)))
    threshold = contract.quality.min_score(name) if threshold is None else threshold
    is_critical = name in contract.quality.critical_checks if critical is None else critical
    floor = contract.quality.critical_floors.get(name)
    return CheckResult(name, score, score >= threshold, is_critical, threshold, details, floor)


def expected_schema(contract: DatasetContract) -> dict[str, pa.DataType]:
    expected = {c.name: arrow_type(c) for c in contract.columns}
    expected.update({p.name: pa.string() for p in contract.partitions})
    expected.update({name: pa.string() for name in LINEAGE_COLUMNS})
    expected["lineage_source_row"] = pa.int64()
    return expected


def schema_check(contract: DatasetContract, schema: pa.Schema, table: pa.Table | None = None) -> CheckResult:
    """Staged schema must equal the contract's, and required columns must hold no nulls."""
    expected = expected_schema(contract)
    problems: list[str] = []
    for name, typ in expected.items():
        idx = schema.get_field_index(name)
        if idx < 0:
            problems.append(f"missing column {name}")
        elif not schema.field(idx).type.equals(typ):
            problems.append(f"{name}: expected {typ}, found {schema.field(idx).type}")
    extra = [n for n in schema.names if n not in expected]
    problems.extend(f"unexpected column {n}" for n in extra)
    if table is not None:
        for col in contract.required_columns:
            if col in table.column_names and table.column(col).null_count:
                problems.append(f"{col}: {table.column(col).null_count} nulls in a required column")
    total = len(expected) + len(extra)
    score = 1.0 - len(problems) / total if total else 0.0
    return _result(contract, "schema", score, {"problems": problems, "columns": len(expected)})


def content_checks(contract: DatasetContract, table: pa.Table, manifest: dict[str, Any]) -> list[CheckResult]:
    staged_nulls = sum(table.column(c).null_count for c in contract.required_columns)
    staged_dups = 0
    for col in contract.unique_columns:
        staged_dups += table.num_rows - pc.count_distinct(table.column(col)).as_py()
    return _content_results(contract, manifest, staged_nulls, staged_dups)


def _content_results(
    contract: DatasetContract, manifest: dict[str, Any], staged_nulls: int, staged_dups: int
) -> list[CheckResult]:
    counts = manifest["counts"]
    rows_in = max(1, int(counts["rows_in"]))
    by_rule: dict[str, int] = manifest.get("rejects_by_rule", {})
    # Completeness is about required values: an optional column left empty (store_id of an
    # online order) is complete. Rows that could not be split into columns miss every value.
    required = contract.required_columns
    missing_required = sum(v for k, v in by_rule.items() if k.endswith(":required"))
    unparsable_rows = sum(v for k, v in by_rule.items() if k.startswith("*:"))
    missing_cells = staged_nulls + missing_required + unparsable_rows * len(required)
    completeness = 1.0 - missing_cells / (rows_in * max(1, len(required)))

    validity = counts["rows_valid"] / rows_in
    dup_rejected = sum(v for k, v in by_rule.items() if k.endswith(":unique"))
    uniqueness = 1.0 - (dup_rejected + staged_dups) / rows_in
    return [
        _result(
            contract,
            "completeness",
            completeness,
            {"missing_required_cells": int(missing_cells), "required_cells": rows_in * len(required)},
        ),
        _result(
            contract,
            "validity",
            validity,
            {
                "rows_valid": counts["rows_valid"],
                "rows_in": counts["rows_in"],
                "top_rejects": dict(list(by_rule.items())[:5]),
            },
        ),
        _result(
            contract,
            "uniqueness",
            uniqueness,
            {
                "duplicates_rejected": dup_rejected,
                "duplicates_staged": staged_dups,
                "unique_columns": list(contract.unique_columns),
            },
        ),
    ]


# Rules about one row are applied by ingest, which rejects the row with its reason (docs/design.md,
# "Row rules vs file checks"); they reach the gate through validity, never as a file veto.
ROW_RULE_KINDS = frozenset({"max", "min", "sign_by_category", "not_after_arrival"})


def _differ_rate(rule: BusinessRule, table: pa.Table) -> float:
    mask = _differ_mask(rule, table)
    return float(mask.mean()) if mask.size else 0.0


def differ_key(rule: BusinessRule) -> str:
    """A ``columns_differ_rate`` rule's count in a profile: by name and columns (a renamed or
    re-pointed rule does not reuse an older count)."""
    return f"{rule.name}|{rule.column}|{rule.other_column}"


def business_checks(contract: DatasetContract, table: pa.Table, arrival: datetime) -> list[CheckResult]:
    """Freshness and the contract's file-level rules (row rules were applied per row at ingest)."""
    n = table.num_rows
    fresh_rows = _fresh_rows(contract, table, arrival) if contract.event_time_column else 0
    rates = {
        differ_key(rule): _differ_rate(rule, table) if n else 0.0
        for rule in contract.business_rules
        if rule.kind == "columns_differ_rate"
    }
    return _business_results(contract, n, fresh_rows, rates, arrival)


def _business_results(
    contract: DatasetContract, n: int, fresh_rows: int, rates: dict[str, float], arrival: datetime
) -> list[CheckResult]:
    results: list[CheckResult] = []
    if contract.event_time_column:
        results.append(
            _result(
                contract,
                "freshness",
                fresh_rows / n if n else 0.0,
                {
                    "fresh_rows": fresh_rows,
                    "rows": n,
                    "window_hours": contract.quality.freshness_hours,
                    "arrival": arrival.isoformat(),
                },
            )
        )
    for rule in contract.business_rules:
        if rule.kind in ROW_RULE_KINDS:
            continue
        if rule.kind != "columns_differ_rate":
            raise ValueError(f"unknown file-level rule kind {rule.kind}")
        rate = rates[differ_key(rule)]
        score = 1.0 if rate <= rule.max_rate else max(0.0, 1.0 - (rate - rule.max_rate))
        results.append(
            _result(
                contract,
                rule.name,
                score,
                {"differ_rate": round(rate, 6), "max_rate": rule.max_rate, "description": rule.description},
                threshold=rule.min_pass_rate,
                critical=rule.critical or rule.name in contract.quality.critical_checks,
            )
        )
    return results


@dataclass
class StagedProfile:
    """What the schema, content and business checks read from the staged rows, counted by ingest
    while it wrote them (``staged_counts`` per batch, ``merge`` across batches) and carried in the
    manifest (``quality_inputs``), so that these checks need not fetch the staged Parquet.

    ``duplicates``: per unique column, staged rows minus distinct staged values (only for string
    columns: ingest rejects every repeated text, so the count is that column's nulls; a typed
    column may hold two texts of one value, and is left out: the check reads the table).
    ``fresh_rows`` counts rows at or after ``arrival - freshness_hours``; ``differ_rows`` the rows
    where a ``columns_differ_rate`` rule's two columns differ."""

    schema: list[tuple[str, str]]
    rows: int
    null_counts: dict[str, int]
    duplicates: dict[str, int]
    arrival: str | None = None
    freshness_hours: float | None = None
    fresh_rows: int | None = None
    differ_rows: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["schema"] = [list(f) for f in self.schema]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StagedProfile:
        return cls(
            schema=[(str(n), str(t)) for n, t in d["schema"]],
            rows=int(d["rows"]),
            null_counts={k: int(v) for k, v in d["null_counts"].items()},
            duplicates={k: int(v) for k, v in d["duplicates"].items()},
            arrival=d.get("arrival"),
            freshness_hours=d.get("freshness_hours"),
            fresh_rows=None if d.get("fresh_rows") is None else int(d["fresh_rows"]),
            differ_rows={k: int(v) for k, v in d.get("differ_rows", {}).items()},
        )

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> StagedProfile | None:
        """None for a manifest written before ingest counted these (an older run replayed)."""
        raw = manifest.get("quality_inputs")
        return cls.from_dict(raw) if isinstance(raw, dict) else None

    def merge(self, other: StagedProfile) -> StagedProfile:
        """Two batches of one file (same schema, same arrival): counts add up."""

        def add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
            return {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}

        fresh = (
            None
            if self.fresh_rows is None or other.fresh_rows is None
            else self.fresh_rows + other.fresh_rows
        )
        return StagedProfile(
            schema=self.schema or other.schema,
            rows=self.rows + other.rows,
            null_counts=add(self.null_counts, other.null_counts),
            duplicates={
                k: self.duplicates[k] + other.duplicates[k] for k in self.duplicates if k in other.duplicates
            },
            arrival=self.arrival,
            freshness_hours=self.freshness_hours,
            fresh_rows=fresh,
            differ_rows=add(self.differ_rows, other.differ_rows),
        )


def _fresh_rows(contract: DatasetContract, table: pa.Table, arrival: datetime) -> int:
    assert contract.event_time_column is not None
    col = table.column(contract.event_time_column)
    oldest = arrival - timedelta(hours=contract.quality.freshness_hours)
    fresh = pc.sum(pc.cast(pc.greater_equal(col, pa.scalar(oldest, type=col.type)), pa.int64()))
    return int(fresh.as_py() or 0)


def _differ_mask(rule: BusinessRule, table: pa.Table) -> np.ndarray:
    assert rule.other_column is not None
    differ = pc.not_equal(table.column(rule.column), table.column(rule.other_column))
    return np.asarray(pc.fill_null(differ, False).to_numpy(zero_copy_only=False), dtype=bool)


def staged_counts(
    contract: DatasetContract, table: pa.Table, arrival: datetime | None, unique_enforced: bool = False
) -> StagedProfile:
    """The ``StagedProfile`` of some staged rows (a batch ingest writes, or a whole staged table).

    ``unique_enforced``: the rows are what ingest kept, and ingest rejects every repeat of a unique
    column's text (within the batch and against the file's earlier ones), so a string column's
    staged duplicates (rows minus distinct values, nulls not being values) are its nulls: counted
    without hashing the column again (that pass cost as much as the rest of ingest's profile)."""
    strings = [
        col
        for col in contract.unique_columns
        if col in table.column_names and pa.types.is_string(table.schema.field(col).type)
    ]
    duplicates = {
        col: table.column(col).null_count
        if unique_enforced
        else table.num_rows - int(pc.count_distinct(table.column(col)).as_py())
        for col in strings
    }
    timed = contract.event_time_column is not None and arrival is not None
    differ = {
        differ_key(rule): int(_differ_mask(rule, table).sum())
        for rule in contract.business_rules
        if rule.kind == "columns_differ_rate" and {rule.column, rule.other_column} <= set(table.column_names)
    }
    return StagedProfile(
        schema=[(f.name, str(f.type)) for f in table.schema],
        rows=table.num_rows,
        null_counts={name: table.column(name).null_count for name in table.column_names},
        duplicates=duplicates,
        arrival=arrival.isoformat() if timed and arrival is not None else None,
        freshness_hours=contract.quality.freshness_hours if timed else None,
        fresh_rows=_fresh_rows(contract, table, arrival) if timed and arrival is not None else None,
        differ_rows=differ,
    )


def schema_check_from_profile(contract: DatasetContract, profile: StagedProfile) -> CheckResult:
    """``schema_check`` from the profile ingest wrote (type names compared as Arrow prints them)."""
    expected = expected_schema(contract)
    found = dict(profile.schema)
    problems: list[str] = []
    for name, typ in expected.items():
        if name not in found:
            problems.append(f"missing column {name}")
        elif found[name] != str(typ):
            problems.append(f"{name}: expected {typ}, found {found[name]}")
    extra = [n for n, _ in profile.schema if n not in expected]
    problems.extend(f"unexpected column {n}" for n in extra)
    for col in contract.required_columns:
        if col in found and profile.null_counts.get(col, 0):
            problems.append(f"{col}: {profile.null_counts[col]} nulls in a required column")
    total = len(expected) + len(extra)
    score = 1.0 - len(problems) / total if total else 0.0
    return _result(contract, "schema", score, {"problems": problems, "columns": len(expected)})


def content_checks_from_profile(
    contract: DatasetContract, profile: StagedProfile, manifest: dict[str, Any]
) -> list[CheckResult] | None:
    """``content_checks`` from the profile; None when it lacks a unique or required column's count."""
    if any(col not in profile.duplicates for col in contract.unique_columns):
        return None
    if any(col not in profile.null_counts for col in contract.required_columns):
        return None  # the table-based check fails on the missing column: let it say so
    nulls = sum(profile.null_counts[c] for c in contract.required_columns)
    return _content_results(
        contract, manifest, nulls, sum(profile.duplicates[c] for c in contract.unique_columns)
    )


def business_checks_from_profile(
    contract: DatasetContract, profile: StagedProfile, arrival: datetime
) -> list[CheckResult] | None:
    """``business_checks`` from the profile; None when it was counted for another arrival,
    window or rule set (the check then reads the table)."""
    if contract.event_time_column:
        if profile.fresh_rows is None or profile.freshness_hours != contract.quality.freshness_hours:
            return None
        if profile.arrival is None or datetime.fromisoformat(profile.arrival) != arrival:
            return None
    n = profile.rows
    rates: dict[str, float] = {}
    for rule in contract.business_rules:
        if rule.kind == "columns_differ_rate":
            key = differ_key(rule)
            if key not in profile.differ_rows:
                return None
            rates[key] = profile.differ_rows[key] / n if n else 0.0
    return _business_results(contract, n, profile.fresh_rows or 0, rates, arrival)


@dataclass
class Assessment:
    """The gate's input. ``all_passed``: every check reached its own minimum (required to
    publish); ``score``: weighted mean that orders the bands (publish / enhanced / quarantine)."""

    score: float
    critical_failed: bool
    failed_checks: list[str]
    checks: list[dict[str, Any]]
    vetoes: list[str] = field(default_factory=list)
    all_passed: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(contract: DatasetContract, checks: list[CheckResult]) -> Assessment:
    """Weighted mean of the weighted checks; every check must pass its minimum; vetoes are critical."""
    weighted = [
        (contract.quality.weight(c.name), c.score) for c in checks if c.name in contract.quality.weights
    ]
    total = sum(w for w, _ in weighted)
    score = sum(w * s for w, s in weighted) / total if total else 0.0
    failed = [c.name for c in checks if not c.passed]
    return Assessment(
        score=round(score, 6),
        critical_failed=any(c.veto for c in checks),
        failed_checks=failed,
        checks=[c.to_dict() for c in checks],
        vetoes=[c.name for c in checks if c.veto],
        all_passed=bool(checks) and not failed,
    )


def gate_decision(assessment: Assessment, publish_threshold: float, enhanced_threshold: float) -> str:
    """What the state machine's QualityGate chooses (the same order of Choice rules):
    a veto, then any check below its minimum, quarantine; else the score's band."""
    if assessment.critical_failed:
        return "quarantine:critical"
    if not assessment.all_passed:
        return "quarantine:below_minimum"
    if assessment.score >= publish_threshold:
        return "publish"
    if assessment.score >= enhanced_threshold:
        return "enhanced"
    return "quarantine:below_threshold"


def column_profile(table: pa.Table, column: str | None) -> dict[str, float]:
    if not column or column not in table.column_names or table.num_rows == 0:
        return {}
    values = pc.cast(table.column(column), pa.float64())
    return {
        "mean": float(pc.mean(values).as_py() or 0.0),
        "stddev": float(pc.stddev(values).as_py() or 0.0),
    }
