"""Ingest: S3 "Object Created" (via EventBridge) -> validated, staged Parquet + quarantine."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, S3ObjectStore, SnsNotifier
from datapipe.contracts import default_registry
from datapipe.ingest.service import IngestDeps, ObjectRef, ingest_object
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
_deps: IngestDeps | None = None


def deps() -> IngestDeps:
    global _deps
    if _deps is None:
        _deps = IngestDeps(
            store=S3ObjectStore(),
            bus=EventBridgeBus(settings.require("event_bus_name"), settings.event_source),
            notifier=SnsNotifier(settings.require("ops_topic_arn")),
            settings=settings,
            registry=default_registry(),
        )
    return _deps


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=S3EventNotificationEventBridgeModel)
def lambda_handler(event: S3EventNotificationEventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    obj = event.detail.object
    ref = ObjectRef(
        bucket=event.detail.bucket.name,
        key=obj.key,
        version_id=obj.version_id,
        etag=obj.etag,
        size=int(obj.size) if obj.size is not None else None,
    )
    logger.append_keys(source_key=ref.key)
    report = ingest_object(ref, deps())
    metrics.add_dimension(name="dataset", value=report.dataset)
    metrics.add_metric(name="RowsIn", unit=MetricUnit.Count, value=report.rows_in)
    metrics.add_metric(name="RowsValid", unit=MetricUnit.Count, value=report.rows_valid)
    metrics.add_metric(name="RowsRejected", unit=MetricUnit.Count, value=report.rows_rejected)
    if report.status != "STAGED":
        metrics.add_metric(name="FilesQuarantined", unit=MetricUnit.Count, value=1)
        logger.warning("file quarantined", extra=report.to_dict())
    else:
        logger.info("file staged", extra=report.to_dict())
    return report.to_dict()
