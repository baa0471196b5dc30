"""Reading staged datasets (the Parquet a DatasetStaged / DatasetPublished event points at)."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

from datapipe.events import S3Location
from datapipe.ports import ObjectStore


def read_staged(store: ObjectStore, location: S3Location) -> pa.Table:
    return pq.read_table(io.BytesIO(store.get(location.bucket, location.key).body))
