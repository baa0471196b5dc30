"""Ingest one raw object: read, validate, stage valid rows, quarantine the rest, announce.

Streamed end to end: the object is read in chunks (gzip inflated on the fly), validated one
batch of whole lines at a time, valid rows written as Parquet row groups (a new part past
``limits.part_max_bytes``), rejected rows appended to the quarantine JSON Lines file. Memory
follows the batch size, not the file size (uniqueness adds 12 bytes per distinct key).

Every input row ends up either staged or in the quarantine file; whole-file faults quarantine
the object itself, also when found late (a truncated gzip): what was already written is
discarded first. The handler never crashes on bad data: only infrastructure errors (S3, the
bus) raise, so that Lambda retries them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datapipe import layout
from datapipe.contracts import ContractRegistry, DatasetContract
from datapipe.delivery import ContentOwner, DeliveryLedger
from datapipe.events import (
    DATASET_QUARANTINED,
    DATASET_STAGED,
    DatasetQuarantinedDetail,
    DatasetStagedDetail,
    DuplicateOf,
    RejectReason,
    RowCounts,
    S3Location,
    SourceObject,
    StagedLocation,
    StagedPart,
)
from datapipe.ingest.limits import IngestLimits
from datapipe.ingest.profile import FileProfile
from datapipe.ingest.reader import FileRejected, RowReject, open_raw
from datapipe.ingest.source import RawCounter
from datapipe.ingest.unique import SpillError
from datapipe.ingest.validation import FileContext, Lineage, validate
from datapipe.ports import EventBus, Notifier, ObjectStore, ObjectWriter
from datapipe.reference.fx import FxRates, load_published
from datapipe.settings import Settings

UNKNOWN_DATASET = "unknown"
TOP_REASONS = 5
HASH_REST_UP_TO = 256 * 1024**2  # after an early fault, finish hashing the source up to this size
COPY_OBJECT_MAX = 5 * 1024**3  # CopyObject's limit: larger quarantined files are referenced, not copied


class RowCountMismatch(AssertionError):
    """rows_in != rows_valid + rows_rejected: a bug, never bad data."""


class _InfraError(Exception):
    """An error of the store while streaming: re-raised as the original, for Lambda to retry."""


@dataclass
class ObjectRef:
    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None


@dataclass
class IngestReport:
    status: str  # STAGED | FILE_QUARANTINED | ALL_ROWS_REJECTED | DUPLICATE
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
    format: str | None = None
    staged_parts: list[dict[str, Any]] = field(default_factory=list)
    duplicate_of: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestDeps:
    store: ObjectStore
    bus: EventBus
    notifier: Notifier
    settings: Settings
    registry: ContractRegistry
    limits: IngestLimits = field(default_factory=IngestLimits)
    ledger: DeliveryLedger | None = None  # content identity; None: no duplicate detection


_REJECT_JSON = json.JSONEncoder(default=str).encode
"""``json.dumps(line, default=str)`` without building an encoder per rejected row."""


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


class _HashingWriter:
    """An ObjectWriter that also counts and hashes what goes through it (a Parquet sink)."""

    def __init__(self, inner: ObjectWriter) -> None:
        self._inner = inner
        self._sha = hashlib.sha256()
        self.bytes = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        if self.closed:  # aborted: what the Parquet writer still flushes (its footer) is dropped
            return len(data)
        chunk = bytes(data)
        try:
            self._inner.write(chunk)
        except Exception as exc:
            raise _InfraError(str(exc)) from exc
        self._sha.update(chunk)
        self.bytes += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        return None

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def finish(self) -> None:
        try:
            self._inner.close()
        except Exception as exc:
            raise _InfraError(str(exc)) from exc
        self.closed = True

    def abort(self) -> None:
        self._inner.abort()
        self.closed = True

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


class StagedWriter:
    """Valid rows as Parquet row groups, split into parts past ``part_max_bytes``."""

    def __init__(self, store: ObjectStore, bucket: str, dataset: str, run: str, part_max_bytes: int) -> None:
        self._store, self._bucket, self._dataset, self._run = store, bucket, dataset, run
        self._limit = part_max_bytes
        self._sink: _HashingWriter | None = None
        self._writer: pq.ParquetWriter | None = None
        self._rows = 0
        self.parts: list[dict[str, Any]] = []

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        if self._writer is None:
            key = layout.staged_part_key(self._dataset, self._run, len(self.parts))
            self._key = key
            self._sink = _HashingWriter(
                self._store.open_write(self._bucket, key, "application/vnd.apache.parquet")
            )
            self._writer = pq.ParquetWriter(self._sink, table.schema, compression="snappy")
            self._rows = 0
        self._writer.write_table(table)
        self._rows += table.num_rows
        assert self._sink is not None
        if self._sink.bytes >= self._limit:
            self._close_part()

    def _close_part(self) -> None:
        assert self._writer is not None and self._sink is not None
        self._writer.close()
        self._sink.finish()
        self.parts.append(
            {"key": self._key, "rows": self._rows, "bytes": self._sink.bytes, "sha256": self._sink.sha256}
        )
        self._writer = None
        self._sink = None

    def close(self) -> None:
        if self._writer is not None:
            self._close_part()

    def abort(self) -> None:
        """Discards every part: the open one is aborted, finished ones are deleted."""
        if self._sink is not None:
            self._sink.abort()
        if self._writer is not None:  # closed now (into the aborted sink), not when collected
            with contextlib.suppress(Exception):
                self._writer.close()
        self._writer = None
        self._sink = None
        if self.parts:
            self._store.delete(self._bucket, [p["key"] for p in self.parts])
        self.parts = []


class RejectWriter:
    """Rejected rows as JSON Lines, appended per batch; the object exists only if one row does."""

    def __init__(self, store: ObjectStore, location: S3Location, source_key: str) -> None:
        self._store, self.location, self._key = store, location, source_key
        self._sink: _HashingWriter | None = None

    def write(self, rejects: list[RowReject]) -> None:
        if not rejects:
            return
        if self._sink is None:
            self._sink = _HashingWriter(
                self._store.open_write(self.location.bucket, self.location.key, "application/x-ndjson")
            )
        lines = [_REJECT_JSON(_reject_line(r, self._key)) for r in rejects]
        self._sink.write(("\n".join(lines) + "\n").encode())

    @property
    def written(self) -> bool:
        return self._sink is not None

    @property
    def sha256(self) -> str | None:
        return self._sink.sha256 if self._sink else None

    def close(self) -> None:
        if self._sink is not None and not self._sink.closed:
            self._sink.finish()

    def abort(self) -> None:
        if self._sink is not None and not self._sink.closed:
            self._sink.abort()
        elif self._sink is not None:
            self._store.delete(self.location.bucket, [self.location.key])
        self._sink = None


def _guarded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The store's chunks, with its errors marked as infrastructure errors."""
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except Exception as exc:
            raise _InfraError(str(exc)) from exc
        yield chunk


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + " ... (truncated)"


