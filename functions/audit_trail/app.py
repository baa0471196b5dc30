"""Audit trail: every business event on the pipeline bus -> one JSON line in S3 (Athena table)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.audit import AUDIT_TABLE, audit_key, audit_line, partition_values
from datapipe.aws import GluePartitions, S3ObjectStore
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
_store: S3ObjectStore | None = None
_partitions: GluePartitions | None = None


def adapters() -> tuple[S3ObjectStore, GluePartitions]:
    global _store, _partitions
    if _store is None or _partitions is None:
        _store = S3ObjectStore()
        _partitions = GluePartitions(settings.require("glue_database"), AUDIT_TABLE, boto3.client("glue"))
    return _store, _partitions


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    store, partitions = adapters()
    key = audit_key(event)
    store.put(settings.require("curated_bucket"), key, audit_line(event), "application/json")
    partitions.ensure(list(partition_values(event)))
    logger.debug("audited", extra={"key": key, "detail_type": event.get("detail-type")})
    return {"key": key}
