"""Validators called by the state machine: one handler per suite, plus the final assessment.

Each returns named checks with scores and emits them as CloudWatch EMF metrics. One module serves
five functions (one per handler); an input that is not a staged dataset fails with InvalidEvent,
which the state machine's Catch turns into a quarantine.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import S3ObjectStore
from datapipe.contracts import default_registry
from datapipe.delivery import DeliveryLedger
from datapipe.envelopes import FinalInput, InvalidEvent, SuiteInput, contract_of, parse
from datapipe.observability import instruments
from datapipe.quality.dedupe import DynamoIdRegistry, IdRegistry
from datapipe.quality.service import StagedDataset, assess_payloads, run_suite, suite_payload
from datapipe.settings import ValidatorSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = ValidatorSettings.from_env()
HISTORY_SUITES = ("history", "enhanced")


@cache
def store() -> S3ObjectStore:
    """Made once per execution environment, on first use."""
    return S3ObjectStore()


@cache
def id_registry() -> DynamoIdRegistry:
    return DynamoIdRegistry(settings.record_ids_table)


@cache
def ledger() -> DeliveryLedger:
    return DeliveryLedger(settings.delivery_table)


class CorrectionIds:
    """The id registry as a correction sees it: ids the run it replaces (the live run of the same
    source object) published are its own, not duplicates."""

    def __init__(self, inner: IdRegistry, replaces: str) -> None:
        self._inner, self._replaces = inner, replaces

    def seen(self, dataset: str, ids: Any, run_id: str, now: datetime) -> dict[str, str]:
        seen = self._inner.seen(dataset, ids, run_id, now)
        return {i: owner for i, owner in seen.items() if owner != self._replaces}

    def claim(self, *args: Any, **kwargs: Any) -> Any:  # the gate only looks
        raise NotImplementedError("validators never claim ids")

    def release(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("validators never release ids")


def replaced_run(staged: Any) -> str | None:
    """The run a correction replaces: the one live for the same source object, if another."""
    live = ledger().live_run(staged.dataset, staged.source.key)
    return live if live is not None and live != staged.run_id else None


def _emit(dataset: str, checks: list[dict[str, Any]]) -> None:
    metrics.add_dimension(name="dataset", value=dataset)
    for check in checks:
        metrics.add_metric(name=f"{check['name']}_score", unit=MetricUnit.NoUnit, value=check["score"])


def _suite(suite: str, event: dict[str, Any]) -> dict[str, Any]:
    parsed = parse(SuiteInput, event, f"{suite} validation input")
    contract_of(parsed.staged.dataset, f"{suite} validation input")
    staged = StagedDataset(parsed.staged, store(), default_registry())
    if suite in HISTORY_SUITES:
        replaces = replaced_run(parsed.staged)
        results = run_suite(
            suite,
            staged,
            store(),
            settings.curated_bucket,
            id_registry=CorrectionIds(id_registry(), replaces) if replaces else id_registry(),
            now=datetime.now(UTC),
            replaces=replaces,
        )
    else:
        results = run_suite(suite, staged)
    payload = suite_payload(suite, results)
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
    """The state machine's SourceHistory branch passes ``suite: "history"``: the same checks as
    "enhanced" (the payload keeps the name "enhanced" the gate reads)."""
    suite = event.get("suite", "enhanced") if isinstance(event, dict) else "enhanced"
    if suite not in HISTORY_SUITES:
        raise InvalidEvent("enhanced validation input", [("suite", f"expected one of {HISTORY_SUITES}")])
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
