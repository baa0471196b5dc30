"""Moves a staged dataset that failed the gate (or the pipeline) into the quarantine bucket."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from datapipe import layout
from datapipe.events import DatasetQuarantinedDetail, DatasetStagedDetail, S3Location
from datapipe.ports import ObjectStore


def quarantine_staged(
    detail: DatasetStagedDetail,
    store: ObjectStore,
    quarantine_bucket: str,
    stage: str,
    reason_code: str,
    reason: str,
    quality: dict[str, Any] | None = None,
) -> DatasetQuarantinedDetail:
    """Copy staged data and manifest beside a decision file, then remove the staged copy.

    Idempotent: a second call finds the staged object gone and keeps the quarantined copy.
    """
    prefix = layout.quarantined_dataset_prefix(detail.dataset, detail.run_id)
    data_key = prefix + "data.parquet"
    part_keys = detail.staged.part_keys()  # a large file is staged as several parts: move them all
    staged_present = bool(store.list_keys(detail.staged.bucket, detail.staged.key))
    if staged_present:
        for i, key in enumerate(part_keys):
            target = data_key if i == 0 else f"{prefix}data.part-{i:05d}.parquet"
            store.copy(detail.staged.bucket, key, quarantine_bucket, target)
    store.copy(detail.manifest.bucket, detail.manifest.key, quarantine_bucket, prefix + "manifest.json")
    decision = {
        "dataset": detail.dataset,
        "run_id": detail.run_id,
        "stage": stage,
        "reason_code": reason_code,
        "reason": reason,
        "quality": quality,
        "source": detail.source.model_dump(mode="json"),
        "counts": detail.counts.model_dump(),
        "rejected_rows": detail.rejects.model_dump() if detail.rejects else None,
        "quarantined_at": datetime.now(UTC).isoformat(),
        "replay": "copy data.parquet back to the staged key and re-run the state machine "
        "with the original DatasetStaged event",
    }
    store.put(
        quarantine_bucket,
        prefix + "decision.json",
        json.dumps(decision, indent=2, default=str).encode(),
        "application/json",
    )
    if staged_present:
        store.delete(detail.staged.bucket, part_keys)
    return DatasetQuarantinedDetail(
        dataset=detail.dataset,
        run_id=detail.run_id,
        stage=stage if stage in ("quality_gate", "failure") else "failure",  # type: ignore[arg-type]
        reason_code=reason_code,
        reason=reason,
        source=detail.source,
        quarantine=S3Location(bucket=quarantine_bucket, key=data_key),
        counts=detail.counts,
        quality=quality,
    )


def describe_quality(quality: dict[str, Any]) -> str:
    """One line an operator can act on: which checks vetoed or failed, with scores and limits."""
    checks = {c["name"]: c for c in quality.get("checks", [])}
    parts = []
    for name in quality.get("vetoes", []):
        c = checks.get(name, {})
        limit = (
            c.get("floor")
            if c.get("floor") is not None and c.get("score", 1) < c["floor"]
            else c.get("threshold")
        )
        parts.append(f"{name} {c.get('score', 0):.3f} below critical limit {limit}")
    for name in quality.get("failed_checks", []):
        if name not in quality.get("vetoes", []):
            c = checks.get(name, {})
            parts.append(f"{name} {c.get('score', 0):.3f} < {c.get('threshold')}")
    enhanced = quality.get("enhanced")
    if enhanced:
        for c in enhanced.get("checks", []):
            if not c.get("passed"):
                parts.append(f"enhanced {c['name']} {c['score']:.3f}: {json.dumps(c.get('details', {}))}")
    score = quality.get("score")
    head = f"quality score {score:.3f}" if isinstance(score, (int, float)) else "quality checks"
    return f"{head}; " + ("; ".join(parts) if parts else "no failed checks")