def ingest_object(ref: ObjectRef, deps: IngestDeps, now: datetime | None = None) -> IngestReport:
    now = now or datetime.now(UTC)
    limits = deps.limits
    for name in ("curated_bucket", "quarantine_bucket"):
        deps.settings.require(name)  # configuration, not data: raise before reading anything
    contract = deps.registry.for_key(ref.key)
    dataset = contract.name if contract else UNKNOWN_DATASET
    obj = deps.store.open_read(ref.bucket, ref.key, ref.version_id)
    run = layout.run_id(dataset, ref.key, obj.etag or ref.etag or ref.version_id or "untagged")
    source = SourceObject(
        bucket=ref.bucket,
        key=ref.key,
        version_id=obj.version_id or ref.version_id,
        etag=obj.etag or ref.etag or "",
        size=obj.size,
        arrived_at=obj.last_modified or now,
    )
    counter = RawCounter()
    chunks = counter.wrap(_guarded(obj.chunks))
    try:
        if contract is None:
            known = ", ".join(c.raw_prefix for c in deps.registry)
            raise FileRejected(
                "UNKNOWN_PREFIX", f"{ref.key}: no dataset contract for this prefix (known prefixes: {known})"
            )
        if obj.size == 0:
            raise FileRejected("EMPTY_FILE", f"{ref.key}: object is empty (0 bytes)")
        if obj.size > limits.max_object_bytes:
            raise FileRejected(
                "FILE_TOO_LARGE", f"{ref.key}: {obj.size:,} bytes, over the {limits.max_object_bytes:,} limit"
            )
        return _ingest_stream(contract, run, source, chunks, counter, deps, now)
    except FileRejected as exc:
        return _quarantine_file(exc, dataset, run, source, chunks, counter, deps, now)
    except _InfraError as exc:
        raise exc.__cause__ or exc from None
    except Exception as exc:  # a bug: quarantined with its type, never a crash loop on the same file
        bug = FileRejected(
            "INTERNAL_ERROR", f"{ref.key}: ingest failed unexpectedly ({type(exc).__name__}: {exc})"
        )
        return _quarantine_file(bug, dataset, run, source, chunks, counter, deps, now)
    finally:
        if obj.close is not None:
            obj.close()


