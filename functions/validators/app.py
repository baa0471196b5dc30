"""Validators called by the state machine: one handler per suite, plus the final assessment.

Each returns named checks with scores and emits them as CloudWatch EMF metrics. One module serves
five functions (one per handler); an input that is not a staged dataset fails with InvalidEvent,
which the state machine's Catch turns into a quarantine.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import S3ObjectStore
from datapipe.contracts import default_registry
from datapipe.envelopes import FinalInput, SuiteInput, contract_of, parse
from datapipe.observability import instruments
from datapipe.quality.service import StagedDataset, assess_payloads, run_suite, suite_payload
from datapipe.settings import ValidatorSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = ValidatorSettings.from_env()


@cache
def store() -> S3ObjectStore:
    """Made once per execution environment, on first use."""
    return S3ObjectStore()


def _emit(dataset: str, checks: list[dict[str, Any]]) -> None:
    metrics.add_dimension(name="dataset", value=dataset)
    for check in checks:
        metrics.add_metric(name=f"{check['name']}_score", unit=MetricUnit.NoUnit, value=check["score"])


def _suite(suite: str, event: dict[str, Any]) -> dict[str, Any]:
    parsed = parse(SuiteInput, event, f"{suite} validation input")
    contract_of(parsed.staged.dataset, f"{suite} validation input")
    staged = StagedDataset(parsed.staged, store(), default_registry())
    history_bucket = settings.curated_bucket if suite == "enhanced" else None
    payload = suite_payload(suite, run_suite(suite, staged, store(), history_bucket))
    _emit(parsed.staged.dataset, payload["checks"])
    logger.info(f"{suite} checks", extra={"run_id": parsed.staged.run_id, "result": payload})
    return payload


@obs.handler
def schema_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _suite("schema", event)


@obs.handler
def content_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _suite("content", event)


@obs.handler
def business_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _suite("business", event)


@obs.handler
def enhanced_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _suite("enhanced", event)


@obs.handler
def final_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Aggregate score and critical veto; the state machine's Choice applies the thresholds."""
    parsed = parse(FinalInput, event, "final validation input")
    contract = contract_of(parsed.staged.dataset, "final validation input")
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
