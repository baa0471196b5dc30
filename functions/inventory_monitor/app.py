"""Inventory monitor: DynamoDB stream -> LowStockDetected when stock crosses its reorder point.

Partial batch responses: a record that fails is reported alone (ReportBatchItemFailures), with
its reason logged and kept beside its sequence number (``datapipe.batch``), so a poison record
neither blocks nor loses the rest of its batch; the mapping retries, bisects and finally parks
it in the on-failure queue, whose record names the same sequence number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import EventType
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, S3ObjectStore
from datapipe.batch import FailedRecords, ReasonedBatchProcessor, process_batch
from datapipe.envelopes import InvalidEvent
from datapipe.events import LOW_STOCK_DETECTED
from datapipe.inventory import low_stock_from_record
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload
from datapipe.settings import InventoryMonitorSettings

obs = instruments()
logger, tracer, metrics = obs.logger, obs.tracer, obs.metrics
settings = InventoryMonitorSettings.from_env()


@dataclass(frozen=True)
class Adapters:
    bus: EventBridgeBus
    failures: FailedRecords


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    store = S3ObjectStore()
    return Adapters(
        bus=EventBridgeBus(
            settings.event_bus_name,
            settings.event_source,
            PayloadOffload(store, settings.quarantine_bucket),
        ),
        failures=FailedRecords(store, settings.quarantine_bucket, "inventory-monitor"),
    )


processor = ReasonedBatchProcessor(EventType.DynamoDBStreams, logger, lambda: adapters().failures, metrics)


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    try:
        low = low_stock_from_record(record.raw_event)
    except ValueError as exc:  # the domain names the attribute; the record is of another shape
        raise InvalidEvent("inventory stream record", [("dynamodb", str(exc))]) from None
    if low is None:
        return
    adapters().bus.put(LOW_STOCK_DETECTED, low.to_detail())
    metrics.add_metric(name="LowStockDetected", unit=MetricUnit.Count, value=1)
    logger.info("low stock", extra=low.to_detail())


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_batch(event, record_handler, processor, context, "DynamoDB stream event")
