"""Ingest: S3 "Object Created" (via EventBridge) -> validated, staged Parquet + quarantine.

Content identity: the SHA-256 of the bytes, computed while reading, is claimed per dataset
(``DeliveryLedger``); the same bytes under another key, by multipart or under SSE-KMS end as
DUPLICATE (DatasetQuarantined with ``duplicate_of``), never staged twice.

Any other S3 event (Object Deleted, Object Restore...) that reaches the function is ignored:
logged and counted (metric ``EventsIgnored``), never staged as a new file.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, S3ObjectStore, SnsNotifier
from datapipe.contracts import default_registry
from datapipe.delivery import DeliveryLedger
from datapipe.envelopes import AnyEventBridgeEvent, ObjectCreatedEvent, parse
from datapipe.ingest.service import IngestDeps, ObjectRef, ingest_object
from datapipe.ingest.unique import remove_stale_spills
from datapipe.observability import instruments
from datapipe.operations import QUARANTINED_BY_REASON, emit_one
from datapipe.payloads import PayloadOffload
from datapipe.settings import IngestSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = IngestSettings.from_env()
OBJECT_CREATED = "Object Created"


@cache
def deps() -> IngestDeps:
    """Clients made once per execution environment, on first use (not at import); and /tmp rid of
    the spill an earlier invocation that timed out here left behind."""
    stale = remove_stale_spills()
    if stale:
        logger.warning("removed stale uniqueness spill directories", extra={"directories": stale})
    store = S3ObjectStore()
    offload = PayloadOffload(store, settings.quarantine_bucket)
    return IngestDeps(
        store=store,
        bus=EventBridgeBus(settings.event_bus_name, settings.event_source, offload),
        notifier=SnsNotifier(settings.ops_topic_arn, offload),
        settings=settings.service_settings(),
        registry=default_registry(),
        ledger=DeliveryLedger(settings.delivery_table),
    )


def ignored(event: AnyEventBridgeEvent) -> dict[str, Any]:
    obj = event.detail.get("object")
    key = obj.get("key") if isinstance(obj, dict) else None
    reason = f"not an S3 {OBJECT_CREATED} event: {event.source} / {event.detail_type}"
    logger.warning(
        "event ignored", extra={"reason": reason, "detail_type": event.detail_type, "source_key": key}
    )
    metrics.add_metric(name="EventsIgnored", unit=MetricUnit.Count, value=1)
    return {"status": "IGNORED", "reason": reason, "detail_type": event.detail_type, "key": key}


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    envelope = parse(AnyEventBridgeEvent, event, "EventBridge event")
    if envelope.source != "aws.s3" or envelope.detail_type != OBJECT_CREATED:
        return ignored(envelope)
    created = parse(ObjectCreatedEvent, event, "S3 Object Created event")
    obj = created.detail.object
    ref = ObjectRef(
        bucket=created.detail.bucket.name,
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
    if report.status == "DUPLICATE":
        metrics.add_metric(name="FilesDuplicate", unit=MetricUnit.Count, value=1)
        logger.warning("duplicate delivery", extra=report.to_dict())
    elif report.status != "STAGED":
        metrics.add_metric(name="FilesQuarantined", unit=MetricUnit.Count, value=1)
        emit_one(metrics, QUARANTINED_BY_REASON, 1, reason_code=report.reason_code or "UNKNOWN")
        logger.warning("file quarantined", extra=report.to_dict())
    else:
        logger.info("file staged", extra=report.to_dict())
    return report.to_dict()