def _ingest_stream(
    contract: DatasetContract,
    run: str,
    source: SourceObject,
    chunks: Iterator[bytes],
    counter: RawCounter,
    deps: IngestDeps,
    now: datetime,
) -> IngestReport:
    s = deps.settings
    curated = s.require("curated_bucket")
    quarantine = s.require("quarantine_bucket")
    lineage = Lineage(source.key, source.version_id or "", source.etag, run)
    staged = StagedWriter(deps.store, curated, contract.name, run, deps.limits.part_max_bytes)
    rejects = RejectWriter(
        deps.store,
        S3Location(bucket=quarantine, key=layout.rejected_rows_key(contract.name, now, run)),
        source.key,
    )
    profile = FileProfile(contract, source.arrived_at)
    fx = FxRates.reference()
    if any(r.kind == "max_in_base_currency" for r in contract.row_rules):
        try:
            fx = load_published(deps.store, curated)
        except Exception as exc:
            raise _InfraError(str(exc)) from exc
    ctx = FileContext(arrival=source.arrived_at, fx=fx, unique_memory_bytes=deps.limits.unique_memory_bytes)
    try:
        reader = open_raw(chunks, source.key, contract, deps.limits)
        for batch in reader.batches():
            result = validate(batch, contract, lineage, ctx)
            if result.rows_in != result.rows_valid + result.rows_rejected:
                raise RowCountMismatch(
                    f"rows_in={result.rows_in} valid={result.rows_valid} rejected={result.rows_rejected}"
                )
            staged.write(result.valid)
            for chunk in result.reject_chunks():  # a chunk of Python objects at a time
                rejects.write(chunk)
            profile.add(result)
        ctx.close()  # the uniqueness state's memory and spill files, before the last uploads
        staged.close()
        rejects.close()
    except SpillError as exc:  # the keys outgrew local disk: said so, never a guessed answer
        staged.abort()
        rejects.abort()
        raise FileRejected("FILE_TOO_LARGE", f"{source.key}: {exc}") from exc
    except BaseException:
        staged.abort()
        rejects.abort()
        raise
    finally:
        ctx.close()
    try:
        return _announce(contract, run, source, reader, counter, staged, rejects, profile, deps, now)
    except Exception as exc:  # the store, the ledger or the bus: Lambda retries the event
        _orphans_undone(contract, run, source, counter, staged, rejects, deps, exc)
        raise _InfraError(str(exc)) from exc


def _orphans_undone(
    contract: DatasetContract,
    run: str,
    source: SourceObject,
    counter: RawCounter,
    staged: StagedWriter,
    rejects: RejectWriter,
    deps: IngestDeps,
    exc: Exception,
) -> None:
    """The file was read and staged but could not be announced (the manifest or DatasetStaged
    failed): nothing is left staged without an alert. The staged parts, rejects and manifest are
    removed, the content claim given back, and the operators told; the error is re-raised so
    Lambda retries the event (which stages again) and finally parks it in the ingest DLQ.
    Every step is best effort: the infrastructure that just failed may fail again."""
    removed: list[str] = []
    try:
        keys = [p["key"] for p in staged.parts] + [layout.manifest_key(contract.name, run)]
        deps.store.delete(deps.settings.require("curated_bucket"), keys)
        removed += keys
        if rejects.written:
            deps.store.delete(rejects.location.bucket, [rejects.location.key])
            removed.append(rejects.location.key)
    except Exception:  # the alert below still says what may be left
        pass
    try:
        if deps.ledger is not None:
            deps.ledger.release_content(contract.name, counter.sha256, run)
    except Exception:  # a retry of the same run re-claims its own content anyway
        pass
    with contextlib.suppress(Exception):  # the DLQ (and its alarm) is the last word
        deps.notifier.notify(
            f"[{deps.settings.stage}] {contract.name}: ingest failed after staging, will be retried",
            {
                "dataset": contract.name,
                "run_id": run,
                "source": source.model_dump(mode="json"),
                "error": f"{type(exc).__name__}: {exc}"[:1000],
                "removed": removed,
                "next": "Lambda retries the event; after the last attempt it is parked in the ingest "
                "DLQ: redrive it once the cause is fixed",
            },
            "HIGH",
        )


