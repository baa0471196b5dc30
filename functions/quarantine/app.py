"""Quarantine: moves a staged dataset the gate (or the failure path) refused out of staging."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from datapipe.aws import S3ObjectStore
from datapipe.events import DatasetStagedDetail
from datapipe.quarantine import describe_quality, quarantine_staged
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()


class QuarantineInput(BaseModel):
    staged: DatasetStagedDetail
    stage: str = "quality_gate"
    reason_code: str
    reason: str | None = None
    quality: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


@cache
def store() -> S3ObjectStore:
    return S3ObjectStore()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = QuarantineInput.model_validate(event)
    reason = parsed.reason or ""
    if parsed.error:
        reason = f"{parsed.error.get('Error', 'Error')}: {parsed.error.get('Cause', '')}"[:2000]
    elif parsed.quality and not reason:
        reason = describe_quality(parsed.quality)
    detail = quarantine_staged(
        parsed.staged,
        store(),
        settings.require("quarantine_bucket"),
        stage=parsed.stage,
        reason_code=parsed.reason_code,
        reason=reason,
        quality=parsed.quality,
    )
    metrics.add_dimension(name="dataset", value=parsed.staged.dataset)
    metrics.add_metric(name="DatasetsQuarantined", unit=MetricUnit.Count, value=1)
    logger.warning("dataset quarantined", extra=detail.model_dump(mode="json"))
    return detail.model_dump(mode="json")
