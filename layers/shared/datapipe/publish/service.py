"""Publishes a staged dataset to the curated, Glue-catalogued, date-partitioned table.

The curated Parquet is written with pyarrow straight from the staged Arrow table (one file per
partition, no pandas round trip); awswrangler's catalog functions register the table (schema
evolution: added columns) and its partitions. awswrangler is imported inside the function: only
the publish function pays its import cost.

Never loses what was published, never doubles it:
* one publish per run at a time: a conditional claim (``DeliveryLedger.acquire_publish``, a
  lease); a concurrent publish of the same run waits for it, then finds the run published;
* a run already published (its record lists its live files, all present) is not rewritten:
  ALREADY_PUBLISHED, with the counts of the publish that did it;
* otherwise the new files are written first (named ``<run>_<attempt>_``), then the published
  record switches to them (it lists the live files), then the run's other files are removed;
  any failure before the switch removes what this attempt wrote, so the previous version stays
  visible as it was;
* a *correction* (a new run from the same source object: same key, other bytes) replaces the
  rows of the run that was live for that key: the correction takes over its ids (the cross-file
  dedupe would otherwise call them duplicates), and once its own files are in place the replaced
  run's files, history entries and leftover ids are retired, its record marked SUPERSEDED.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datapipe import layout
from datapipe.contracts import DatasetContract
from datapipe.delivery import DeliveryLedger
from datapipe.events import DatasetStagedDetail
from datapipe.ports import ObjectStore
from datapipe.quality.checks import column_profile
from datapipe.quality.dedupe import IdRegistry, split_duplicates
from datapipe.quality.sources import history_entries
from datapipe.staging import read_staged

PUBLISHED, ALREADY_PUBLISHED, SUPERSEDED = "PUBLISHED", "ALREADY_PUBLISHED", "SUPERSEDED"
WAIT_FOR_CONCURRENT_S = 120.0


class PublishInProgress(RuntimeError):
    """Another publish of the same run holds it (the state machine retries later)."""


class SchemaEvolutionError(ValueError):
    """The staged data changes the type of a column already in the Glue table."""


@dataclass
class PublishResult:
    dataset: str
    run_id: str
    database: str
    table: str
    path: str
    partitions: list[str]
    rows_published: int
    replaced_files: int
    duplicates: int = 0  # rows whose id an earlier run published: not republished
    status: str = PUBLISHED  # PUBLISHED | ALREADY_PUBLISHED (a replay: nothing rewritten)
    replaces: str | None = None  # the run a correction replaced
    files: int = 0  # live curated files of the run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def glue_types(contract: DatasetContract, table: pa.Table) -> dict[str, str]:
    types = {c.name: c.glue_type for c in contract.columns}
    for name in table.column_names:
        if name not in types:
            typ = table.schema.field(name).type
            types[name] = "bigint" if pa.types.is_integer(typ) else "string"
    return types


def check_schema_evolution(
    existing: dict[str, str] | None, new: dict[str, str], database: str, table: str
) -> list[str]:
    """Additive columns are fine; a changed type is refused. Returns the added columns."""
    if not existing:
        return []
    changed = [
        f"{col}: {existing[col]} in {database}.{table}, {typ} in the staged data"
        for col, typ in new.items()
        if col in existing and existing[col].replace(" ", "") != typ.replace(" ", "")
    ]
    if changed:
        raise SchemaEvolutionError("type change(s) refused (add a new column instead): " + "; ".join(changed))
    return [c for c in new if c not in existing]


def write_partitions(
    store: ObjectStore, bucket: str, contract: DatasetContract, table: pa.Table, file_prefix: str
) -> tuple[list[str], dict[str, list[str]]]:
    """The rows as curated Parquet straight from Arrow (no pandas round trip): one snappy file per
    partition value, the partition column in the path only (hive style, as Glue and Athena read
    it). Returns the keys written, sorted, and the Glue partition locations with their values."""
    import pyarrow.parquet as pq

    base = layout.curated_prefix(contract.name)
    part = contract.partitions[0].name if contract.partitions else None
    if part is None:
        groups: list[tuple[str | None, pa.Table]] = [(None, table)]
    else:
        values = sorted(set(pc.unique(table.column(part)).to_pylist()))
        groups = [(v, table.filter(pc.equal(table.column(part), v))) for v in values]
    written: list[str] = []
    locations: dict[str, list[str]] = {}
    for value, rows in groups:
        prefix = base if part is None else f"{base}{part}={value}/"
        sink = io.BytesIO()
        pq.write_table(rows.drop_columns([part]) if part else rows, sink, compression="snappy")
        key = f"{prefix}{file_prefix}{uuid.uuid4().hex}.snappy.parquet"
        store.put(bucket, key, sink.getvalue(), "application/vnd.apache.parquet")
        written.append(key)
        if value is not None:
            locations[f"s3://{bucket}/{prefix}"] = [str(value)]
    return sorted(written), locations


def read_record(store: ObjectStore, bucket: str, dataset: str, run_id: str) -> dict[str, Any] | None:
    """The published record of a run (what is live), or None when it was never published."""
    key = layout.published_record_key(dataset, run_id)
    if not store.list_keys(bucket, key):
        return None
    record: dict[str, Any] = json.loads(store.get(bucket, key).body)
    return record


def _partition_prefixes(contract: DatasetContract, partitions: list[Any]) -> list[str]:
    base = layout.curated_prefix(contract.name)
    if not contract.partitions:
        return [base]
    return [f"{base}{contract.partitions[0].name}={value}/" for value in partitions]


def run_files(
    store: ObjectStore, bucket: str, contract: DatasetContract, run_id: str, partitions: list[Any]
) -> list[str]:
    """Every curated file of the run in those partitions (any attempt)."""
    run_prefix = layout.publish_file_prefix(run_id)
    keys: list[str] = []
    for prefix in _partition_prefixes(contract, partitions):
        keys.extend(store.list_keys(bucket, prefix + run_prefix))
    return keys


def _complete(store: ObjectStore, bucket: str, contract: DatasetContract, record: dict[str, Any]) -> bool:
    """The record's files are all there (a record from before file lists: any file of the run)."""
    if record.get("status", PUBLISHED) != PUBLISHED:
        return False
    present = set(run_files(store, bucket, contract, record["run_id"], record.get("partitions", [])))
    files = record.get("files")
    if files is None:
        return bool(present) or not record.get("rows_published")
    return set(files) <= present