def _announce(
    contract: DatasetContract,
    run: str,
    source: SourceObject,
    reader: Any,
    counter: RawCounter,
    staged: StagedWriter,
    rejects: RejectWriter,
    profile: FileProfile,
    deps: IngestDeps,
    now: datetime,
) -> IngestReport:
    s = deps.settings
    curated = s.require("curated_bucket")
    counts = RowCounts(
        rows_in=profile.rows_in, rows_valid=profile.rows_valid, rows_rejected=profile.rows_rejected
    )
    if deps.ledger is not None and counts.rows_valid:
        owner = deps.ledger.claim_content(contract.name, counter.sha256, run, source.key, now)
        if owner is not None:
            return _duplicate(contract, run, source, counter, staged, rejects, counts, owner, deps, now)
    reasons = top_reasons(profile.by_rule)
    rejects_loc = rejects.location if rejects.written else None
    parts = [StagedPart(key=p["key"], rows=p["rows"], bytes=p["bytes"]) for p in staged.parts]
    staged_loc = StagedLocation(
        bucket=curated, key=parts[0].key if parts else layout.staged_key(contract.name, run), parts=parts
    )
    manifest_loc = S3Location(bucket=curated, key=layout.manifest_key(contract.name, run))
    manifest = {
        "dataset": contract.name,
        "schema_version": contract.schema_version,
        "run_id": run,
        "created_at": now.isoformat(),
        "source": source.model_dump(mode="json"),
        "format": reader.format,
        "compression": reader.compression,
        "counts": counts.model_dump(),
        "rejects_by_rule": dict(profile.by_rule.most_common()),
        "null_counts": profile.null_counts,
        "ignored_columns": reader.ignored_columns,
        "staged": {"bucket": curated, "key": parts[0].key} if parts else None,
        "staged_parts": [{"bucket": curated, **p} for p in staged.parts],
        "rejects": rejects_loc.model_dump() if rejects_loc else None,
        "profiles": profile.columns(),
        "partitions": profile.partitions(),
        "quality_inputs": profile.quality_inputs(),
        "limits": asdict(deps.limits),
        "checksums": {
            "source_sha256": counter.sha256,
            "staged_sha256": staged.parts[0]["sha256"] if len(staged.parts) == 1 else None,
            "rejects_sha256": rejects.sha256,
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
        staged=S3Location(bucket=curated, key=staged_loc.key).model_dump() if parts else None,
        manifest=manifest_loc.model_dump(),
        quarantine=rejects_loc.model_dump() if rejects_loc else None,
        top_reject_reasons=[r.model_dump() for r in reasons],
        format=reader.format,
        staged_parts=[{"bucket": curated, **p} for p in staged.parts],
    )
    if counts.rows_valid == 0:
        assert rejects_loc is not None
        report.status = "ALL_ROWS_REJECTED"
        report.reason_code = "ALL_ROWS_REJECTED"
        report.reason = _cut(
            f"{source.key}: all {counts.rows_in} rows rejected; top reasons: "
            + ", ".join(f"{r.reason} ({r.rows})" for r in reasons),
            deps.limits.max_reason_chars,
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
        format=reader.format,
        compression=reader.compression,
        source=source,
        staged=staged_loc,
        manifest=manifest_loc,
        rejects=rejects_loc,
        counts=counts,
        top_reject_reasons=reasons,
    )
    deps.bus.put(DATASET_STAGED, staged_detail.model_dump(mode="json"))
    return report


def _duplicate(
    contract: DatasetContract,
    run: str,
    source: SourceObject,
    counter: RawCounter,
    staged: StagedWriter,
    rejects: RejectWriter,
    counts: RowCounts,
    owner: ContentOwner,
    deps: IngestDeps,
    now: datetime,
) -> IngestReport:
    """The same bytes were staged before by another run: DUPLICATE, never a second copy. What this
    run staged is discarded; a reason file points at the original run; operators and the bus are
    told (DatasetQuarantined, reason_code DUPLICATE, ``duplicate_of``)."""
    s = deps.settings
    bucket = s.require("quarantine_bucket")
    staged.abort()
    rejects.abort()
    original = DuplicateOf(
        run_id=owner.run_id,
        source_key=owner.source_key,
        claimed_at=owner.claimed_at,
        source_sha256=counter.sha256,
    )
    reason = (
        f"{source.key}: the same bytes (SHA-256 {counter.sha256[:16]}...) were delivered as "
        f"{owner.source_key} (run {owner.run_id}); not staged again"
    )
    reason_key = layout.quarantined_file_prefix(contract.name, now, run) + "reason.json"
    deps.store.put(
        bucket,
        reason_key,
        json.dumps(
            {
                "dataset": contract.name,
                "run_id": run,
                "reason_code": "DUPLICATE",
                "reason": reason,
                "source": source.model_dump(mode="json"),
                "duplicate_of": original.model_dump(),
                "counts": counts.model_dump(),
                "quarantined_at": now.isoformat(),
            },
            indent=2,
        ).encode(),
        "application/json",
    )
    detail = DatasetQuarantinedDetail(
        dataset=contract.name,
        run_id=run,
        stage="ingest",
        reason_code="DUPLICATE",
        reason=_cut(reason, deps.limits.max_reason_chars),
        source=source,
        quarantine=S3Location(bucket=bucket, key=reason_key),
        counts=counts,
        duplicate_of=original,
    )
    deps.notifier.notify(
        f"[{s.stage}] {contract.name}: duplicate delivery of {owner.run_id}",
        detail.model_dump(mode="json"),
        "LOW",
    )
    deps.bus.put(DATASET_QUARANTINED, detail.model_dump(mode="json"))
    return IngestReport(
        status="DUPLICATE",
        dataset=contract.name,
        run_id=run,
        key=source.key,
        rows_in=counts.rows_in,
        rows_valid=counts.rows_valid,
        rows_rejected=counts.rows_rejected,
        reason_code="DUPLICATE",
        reason=detail.reason,
        quarantine=detail.quarantine.model_dump(),
        duplicate_of=original.model_dump(),
    )


def _quarantine_file(
    exc: FileRejected,
    dataset: str,
    run: str,
    source: SourceObject,
    chunks: Iterator[bytes],
    counter: RawCounter,
    deps: IngestDeps,
    now: datetime,
) -> IngestReport:
    """Copy the object as-is to quarantine beside a reason file, alert ops, announce."""
    s = deps.settings
    bucket = s.require("quarantine_bucket")
    message = _cut(exc.message, deps.limits.max_reason_chars)
    if source.size <= HASH_REST_UP_TO:  # finish reading for the checksum (cheap at this size)
        try:
            for _ in chunks:
                pass
        except _InfraError as err:
            raise err.__cause__ or err from None
        except Exception:  # the rest of a broken stream does not matter here
            pass
    full = counter.bytes == source.size
    prefix = layout.quarantined_file_prefix(dataset, now, run)
    file_key = prefix + source.key.rsplit("/", 1)[-1][:200]
    copied = source.size <= COPY_OBJECT_MAX
    if copied:
        deps.store.copy(source.bucket, source.key, bucket, file_key, source.version_id)
    reason = {
        "dataset": dataset,
        "run_id": run,
        "reason_code": exc.code,
        "reason": exc.message,  # whole here; alerts and events carry it shortened, pointing here
        "source": source.model_dump(mode="json"),
        "source_sha256": counter.sha256 if full else None,
        "quarantined_at": now.isoformat(),
        "quarantined_object": {"bucket": bucket, "key": file_key}
        if copied
        else {
            "bucket": source.bucket,
            "key": source.key,
            "note": "larger than CopyObject allows: left in place",
        },
    }
    deps.store.put(bucket, prefix + "reason.json", json.dumps(reason, indent=2).encode(), "application/json")
    loc = (
        S3Location(bucket=bucket, key=file_key)
        if copied
        else S3Location(bucket=source.bucket, key=source.key)
    )
    detail = DatasetQuarantinedDetail(
        dataset=dataset,
        run_id=run,
        stage="ingest",
        reason_code=exc.code,
        reason=message,
        source=source,
        quarantine=loc,
        reason_object=S3Location(bucket=bucket, key=prefix + "reason.json")
        if message != exc.message
        else None,
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
        reason=message,
        quarantine=loc.model_dump(),
    )
