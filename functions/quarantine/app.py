"""Quarantine: moves a staged dataset the gate (or the failure path) refused out of staging."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import S3ObjectStore
from datapipe.envelopes import QuarantineInput, parse
from datapipe.observability import instruments
from datapipe.operations import QUARANTINED_BY_REASON, emit_one
from datapipe.quarantine import describe_quality, quarantine_staged
from datapipe.settings import QuarantineSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = QuarantineSettings.from_env()


@cache
def store() -> S3ObjectStore:
    """Made once per execution environment, on first use."""
    return S3ObjectStore()


def reason_of(parsed: QuarantineInput) -> str:
    """The failure path's error (Error: Cause), else the given reason, else the quality verdict."""
    if parsed.error:
        return f"{parsed.error.get('Error', 'Error')}: {parsed.error.get('Cause', '')}"[:2000]
    if parsed.reason:
        return parsed.reason
    return describe_quality(parsed.quality) if parsed.quality else ""


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(QuarantineInput, event, "quarantine input")
    detail = quarantine_staged(
        parsed.staged,
        store(),
        settings.quarantine_bucket,
        stage=parsed.stage,
        reason_code=parsed.reason_code,
        reason=reason_of(parsed),
        quality=parsed.quality,
    )
    metrics.add_dimension(name="dataset", value=parsed.staged.dataset)
    metrics.add_metric(name="DatasetsQuarantined", unit=MetricUnit.Count, value=1)
    if detail.counts is not None:  # the valid rows the gate refused (ingest counted the rejects)
        metrics.add_metric(name="RowsQuarantined", unit=MetricUnit.Count, value=detail.counts.rows_valid)
    emit_one(metrics, QUARANTINED_BY_REASON, 1, reason_code=detail.reason_code)
    logger.warning("dataset quarantined", extra=detail.model_dump(mode="json"))
    return detail.model_dump(mode="json")
