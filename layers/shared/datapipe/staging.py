"""Reading staged datasets (the Parquet a DatasetStaged / DatasetPublished event points at)."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from datapipe.events import S3Location, StagedLocation
from datapipe.ports import ObjectStore


def read_staged(store: ObjectStore, location: S3Location) -> pa.Table:
    """Every Parquet part of the staged data (one per part key), as one table in row order."""
    keys = location.part_keys() if isinstance(location, StagedLocation) else [location.key]
    tables = [pq.read_table(io.BytesIO(store.get(location.bucket, key).body)) for key in keys]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)
