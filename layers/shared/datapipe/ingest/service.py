"""Ingest one raw object: read, validate, stage valid rows, quarantine the rest, announce.

Every input row ends up either staged or in the quarantine file; whole-file faults quarantine
the object itself. The handler never crashes on bad data: only infrastructure errors raise.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq

from datapipe import layout
from datapipe.contracts import ContractRegistry, DatasetContract
from datapipe.events import (
    DATASET_QUARANTINED,
    DATASET_STAGED,
    DatasetQuarantinedDetail,
    DatasetStagedDetail,
    RejectReason,
    RowCounts,
    S3Location,
    SourceObject,
)
from datapipe.ingest.reader import FileRejected, RowReject, read_raw
from datapipe.ingest.validation import Lineage, ValidationResult, validate
from datapipe.ports import EventBus, Notifier, ObjectStore
from datapipe.settings import Settings

UNKNOWN_DATASET = "unknown"
TOP_REASONS = 5


class RowCountMismatch(AssertionError):
    """rows_in != rows_valid + rows_rejected: a bug, never bad data; fail loudly."""


@dataclass
class ObjectRef:
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None


@dataclass
class IngestReport:
    status: str  # STAGED | FILE_QUARANTINED | ALL_ROWS_REJECTED
    dataset: str
    run_id: str
    key: str
    rows_in: int = 0
    rows_valid: int = 0
    rows_rejected: int = 0
    reason_code: str | None = None
    reason: str | None = None
    staged: dict[str, str] | None = None
    manifest: dict[str, str] | None = None
    quarantine: dict[str, str] | None = None
    top_reject_reasons: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestDeps:
    store: ObjectStore
    bus: EventBus
    notifier: Notifier
    settings: Settings
    registry: ContractRegistry


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _reject_line(reject: RowReject, key: str) -> dict[str, Any]:
    line: dict[str, Any] = {
        "source_key": key,
        "source_row": reject.source_row,
        "column": reject.column,
        "rule": reject.rule,
        "value": reject.value,
        "message": reject.message,
    }
    if isinstance(reject.record, dict):
        line.update(reject.record)
    else:
        line["errors"] = [
            {"column": reject.column, "rule": reject.rule, "value": reject.value, "message": reject.message}
        ]
        line["raw_record"] = reject.record
    return line


def top_reasons(by_rule: Counter[str], limit: int = TOP_REASONS) -> list[RejectReason]:
    return [RejectReason(reason=r, rows=n) for r, n in by_rule.most_common(limit)]


def ingest_object(ref: ObjectRef, deps: IngestDeps, now: datetime | None = None) -> IngestReport:
    now = now or datetime.now(UTC)
    contract = deps.registry.for_key(ref.key)
    dataset = contract.name if contract else UNKNOWN_DATASET
    obj = deps.store.get(ref.bucket, ref.key, ref.version_id)
    run = layout.run_id(dataset, ref.key, obj.etag or ref.etag or ref.version_id or "untagged")
    source = SourceObject(
        bucket=ref.bucket,
        key=ref.key,
        version_id=obj.version_id or ref.version_id,
        etag=obj.etag or ref.etag or "",
        size=obj.size,
        arrived_at=obj.last_modified or now,
    )
    if contract is None:
        known = ", ".join(c.raw_prefix for c in deps.registry)
        return _quarantine_file(
            FileRejected(
                "UNKNOWN_PREFIX", f"{ref.key}: no dataset contract for this prefix (known prefixes: {known})"
            ),
            dataset,
            run,
            source,
            obj.body,
            deps,
            now,
        )
    try:
        batch = read_raw(obj.body, ref.key, contract)
    except FileRejected as exc:
        return _quarantine_file(exc, dataset, run, source, obj.body, deps, now)

    lineage = Lineage(ref.key, source.version_id or "", source.etag, run)
    result = validate(batch, contract, lineage)
    if result.rows_in != result.rows_valid + result.rows_rejected:
        raise RowCountMismatch(
            f"{ref.key}: rows_in={result.rows_in} valid={result.rows_valid} rejected={result.rows_rejected}"
        )
    return _stage(
        contract,
        run,
        source,
        obj.body,
        batch.format,
        batch.compression,
        batch.ignored_columns,
        result,
        deps,
        now,
    )


def _stage(
    contract: DatasetContract,
    run: str,
    source: SourceObject,
    raw: bytes,
    fmt: str,
    compression: str,
    ignored_columns: list[str],
    result: ValidationResult,
    deps: IngestDeps,
    now: datetime,
) -> IngestReport:
    s = deps.settings
    curated = s.require("curated_bucket")
    quarantine = s.require("quarantine_bucket")
    counts = RowCounts(
        rows_in=result.rows_in, rows_valid=result.rows_valid, rows_rejected=result.rows_rejected
    )
    reasons = top_reasons(result.rejects_by_rule)

    rejects_loc: S3Location | None = None
    rejects_sha = None
    if result.rejects:
        body = (
            "\n".join(json.dumps(_reject_line(r, source.key), default=str) for r in result.rejects).encode()
            + b"\n"
        )
        rejects_loc = S3Location(bucket=quarantine, key=layout.rejected_rows_key(contract.name, now, run))
        deps.store.put(rejects_loc.bucket, rejects_loc.key, body, "application/x-ndjson")
        rejects_sha = _sha256(body)

    staged_loc = S3Location(bucket=curated, key=layout.staged_key(contract.name, run))
    staged_sha = None
    if result.rows_valid:
        buf = io.BytesIO()
        pq.write_table(result.valid, buf, compression="snappy")
        staged = buf.getvalue()
        deps.store.put(staged_loc.bucket, staged_loc.key, staged, "application/vnd.apache.parquet")
        staged_sha = _sha256(staged)

    manifest_loc = S3Location(bucket=curated, key=layout.manifest_key(contract.name, run))
    manifest = {
        "dataset": contract.name,
        "schema_version": contract.schema_version,
        "run_id": run,
        "created_at": now.isoformat(),
        "source": source.model_dump(mode="json"),
        "format": fmt,
        "compression": compression,
        "counts": counts.model_dump(),
        "rejects_by_rule": dict(result.rejects_by_rule.most_common()),
        "null_counts": result.null_counts,
        "ignored_columns": ignored_columns,
        "staged": staged_loc.model_dump() if result.rows_valid else None,
        "rejects": rejects_loc.model_dump() if rejects_loc else None,
        "checksums": {
            "source_sha256": _sha256(raw),
            "staged_sha256": staged_sha,
            "rejects_sha256": rejects_sha,
        },
    }
    deps.store.put(
        manifest_loc.bucket,
        manifest_loc.key,
        json.dumps(manifest, indent=2, default=str).encode(),
        "application/json",
    )

    report = IngestReport(
        status="STAGED",
        dataset=contract.name,
        run_id=run,
        key=source.key,
        rows_in=counts.rows_in,
        rows_valid=counts.rows_valid,
        rows_rejected=counts.rows_rejected,
        staged=staged_loc.model_dump() if result.rows_valid else None,
        manifest=manifest_loc.model_dump(),
        quarantine=rejects_loc.model_dump() if rejects_loc else None,
        top_reject_reasons=[r.model_dump() for r in reasons],
    )
    if result.rows_valid == 0:
        assert rejects_loc is not None
        report.status = "ALL_ROWS_REJECTED"
        report.reason_code = "ALL_ROWS_REJECTED"
        report.reason = f"{source.key}: all {counts.rows_in} rows rejected; top reasons: " + ", ".join(
            f"{r.reason} ({r.rows})" for r in reasons
        )
        detail = DatasetQuarantinedDetail(
            dataset=contract.name,
            run_id=run,
            stage="ingest",
            reason_code=report.reason_code,
            reason=report.reason,
            source=source,
            quarantine=rejects_loc,
            counts=counts,
        )
        deps.notifier.notify(
            f"[{s.stage}] {contract.name}: file quarantined", detail.model_dump(mode="json"), "HIGH"
        )
        deps.bus.put(DATASET_QUARANTINED, detail.model_dump(mode="json"))
        return report

    staged_detail = DatasetStagedDetail(
        dataset=contract.name,
        schema_version=contract.schema_version,
        run_id=run,
        format=fmt,
        compression=compression,
        source=source,
        staged=staged_loc,
        manifest=manifest_loc,
        rejects=rejects_loc,
        counts=counts,
        top_reject_reasons=reasons,
    )
    deps.bus.put(DATASET_STAGED, staged_detail.model_dump(mode="json"))
    return report


def _quarantine_file(
    exc: FileRejected,
    dataset: str,
    run: str,
    source: SourceObject,
    raw: bytes,
    deps: IngestDeps,
    now: datetime,
) -> IngestReport:
    """Copy the object as-is to quarantine beside a reason file, alert ops, announce."""
    s = deps.settings
    bucket = s.require("quarantine_bucket")
    prefix = layout.quarantined_file_prefix(dataset, now, run)
    file_key = prefix + source.key.rsplit("/", 1)[-1]
    deps.store.copy(source.bucket, source.key, bucket, file_key, source.version_id)
    reason = {
        "dataset": dataset,
        "run_id": run,
        "reason_code": exc.code,
        "reason": exc.message,
        "source": source.model_dump(mode="json"),
        "source_sha256": _sha256(raw),
        "quarantined_at": now.isoformat(),
        "quarantined_object": {"bucket": bucket, "key": file_key},
    }
    deps.store.put(bucket, prefix + "reason.json", json.dumps(reason, indent=2).encode(), "application/json")
    loc = S3Location(bucket=bucket, key=file_key)
    detail = DatasetQuarantinedDetail(
        dataset=dataset,
        run_id=run,
        stage="ingest",
        reason_code=exc.code,
        reason=exc.message,
        source=source,
        quarantine=loc,
    )
    deps.notifier.notify(
        f"[{s.stage}] {dataset}: file quarantined ({exc.code})", detail.model_dump(mode="json"), "HIGH"
    )
    deps.bus.put(DATASET_QUARANTINED, detail.model_dump(mode="json"))
    return IngestReport(
        status="FILE_QUARANTINED",
        dataset=dataset,
        run_id=run,
        key=source.key,
        reason_code=exc.code,
        reason=exc.message,
        quarantine=loc.model_dump(),
    )
