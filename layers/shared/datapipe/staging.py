"""Reading staged datasets and the envelope of the event that announces a published one."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from datapipe.events import DatasetPublishedDetail, S3Location
from datapipe.ports import ObjectStore


class DatasetPublishedEvent(EventBridgeModel):  # type: ignore[misc]
    """The EventBridge envelope of DatasetPublished, for Powertools' event_parser."""

    detail: DatasetPublishedDetail  # type: ignore[assignment]


def read_staged(store: ObjectStore, location: S3Location) -> pa.Table:
    return pq.read_table(io.BytesIO(store.get(location.bucket, location.key).body))