def _result(
    contract: DatasetContract, record: dict[str, Any], database: str, path: str, status: str, removed: int = 0
) -> PublishResult:
    part = contract.partitions[0].name if contract.partitions else None
    return PublishResult(
        dataset=contract.name,
        run_id=record["run_id"],
        database=database,
        table=contract.name,
        path=path,
        partitions=[f"{part}={v}" for v in record.get("partitions", [])] if part else [],
        rows_published=int(record.get("rows_published", 0)),
        replaced_files=removed,
        duplicates=int(record.get("duplicates", {}).get("rows", 0)),
        status=status,
        replaces=record.get("replaces"),
        files=len(record.get("files") or []),
    )


def acquire(ledger: DeliveryLedger, run_id: str, owner: str, wait_s: float) -> None:
    """Hold the run's publish, waiting for a concurrent publish of it to finish."""
    deadline = time.monotonic() + wait_s
    while not ledger.acquire_publish(run_id, owner, datetime.now(UTC)):
        if time.monotonic() >= deadline:
            raise PublishInProgress(f"{run_id}: another publish of this run is in progress")
        time.sleep(0.5)


def discard_unpublished(
    store: ObjectStore, bucket: str, contract: DatasetContract, run_id: str, partitions: list[Any]
) -> list[str]:
    """Remove the run's curated files its published record does not list (an interrupted
    attempt's); every file of the run when it was never published. Returns the removed keys."""
    record = read_record(store, bucket, contract.name, run_id)
    live = (
        set(record.get("files") or []) if record and record.get("status", PUBLISHED) == PUBLISHED else set()
    )
    if record is not None and record.get("files") is None and record.get("status", PUBLISHED) == PUBLISHED:
        return []  # a record from before file lists: every file of the run is live
    known = set(partitions) | set(record.get("partitions", []) if record else [])
    stale = [k for k in run_files(store, bucket, contract, run_id, sorted(known)) if k not in live]
    if stale:
        store.delete(bucket, stale)
    return stale


def _ids_of(store: ObjectStore, bucket: str, keys: list[str], column: str) -> list[str]:
    import pyarrow.parquet as pq

    ids: list[str] = []
    for key in keys:
        table = pq.read_table(io.BytesIO(store.get(bucket, key).body), columns=[column])
        ids.extend(str(i) for i in table.column(column).to_pylist() if i)
    return ids


