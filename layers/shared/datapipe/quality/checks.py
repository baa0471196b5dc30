"""Dataset-level quality checks over a staged dataset, each a named score in [0, 1].

Checks are plain functions of (contract, Arrow table, manifest) so they are testable without AWS.
A check passes when its score reaches the contract's minimum for it; critical checks veto the
gate whatever the aggregate score.
"""

from __future__ import annotations

import statistics
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
    counts = manifest["counts"]
    rows_in = max(1, int(counts["rows_in"]))
    by_rule: dict[str, int] = manifest.get("rejects_by_rule", {})
    # Completeness is about required values: an optional column left empty (store_id of an
    # online order) is complete. Rows that could not be split into columns miss every value.
    required = contract.required_columns
    staged_nulls = sum(table.column(c).null_count for c in required)
    missing_required = sum(v for k, v in by_rule.items() if k.endswith(":required"))
    unparsable_rows = sum(v for k, v in by_rule.items() if k.startswith("*:"))
    missing_cells = staged_nulls + missing_required + unparsable_rows * len(required)
    completeness = 1.0 - missing_cells / (rows_in * max(1, len(required)))

    validity = counts["rows_valid"] / rows_in
    dup_rejected = sum(v for k, v in by_rule.items() if k.endswith(":unique"))
    staged_dups = 0
    for col in contract.unique_columns:
        staged_dups += table.num_rows - pc.count_distinct(table.column(col)).as_py()
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


def _rule_pass_mask(rule: BusinessRule, table: pa.Table, arrival: datetime) -> np.ndarray:
    col = table.column(rule.column)
    if rule.kind in ("max", "min"):
        values = pc.cast(col, pa.float64())
        cmp = pc.less_equal if rule.kind == "max" else pc.greater_equal
        ok = cmp(values, float(rule.value or 0))
        return np.asarray(pc.fill_null(ok, True).to_numpy(zero_copy_only=False), dtype=bool)
    if rule.kind == "sign_by_category":
        assert rule.category_column is not None
        values = pc.cast(col, pa.float64())
        cat = table.column(rule.category_column)
        neg_cat = pc.is_in(cat, value_set=pa.array(list(rule.negative), type=pa.string()))
        pos_cat = pc.is_in(cat, value_set=pa.array(list(rule.positive), type=pa.string()))
        bad = pc.or_(pc.and_(neg_cat, pc.greater(values, 0)), pc.and_(pos_cat, pc.less(values, 0)))
        return ~np.asarray(pc.fill_null(bad, False).to_numpy(zero_copy_only=False), dtype=bool)
    if rule.kind == "not_after_arrival":
        limit = arrival + timedelta(minutes=rule.tolerance_minutes)
        ok = pc.less_equal(col, pa.scalar(limit, type=col.type))
        return np.asarray(pc.fill_null(ok, True).to_numpy(zero_copy_only=False), dtype=bool)
    if rule.kind == "columns_differ_rate":
        assert rule.other_column is not None
        differ = pc.not_equal(col, table.column(rule.other_column))
        return ~np.asarray(pc.fill_null(differ, False).to_numpy(zero_copy_only=False), dtype=bool)
    raise ValueError(f"unknown rule kind {rule.kind}")


