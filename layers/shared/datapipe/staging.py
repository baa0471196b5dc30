"""Reading staged datasets (the Parquet a DatasetStaged event points at) and the published rows
of a run (the curated files its published record lists: what DatasetPublished consumers read)."""

from __future__ import annotations

import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datapipe import layout
from datapipe.events import DatasetPublishedDetail, S3Location, StagedLocation
from datapipe.ports import ObjectStore


def read_staged(store: ObjectStore, location: S3Location) -> pa.Table:
    """Every Parquet part of the staged data (one per part key), as one table in row order."""
    keys = location.part_keys() if isinstance(location, StagedLocation) else [location.key]
    tables = [pq.read_table(io.BytesIO(store.get(location.bucket, key).body)) for key in keys]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)


def _partition_values(key: str) -> dict[str, str]:
    """``name=value`` directories of a curated key (hive style: the column lives in the path)."""
    return dict(p.split("=", 1) for p in key.split("/")[:-1] if "=" in p)


def read_published(store: ObjectStore, published: DatasetPublishedDetail) -> pa.Table:
    """The rows a run published, from the curated files its published record lists (``staging/``
        expires; rows an earlier run published are not in them), partition columns restored from the
        paths, in source-row order. A record from before records listed their files, or one a
        correction superseded (its files are gone), falls back to the staged data. Nothing published
    (every row a duplicate): no rows, the contract's staged schema."""
    bucket = published.staged.bucket  # the curated bucket holds staging/, curated/ and published/
    record: dict[str, Any] = json.loads(
        store.get(bucket, layout.published_record_key(published.dataset, published.run_id)).body
    )
    files = record.get("files")
    if files is None or record.get("status", "PUBLISHED") != "PUBLISHED":
        return read_staged(store, published.staged)
    tables = []
    for key in files:
        table = pq.read_table(io.BytesIO(store.get(bucket, key).body))
        for name, value in _partition_values(key).items():
            if name not in table.column_names:
                table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
        tables.append(table)
    if not tables:  # every row was a duplicate of an earlier run's: nothing published
        from datapipe.contracts import default_registry
        from datapipe.quality.checks import expected_schema

        return pa.schema(
            list(expected_schema(default_registry().get(published.dataset)).items())
        ).empty_table()
    table = pa.concat_tables(tables, promote_options="default")
    if "lineage_source_row" in table.column_names:
        table = table.sort_by("lineage_source_row")
    return table
