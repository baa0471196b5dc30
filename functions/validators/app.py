"""Validators called by the state machine: one handler per suite, plus the final assessment.

Each returns named checks with scores and emits them as CloudWatch EMF metrics.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from datapipe.aws import S3ObjectStore
from datapipe.contracts import default_registry
from datapipe.events import DatasetStagedDetail
from datapipe.quality.service import StagedDataset, assess_payloads, run_suite, suite_payload
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
_store: S3ObjectStore | None = None


class SuiteInput(BaseModel):
    staged: DatasetStagedDetail


class FinalInput(BaseModel):
    staged: DatasetStagedDetail
    schema_result: dict[str, Any]
    parallel: list[dict[str, Any]]


def store() -> S3ObjectStore:
    global _store
    if _store is None:
        _store = S3ObjectStore()
    return _store


def _emit(dataset: str, checks: list[dict[str, Any]]) -> None:
    metrics.add_dimension(name="dataset", value=dataset)
    for check in checks:
        metrics.add_metric(name=f"{check['name']}_score", unit=MetricUnit.NoUnit, value=check["score"])


def _suite(suite: str, event: dict[str, Any]) -> dict[str, Any]:
    parsed = SuiteInput.model_validate(event)
    staged = StagedDataset(parsed.staged, store(), default_registry())
    results = run_suite(
        suite, staged, store(), settings.require("curated_bucket") if suite == "enhanced" else None
    )
    payload = suite_payload(suite, results)
    _emit(parsed.staged.dataset, payload["checks"])
    logger.info(f"{suite} checks", extra={"run_id": parsed.staged.run_id, "result": payload})
    return payload


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def schema_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _suite("schema", event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def content_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _suite("content", event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def business_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _suite("business", event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def enhanced_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _suite("enhanced", event)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def final_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Aggregate score and critical veto; the state machine's Choice applies the thresholds."""
    parsed = FinalInput.model_validate(event)
    contract = default_registry().get(parsed.staged.dataset)
    assessment = assess_payloads(contract, [parsed.schema_result, *parsed.parallel])
    metrics.add_dimension(name="dataset", value=parsed.staged.dataset)
    metrics.add_metric(name="quality_score", unit=MetricUnit.NoUnit, value=assessment.score)
    logger.info(
        "final validation",
        extra={
            "run_id": parsed.staged.run_id,
            "score": assessment.score,
            "critical_failed": assessment.critical_failed,
            "failed": assessment.failed_checks,
        },
    )
    return assessment.to_dict()
