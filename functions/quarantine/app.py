"""Quarantine: moves a staged dataset the gate (or the failure path) refused out of staging.

Before it moves the data, the run gives back what it holds (``publish.service.give_back``):
curated files an interrupted publish left that no published record lists, and — when no version
of the run is live — its id claims and its content claim, so the same rows or bytes can be
replayed after a fix. A failed republish of a published run keeps its previous version visible.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import S3ObjectStore
from datapipe.delivery import DeliveryLedger
from datapipe.envelopes import InvalidEvent, QuarantineInput, contract_of, parse
from datapipe.observability import instruments
from datapipe.operations import QUARANTINED_BY_REASON, emit_one
from datapipe.publish.service import give_back
from datapipe.quality.dedupe import DynamoIdRegistry
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


def source_sha256(parsed: QuarantineInput) -> str | None:
    """The content hash ingest computed while reading (in the manifest), if the manifest is there."""
    manifest = parsed.staged.manifest
    if not store().list_keys(manifest.bucket, manifest.key):
        return None
    value = (
        json.loads(store().get(manifest.bucket, manifest.key).body).get("checksums", {}).get("source_sha256")
    )
    return str(value) if value else None


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(QuarantineInput, event, "quarantine input")
    try:
        contract = contract_of(parsed.staged.dataset, "quarantine input")
    except InvalidEvent:  # nothing of an unknown dataset was claimed or published: just move it
        returned: dict[str, Any] = {"skipped": "unknown dataset"}
    else:
        returned = give_back(
            parsed.staged,
            contract,
            store(),
            settings.curated_bucket,
            DynamoIdRegistry(settings.record_ids_table),
            DeliveryLedger(settings.delivery_table),
            source_sha256(parsed),
        )
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
    logger.warning("dataset quarantined", extra={**detail.model_dump(mode="json"), "given_back": returned})
    return detail.model_dump(mode="json")
