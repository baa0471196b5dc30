"""File checks against each source's own history, run on every file, and the enhanced checks.

Every file: ``volume`` (rows per source vs that source's median, same weekday when known),
``distribution`` (median |value| per source vs its history, or its peers' when it has none),
``deliveries`` (a multi-source file holds every source the calendar lists for it) and
``cross_file_uniqueness`` (ids an earlier run already published). Each source must pass; the
check's score is the worst source's.

Enhanced validation (the borderline band, e.g. a late file): ``distribution_shape`` (the 10th and
90th percentiles too: a mean or a median can hide a changed shape) and
``source_day_not_yet_delivered`` (a late file for a source-day already published is a re-send
under a new name until someone says otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datapipe.contracts import DatasetContract
from datapipe.quality.checks import CheckResult, _result
from datapipe.quality.dedupe import IdRegistry
from datapipe.quality.deliveries import expected_on, members_of_file
from datapipe.quality.sources import (
    QUANTILES,
    SourceStats,
    file_source,
    history_by_source,
    quantile_baseline,
    source_stats,
    volume_baseline,
)

ENHANCED_CHECKS = ("distribution_shape", "source_day_not_yet_delivered")
_MEDIAN = QUANTILES.index(0.5)


def _relative_shift(value: float, base: float) -> float:
    if base == 0:
        return 0.0 if value == 0 else float("inf")
    return abs(value - base) / abs(base)


def _band_score(deviation: float, limit: float) -> float:
    """1 at no deviation, 0.5 exactly at the limit (the checks' minimum), 0 at twice the limit."""
    return max(0.0, 1.0 - deviation / (2 * limit))


def volume_check(
    contract: DatasetContract,
    stats: dict[str, SourceStats],
    history: dict[str, list[tuple[str, SourceStats]]],
) -> CheckResult:
    q = contract.quality
    tol = q.volume_tolerance
    per_source: list[dict[str, Any]] = []
    scores: list[float] = []
    all_ok = True
    floors = {}
    for line in q.deliveries:
        for source in line.sources:
            floors[source] = line.min_rows
    for name, s in sorted(stats.items()):
        base = volume_baseline(history.get(name, []), s.weekday, q.volume_history, q.seasonal_min_history)
        floor = floors.get(name, 0)
        entry: dict[str, Any] = {"source": name, "rows": s.rows, "min_rows": floor}
        ok, score = True, 1.0
        if base is not None:
            deviation = abs(s.rows - base.value)
            ok = deviation <= tol * base.value
            score = _band_score(deviation / base.value, tol) if base.value else 0.0
            entry |= {
                "baseline_rows": base.value,
                "basis": base.basis,
                "observations": base.observations,
                "ratio": round(s.rows / base.value, 4) if base.value else None,
            }
        else:
            entry["basis"] = "none: first delivery of this source"
        if s.rows < floor:
            ok, score = False, 0.0
            entry["below_min_rows"] = True
        entry["passed"] = ok
        all_ok &= ok
        scores.append(score)
        per_source.append(entry)
    result = _result(
        contract,
        "volume",
        min(scores) if scores else 1.0,
        {
            "tolerance": tol,
            "sources": per_source,
            "failing": [e["source"] for e in per_source if not e["passed"]],
        },
    )
    result.passed = all_ok and result.score >= result.threshold
    return result


def distribution_check(
    contract: DatasetContract,
    stats: dict[str, SourceStats],
    history: dict[str, list[tuple[str, SourceStats]]],
    quantiles: Sequence[float] = (0.5,),
    name: str = "distribution",
) -> CheckResult:
    q = contract.quality
    limit = q.distribution_max_shift
    if not q.distribution_column:
        return _result(contract, name, 1.0, {"baseline": "no distribution column in the contract"})
    per_source: list[dict[str, Any]] = []
    scores: list[float] = []
    all_ok = True
    for source, s in sorted(stats.items()):
        base = quantile_baseline(history.get(source, []), history, q.volume_history)
        entry: dict[str, Any] = {"source": source}
        if s.quantiles is None or base is None:
            entry["baseline"] = "none: nothing to compare with"
            per_source.append(entry)
            continue
        values, basis, observations = base
        shifts = {}
        for level in quantiles:
            i = QUANTILES.index(level)
            shifts[f"p{round(level * 100)}"] = _relative_shift(s.quantiles[i], values[i])
        worst = max(shifts.values())
        ok = worst <= limit
        entry |= {
            "quantiles": dict(zip((f"p{round(x * 100)}" for x in QUANTILES), s.quantiles, strict=True)),
            "baseline": dict(zip((f"p{round(x * 100)}" for x in QUANTILES), values, strict=True)),
            "basis": basis,
            "observations": observations,
            "relative_shift": {k: (round(v, 4) if v != float("inf") else "inf") for k, v in shifts.items()},
            "passed": ok,
        }
        all_ok &= ok
        scores.append(_band_score(worst, limit) if worst != float("inf") else 0.0)
        per_source.append(entry)
    result = _result(
        contract,
        name,
        min(scores) if scores else 1.0,
        {
            "column": q.distribution_column,
            "statistic": "quantiles of |value|",
            "max_shift": limit,
            "sources": per_source,
            "failing": [e["source"] for e in per_source if e.get("passed") is False],
        },
        threshold=contract.quality.min_score("distribution"),
    )
    result.passed = all_ok and result.score >= result.threshold
    return result


def deliveries_check(
    contract: DatasetContract,
    key: str,
    stats: dict[str, SourceStats],
    history: dict[str, list[tuple[str, SourceStats]]] | None = None,
) -> CheckResult:
    """A multi-source file must hold every calendar member that has delivered before (a store
    listed but not live yet is not expected; the freshness checker still reports it)."""
    own = file_source(contract, key)
    days = [s.day for s in stats.values() if s.day is not None]
    day = max(set(days), key=days.count) if days else None
    members = members_of_file(contract, own, day)
    present = set(stats)
    details: dict[str, Any] = {"file_source": own, "business_day": None if day is None else day.isoformat()}
    if members:
        known = [m for m in members if (history or {}).get(m)]
        missing = sorted(set(known) - present)
        details |= {
            "calendar_sources": len(members),
            "expected_sources": len(known),
            "missing_sources": missing,
            "unexpected_sources": sorted(present - set(members)),
        }
        return _result(contract, "deliveries", 1.0 - len(missing) / len(known) if known else 1.0, details)
    calendar = expected_on(contract, day) if day is not None else {}
    listed = {s for line in contract.quality.deliveries for s in line.sources}
    details["not_in_calendar"] = sorted(present - listed)
    details["not_expected_that_day"] = sorted((present & listed) - set(calendar))
    return _result(contract, "deliveries", 1.0, details)


def cross_file_uniqueness_check(
    contract: DatasetContract, table: pa.Table, run_id: str, registry: IdRegistry | None, now: datetime
) -> CheckResult:
    policy = contract.quality.dedupe
    if policy is None:
        return _result(
            contract, "cross_file_uniqueness", 1.0, {"checked": False, "reason": "no dedupe policy"}
        )
    if registry is None:
        return _result(
            contract,
            "cross_file_uniqueness",
            1.0,
            {"checked": False, "reason": "no id registry wired: duplicates are still refused at publish"},
        )
    ids = [i for i in pc.cast(table.column(policy.column), pa.string()).to_pylist() if i]
    seen = registry.seen(contract.name, ids, run_id, now)
    rows = table.num_rows
    owners = sorted(set(seen.values()))
    return _result(
        contract,
        "cross_file_uniqueness",
        1.0 - len(seen) / rows if rows else 1.0,
        {
            "checked": True,
            "column": policy.column,
            "retention_days": policy.retention_days,
            "already_published": len(seen),
            "rows": rows,
            "published_by_runs": owners[:5],
            "example_ids": sorted(seen)[:5],
        },
    )


def history_checks(
    contract: DatasetContract,
    table: pa.Table,
    key: str,
    run_id: str,
    records: list[dict[str, Any]],
    registry: IdRegistry | None,
    now: datetime,
) -> list[CheckResult]:
    """The every-file checks against each source's history (``records``: published runs, not this one)."""
    stats = source_stats(contract, table, key)
    history = history_by_source(contract, [r for r in records if r.get("run_id") != run_id])
    return [
        volume_check(contract, stats, history),
        distribution_check(contract, stats, history),
        deliveries_check(contract, key, stats, history),
        cross_file_uniqueness_check(contract, table, run_id, registry, now),
    ]


def enhanced_checks(
    contract: DatasetContract, table: pa.Table, key: str, run_id: str, records: list[dict[str, Any]]
) -> list[CheckResult]:
    """Deeper checks the borderline band must also pass (computed with the others, decided later)."""
    stats = source_stats(contract, table, key)
    history = history_by_source(contract, [r for r in records if r.get("run_id") != run_id])
    shape = distribution_check(contract, stats, history, quantiles=(0.1, 0.5, 0.9), name="distribution_shape")
    repeats: list[dict[str, Any]] = []
    for source, s in sorted(stats.items()):
        if s.day is None:
            continue
        runs = sorted({run for run, obs in history.get(source, []) if obs.day == s.day and obs.rows > 0})
        if runs:
            repeats.append({"source": source, "day": s.day.isoformat(), "published_by_runs": runs[:5]})
    day_check = _result(
        contract,
        "source_day_not_yet_delivered",
        0.0 if repeats else 1.0,
        {"already_delivered": repeats},
        threshold=1.0,
    )
    return [shape, day_check]
