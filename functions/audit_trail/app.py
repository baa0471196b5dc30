"""Audit trail: every business event on the pipeline bus -> one JSON line in S3 (Athena table)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.audit import AUDIT_TABLE, audit_key, audit_line, partition_values
from datapipe.aws import GluePartitions, S3ObjectStore
from datapipe.envelopes import AnyEventBridgeEvent, parse
from datapipe.observability import instruments
from datapipe.settings import AuditTrailSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = AuditTrailSettings.from_env()


@dataclass(frozen=True)
class Adapters:
    store: S3ObjectStore
    partitions: GluePartitions


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    return Adapters(S3ObjectStore(), GluePartitions(settings.glue_database, AUDIT_TABLE))


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    parse(AnyEventBridgeEvent, event, "EventBridge event")  # id, time, detail-type, detail are there
    a = adapters()
    key = audit_key(event)
    a.store.put(settings.curated_bucket, key, audit_line(event), "application/json")
    a.partitions.ensure(list(partition_values(event)))
    metrics.add_metric(name="EventsAudited", unit=MetricUnit.Count, value=1)
    logger.debug("audited", extra={"key": key, "detail_type": event["detail-type"]})
    return {"key": key}