def business_checks(contract: DatasetContract, table: pa.Table, arrival: datetime) -> list[CheckResult]:
    results: list[CheckResult] = []
    n = table.num_rows
    if contract.event_time_column:
        col = table.column(contract.event_time_column)
        oldest = arrival - timedelta(hours=contract.quality.freshness_hours)
        fresh = pc.sum(pc.cast(pc.greater_equal(col, pa.scalar(oldest, type=col.type)), pa.int64()))
        fresh_rows = int(fresh.as_py() or 0)
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
    rule_scores: list[float] = []
    for rule in contract.business_rules:
        ok = _rule_pass_mask(rule, table, arrival)
        if rule.kind == "columns_differ_rate":
            rate = float((~ok).mean()) if n else 0.0
            score = 1.0 if rate <= rule.max_rate else max(0.0, 1.0 - (rate - rule.max_rate))
            details: dict[str, Any] = {"differ_rate": round(rate, 6), "max_rate": rule.max_rate}
        else:
            score = float(ok.mean()) if n else 0.0
            details = {"failing_rows": int((~ok).sum()), "rows": n}
        details["description"] = rule.description
        results.append(
            _result(
                contract,
                rule.name,
                score,
                details,
                threshold=rule.min_pass_rate,
                critical=rule.critical or rule.name in contract.quality.critical_checks,
            )
        )
        if rule.min_pass_rate > 0:  # informational rules (no pass mark) stay out of the aggregate
            rule_scores.append(score)
    if rule_scores:
        results.append(
            _result(
                contract,
                "business_rules",
                min(rule_scores),
                {"rules": [r.name for r in contract.business_rules if r.min_pass_rate > 0]},
            )
        )
    return results


@dataclass
class Assessment:
    score: float
    critical_failed: bool
    failed_checks: list[str]
    checks: list[dict[str, Any]]
    vetoes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assess(contract: DatasetContract, checks: list[CheckResult]) -> Assessment:
    """Weighted mean of the weighted checks; any failed critical check vetoes."""
    weighted = [
        (contract.quality.weight(c.name), c.score) for c in checks if c.name in contract.quality.weights
    ]
    total = sum(w for w, _ in weighted)
    score = sum(w * s for w, s in weighted) / total if total else 0.0
    return Assessment(
        score=round(score, 6),
        critical_failed=any(c.veto for c in checks),
        failed_checks=[c.name for c in checks if not c.passed],
        checks=[c.to_dict() for c in checks],
        vetoes=[c.name for c in checks if c.veto],
    )


def column_profile(table: pa.Table, column: str | None) -> dict[str, float]:
    if not column or column not in table.column_names or table.num_rows == 0:
        return {}
    values = pc.cast(table.column(column), pa.float64())
    return {
        "mean": float(pc.mean(values).as_py() or 0.0),
        "stddev": float(pc.stddev(values).as_py() or 0.0),
    }


def enhanced_checks(
    contract: DatasetContract, table: pa.Table, history: list[dict[str, Any]]
) -> list[CheckResult]:
    """Volume and distribution against recently published runs of the same dataset."""
    q = contract.quality
    rows = table.num_rows
    if not history:
        note = {"baseline": "none: first load of this dataset, nothing to compare with"}
        return [
            _result(contract, "volume", 1.0, {**note, "rows": rows}),
            _result(contract, "distribution", 1.0, dict(note)),
        ]
    baseline_rows = statistics.median(h["rows_published"] for h in history)
    ratio = rows / baseline_rows if baseline_rows else 0.0
    deviation = abs(ratio - 1.0)
    volume_score = 1.0 - min(1.0, deviation / (2 * q.volume_tolerance))
    volume = _result(
        contract,
        "volume",
        volume_score,
        {
            "rows": rows,
            "baseline_rows": baseline_rows,
            "ratio": round(ratio, 4),
            "tolerance": q.volume_tolerance,
            "history_runs": len(history),
        },
    )
    volume.passed = deviation <= q.volume_tolerance

    profile = column_profile(table, q.distribution_column)
    means = [h["profile"]["mean"] for h in history if h.get("profile")]
    if not profile or not means:
        dist = _result(contract, "distribution", 1.0, {"baseline": "no profile to compare"})
    else:
        base = statistics.median(means)
        shift = abs(profile["mean"] - base) / abs(base) if base else 0.0
        dist = _result(
            contract,
            "distribution",
            1.0 - min(1.0, shift / (2 * q.distribution_max_shift)),
            {
                "column": q.distribution_column,
                "mean": profile["mean"],
                "baseline_mean": base,
                "relative_shift": round(shift, 4),
                "max_shift": q.distribution_max_shift,
            },
        )
        dist.passed = shift <= q.distribution_max_shift
    return [volume, dist]
