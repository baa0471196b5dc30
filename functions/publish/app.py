"""Publish: staged Parquet -> curated, partitioned Glue table (awswrangler)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from datapipe.aws import S3ObjectStore
from datapipe.contracts import default_registry
from datapipe.events import DatasetStagedDetail
from datapipe.publish.service import publish
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()


class PublishInput(BaseModel):
    staged: DatasetStagedDetail
    quality_score: float | None = None


@cache
def store() -> S3ObjectStore:
    return S3ObjectStore()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = PublishInput.model_validate(event)
    contract = default_registry().get(parsed.staged.dataset)
    result = publish(
        parsed.staged,
        contract,
        store(),
        curated_bucket=settings.require("curated_bucket"),
        database=settings.require("glue_database"),
        quality_score=parsed.quality_score,
    )
    metrics.add_dimension(name="dataset", value=contract.name)
    metrics.add_metric(name="RowsPublished", unit=MetricUnit.Count, value=result.rows_published)
    logger.info("published", extra=result.to_dict())
    return result.to_dict()
