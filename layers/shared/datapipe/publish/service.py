"""Publishes a staged dataset to the curated, Glue-catalogued, date-partitioned table.

awswrangler is imported inside the function: only the publish function pays its import cost.
Idempotent per run: files carry the run id as their name prefix, and a republish first deletes
that run's files in the partitions it touches, so the same staged file never doubles rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datapipe import layout
from datapipe.contracts import DatasetContract
from datapipe.events import DatasetStagedDetail
from datapipe.ports import ObjectStore
from datapipe.quality.checks import column_profile
from datapipe.quality.dedupe import IdRegistry, split_duplicates
from datapipe.quality.sources import history_entries
from datapipe.staging import read_staged


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
) -> PublishResult:
    """``id_registry``: claims the contract's dedupe ids first; rows another run holds are left
    out and counted (``duplicates``, ids in the published record), never republished."""
    import awswrangler as wr

    staged = read_staged(store, detail.staged)  # every part
    duplicate_ids: list[str] = []
    dedupe = contract.quality.dedupe
    if id_registry is not None and dedupe is not None:
        at = now or datetime.now(UTC)
        ids = [str(i) for i in staged.column(dedupe.column).to_pylist() if i]
        claim = id_registry.claim(
            contract.name, ids, detail.run_id, at, timedelta(days=dedupe.retention_days)
        )
        duplicate_ids = sorted(claim.duplicates)
        staged, _ = split_duplicates(staged, dedupe.column, duplicate_ids)
    partition_cols = [p.name for p in contract.partitions]
    table_name = contract.name
    path = f"s3://{curated_bucket}/{layout.curated_prefix(contract.name)}"
    types = glue_types(contract, staged)
    existing = wr.catalog.get_table_types(database=database, table=table_name, boto3_session=boto3_session)
    added = check_schema_evolution(existing, types, database, table_name)

    run_prefix = layout.publish_file_prefix(detail.run_id)
    partitions = (
        sorted(set(pc.unique(staged.column(partition_cols[0])).to_pylist())) if partition_cols else []
    )
    stale: list[str] = []
    for value in partitions:
        part_prefix = f"{layout.curated_prefix(contract.name)}{partition_cols[0]}={value}/{run_prefix}"
        stale.extend(store.list_keys(curated_bucket, part_prefix))
    if not partition_cols:
        stale = store.list_keys(curated_bucket, layout.curated_prefix(contract.name) + run_prefix)
    if stale:
        store.delete(curated_bucket, stale)

    frame = staged.to_pandas()
    if staged.num_rows:
        wr.s3.to_parquet(
            df=frame,
            path=path,
            dataset=True,
            mode="append",
            database=database,
            table=table_name,
            partition_cols=partition_cols or None,
            dtype=types,
            compression="snappy",
            filename_prefix=run_prefix,
            schema_evolution=True,
            glue_table_settings={
                "description": contract.description,
                "columns_comments": {c.name: c.description for c in contract.columns if c.description},
                "parameters": {"schema_version": contract.schema_version},
            },
            boto3_session=boto3_session,
        )
    record = {
        "dataset": contract.name,
        "run_id": detail.run_id,
        "published_at": datetime.now(UTC).isoformat(),
        "rows_published": staged.num_rows,
        "partitions": partitions,
        "source": detail.source.model_dump(mode="json"),
        "counts": detail.counts.model_dump(),
        "quality_score": quality_score,
        "profile": column_profile(staged, contract.quality.distribution_column),
        "added_columns": added,
        "duplicates": {"rows": len(duplicate_ids), "ids": duplicate_ids},
    }
    store.put(
        curated_bucket,
        layout.published_record_key(contract.name, detail.run_id),
        json.dumps(record, indent=2).encode(),
        "application/json",
    )
    for key, entry in history_entries(
        contract, staged, detail.source.key, detail.run_id, record["published_at"]
    ):
        store.put(curated_bucket, key, json.dumps(entry).encode(), "application/json")
    return PublishResult(
        dataset=contract.name,
        run_id=detail.run_id,
        database=database,
        table=table_name,
        path=path,
        partitions=[f"{partition_cols[0]}={v}" for v in partitions] if partition_cols else [],
        rows_published=staged.num_rows,
        replaced_files=len(stale),
        duplicates=len(duplicate_ids),
    )