def retire(
    store: ObjectStore,
    bucket: str,
    contract: DatasetContract,
    run_id: str,
    replaced_by: str,
    id_registry: IdRegistry | None,
) -> int:
    """The replaced run of a correction: its files, history entries and the ids the correction
    did not take over go (a release is conditional on the id still being the replaced run's);
    its record stays, marked SUPERSEDED. Returns the files removed."""
    record = read_record(store, bucket, contract.name, run_id)
    if record is None or record.get("status") == SUPERSEDED:
        return 0
    files = run_files(store, bucket, contract, run_id, record.get("partitions", []))
    dedupe = contract.quality.dedupe
    if id_registry is not None and dedupe is not None and files:
        id_registry.release(contract.name, _ids_of(store, bucket, files, dedupe.column), run_id)
    if files:
        store.delete(bucket, files)
    if record.get("history_keys"):
        store.delete(bucket, list(record["history_keys"]))
    record.update(status=SUPERSEDED, superseded_by=replaced_by, superseded_at=datetime.now(UTC).isoformat())
    store.put(
        bucket,
        layout.published_record_key(contract.name, run_id),
        json.dumps(record, indent=2).encode(),
        "application/json",
    )
    return len(files)


def publish(
    detail: DatasetStagedDetail,
    contract: DatasetContract,
    store: ObjectStore,
    curated_bucket: str,
    database: str,
    quality_score: float | None = None,
    boto3_session: Any = None,
    id_registry: IdRegistry | None = None,
    now: datetime | None = None,
    ledger: DeliveryLedger | None = None,
    attempt: str | None = None,
    wait_s: float = WAIT_FOR_CONCURRENT_S,
) -> PublishResult:
    """``id_registry``: claims the contract's dedupe ids first; rows another run holds are left
    out and counted (``duplicates``, ids in the published record), never republished.
    ``ledger``: the per-run publish claim and the live run per source object (corrections)."""
    attempt = attempt or uuid.uuid4().hex[:12]
    if ledger is not None:
        acquire(ledger, detail.run_id, attempt, wait_s)
    try:
        return _publish(
            detail,
            contract,
            store,
            curated_bucket,
            database,
            quality_score,
            boto3_session,
            id_registry,
            now or datetime.now(UTC),
            ledger,
            attempt,
        )
    finally:
        if ledger is not None:
            ledger.release_publish(detail.run_id, attempt)


def _publish(
    detail: DatasetStagedDetail,
    contract: DatasetContract,
    store: ObjectStore,
    curated_bucket: str,
    database: str,
    quality_score: float | None,
    boto3_session: Any,
    id_registry: IdRegistry | None,
    at: datetime,
    ledger: DeliveryLedger | None,
    attempt: str,
) -> PublishResult:
    import awswrangler as wr

    path = f"s3://{curated_bucket}/{layout.curated_prefix(contract.name)}"
    previous = read_record(store, curated_bucket, contract.name, detail.run_id)
    if previous is not None and _complete(store, curated_bucket, contract, previous):
        # finish what an interrupted publish left undone: the switch, the replaced run's retirement
        if ledger is not None:
            ledger.set_live(contract.name, detail.source.key, detail.run_id, previous.get("replaces"), at)
        removed = 0
        if previous.get("replaces"):
            removed = retire(
                store, curated_bucket, contract, previous["replaces"], detail.run_id, id_registry
            )
        return _result(contract, previous, database, path, ALREADY_PUBLISHED, removed)
    replaces = ledger.live_run(contract.name, detail.source.key) if ledger is not None else None
    if replaces == detail.run_id:
        replaces = None

    staged = read_staged(store, detail.staged)  # every part
    duplicate_ids: list[str] = []
    claimed: list[str] = []
    dedupe = contract.quality.dedupe
    if id_registry is not None and dedupe is not None:
        ids = [str(i) for i in staged.column(dedupe.column).to_pylist() if i]
        claim = id_registry.claim(
            contract.name, ids, detail.run_id, at, timedelta(days=dedupe.retention_days), replacing=replaces
        )
        claimed = list(claim.claimed)
        duplicate_ids = sorted(claim.duplicates)
        staged, _ = split_duplicates(staged, dedupe.column, duplicate_ids)
    partition_cols = [p.name for p in contract.partitions]
    table_name = contract.name
    partitions = (
        sorted(set(pc.unique(staged.column(partition_cols[0])).to_pylist())) if partition_cols else []
    )
    attempt_prefix = f"{layout.publish_file_prefix(detail.run_id)}{attempt}_"
    written: list[str] = []
    try:
        types = glue_types(contract, staged)
        existing = wr.catalog.get_table_types(
            database=database, table=table_name, boto3_session=boto3_session
        )
        added = check_schema_evolution(existing, types, database, table_name)
        if staged.num_rows:
            written, locations = write_partitions(store, curated_bucket, contract, staged, attempt_prefix)
            wr.catalog.create_parquet_table(
                database=database,
                table=table_name,
                path=path,
                columns_types={c: types[c] for c in staged.column_names if c not in partition_cols},
                partitions_types={c: types[c] for c in partition_cols},
                compression="snappy",
                description=contract.description,
                parameters={"schema_version": contract.schema_version},
                columns_comments={c.name: c.description for c in contract.columns if c.description},
                mode="append",
                boto3_session=boto3_session,
            )
            if partition_cols:
                wr.catalog.add_parquet_partitions(
                    database=database,
                    table=table_name,
                    partitions_values=locations,
                    compression="snappy",
                    boto3_session=boto3_session,
                    columns_types={c: types[c] for c in staged.column_names if c not in partition_cols},
                )
        published_at = datetime.now(UTC).isoformat()
        history = history_entries(contract, staged, detail.source.key, detail.run_id, published_at)
        record = {
            "dataset": contract.name,
            "run_id": detail.run_id,
            "status": PUBLISHED,
            "published_at": published_at,
            "rows_published": staged.num_rows,
            "partitions": partitions,
            "files": written,
            "replaces": replaces,
            "source": detail.source.model_dump(mode="json"),
            "counts": detail.counts.model_dump(),
            "quality_score": quality_score,
            "profile": column_profile(staged, contract.quality.distribution_column),
            "added_columns": added,
            "duplicates": {"rows": len(duplicate_ids), "ids": duplicate_ids},
            "history_keys": [key for key, _ in history],
        }
        # the switch: from here the record names these files as the run's live ones
        store.put(
            curated_bucket,
            layout.published_record_key(contract.name, detail.run_id),
            json.dumps(record, indent=2).encode(),
            "application/json",
        )
    except BaseException:
        mine = [
            k
            for k in run_files(store, curated_bucket, contract, detail.run_id, partitions)
            if k.rsplit("/", 1)[-1].startswith(attempt_prefix)
        ]
        if mine:
            store.delete(curated_bucket, mine)
        if previous is None and id_registry is not None and claimed:
            id_registry.release(contract.name, claimed, detail.run_id)  # never published: give back
        raise
    for key, entry in history:
        store.put(curated_bucket, key, json.dumps(entry).encode(), "application/json")
    if ledger is not None:
        ledger.set_live(contract.name, detail.source.key, detail.run_id, replaces, at)
    old_partitions = sorted(set(partitions) | set(previous.get("partitions", []) if previous else []))
    stale = [
        k
        for k in run_files(store, curated_bucket, contract, detail.run_id, old_partitions)
        if k not in set(written)
    ]
    if stale:
        store.delete(curated_bucket, stale)
    removed = len(stale)
    if replaces is not None:
        removed += retire(store, curated_bucket, contract, replaces, detail.run_id, id_registry)
    return _result(contract, record, database, path, PUBLISHED, removed)


