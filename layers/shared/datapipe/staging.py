"""Reading staged datasets and the envelope of the event that announces a published one."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from datapipe.events import DatasetPublishedDetail, S3Location, StagedLocation
from datapipe.ports import ObjectStore


class DatasetPublishedEvent(EventBridgeModel):  # type: ignore[misc]
    """The EventBridge envelope of DatasetPublished, for Powertools' event_parser."""

    detail: DatasetPublishedDetail  # type: ignore[assignment]


def read_staged(store: ObjectStore, location: S3Location) -> pa.Table:
    """Every Parquet part of the staged data (one per part key), as one table in row order."""
    keys = location.part_keys() if isinstance(location, StagedLocation) else [location.key]
    tables = [pq.read_table(io.BytesIO(store.get(location.bucket, key).body)) for key in keys]
    return tables[0] if len(tables) == 1 else pa.concat_tables(tables)
