"""Publish: staged Parquet -> curated, partitioned Glue table (awswrangler, in the service).

Cross-file dedupe: the contract's ids are claimed in the record-ids table (rows an earlier run
published are left out and counted). One publish per run at a time, the new files written before
the old are removed, corrections replacing the run live for their source object
(``datapipe.publish.service``). A replay of a published run is ALREADY_PUBLISHED: nothing is
rewritten, and the state machine announces the same counts again (consumers are idempotent).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import S3ObjectStore
from datapipe.delivery import DeliveryLedger
from datapipe.envelopes import PublishInput, contract_of, parse
from datapipe.observability import instruments
from datapipe.operations import ARRIVAL_TO_PUBLISHED, arrival_to_published_seconds
from datapipe.publish.service import publish
from datapipe.quality.dedupe import DynamoIdRegistry
from datapipe.settings import PublishSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = PublishSettings.from_env()


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


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parsed = parse(PublishInput, event, "publish input")
    contract = contract_of(parsed.staged.dataset, "publish input")
    result = publish(
        parsed.staged,
        contract,
        store(),
        curated_bucket=settings.curated_bucket,
        database=settings.glue_database,
        quality_score=parsed.quality_score,
        id_registry=id_registry(),
        now=datetime.now(UTC),
        ledger=ledger(),
    )
    metrics.add_dimension(name="dataset", value=contract.name)
    metrics.add_metric(name="RowsPublished", unit=MetricUnit.Count, value=result.rows_published)
    metrics.add_metric(name="RowsDuplicate", unit=MetricUnit.Count, value=result.duplicates)
    if result.status != "PUBLISHED":
        metrics.add_metric(name="PublishReplays", unit=MetricUnit.Count, value=1)
    latency = arrival_to_published_seconds(parsed.staged.source.arrived_at, datetime.now(UTC))
    metrics.add_metric(name=ARRIVAL_TO_PUBLISHED, unit=MetricUnit.Seconds, value=latency)  # the SLA
    logger.info("published", extra=result.to_dict())
    return result.to_dict()