def give_back(
    detail: DatasetStagedDetail,
    contract: DatasetContract,
    store: ObjectStore,
    curated_bucket: str,
    id_registry: IdRegistry | None,
    ledger: DeliveryLedger | None,
    source_sha256: str | None,
) -> dict[str, Any]:
    """What a refused or failed run leaves behind, undone (the quarantine calls this before it
    moves the staged data): curated files no published record lists, and, when the run has no
    live version, its id claims and its content claim, so a fixed replay can publish it. A run
    whose publish is still in progress elsewhere is left to that publish."""
    owner = f"quarantine-{uuid.uuid4().hex[:12]}"
    if ledger is not None and not ledger.acquire_publish(detail.run_id, owner, datetime.now(UTC)):
        return {"skipped": "a publish of this run is in progress"}
    try:
        record = read_record(store, curated_bucket, contract.name, detail.run_id)
        live = record is not None and record.get("status", PUBLISHED) == PUBLISHED
        partitions: list[Any] = []
        staged = None
        if store.list_keys(detail.staged.bucket, detail.staged.key):
            staged = read_staged(store, detail.staged)
            if contract.partitions:
                partitions = sorted(set(pc.unique(staged.column(contract.partitions[0].name)).to_pylist()))
        removed = discard_unpublished(store, curated_bucket, contract, detail.run_id, partitions)
        released = 0
        dedupe = contract.quality.dedupe
        if not live and id_registry is not None and dedupe is not None and staged is not None:
            ids = [str(i) for i in staged.column(dedupe.column).to_pylist() if i]
            id_registry.release(contract.name, ids, detail.run_id)
            released = len(ids)
        if not live and ledger is not None and source_sha256:
            ledger.release_content(contract.name, source_sha256, detail.run_id)
        return {
            "curated_files_removed": len(removed),
            "ids_released": released,
            "content_released": bool(not live and source_sha256),
            "previous_version_live": live,
        }
    finally:
        if ledger is not None:
            ledger.release_publish(detail.run_id, owner)
