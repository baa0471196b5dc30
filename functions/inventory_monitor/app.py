"""Inventory monitor: DynamoDB stream -> LowStockDetected when stock crosses its reorder point.

Partial batch responses: a record that fails is reported alone (ReportBatchItemFailures), so a
poison record neither blocks nor loses the rest of its batch; the mapping retries, bisects and
finally parks it in the on-failure queue.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus
from datapipe.events import LOW_STOCK_DETECTED
from datapipe.inventory import low_stock_from_record
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
_bus: EventBridgeBus | None = None


def bus() -> EventBridgeBus:
    global _bus
    if _bus is None:
        _bus = EventBridgeBus(settings.require("event_bus_name"), settings.event_source)
    return _bus


@tracer.capture_method
def record_handler(record: DynamoDBRecord) -> None:
    low = low_stock_from_record(record.raw_event)
    if low is None:
        return
    bus().put(LOW_STOCK_DETECTED, low.to_detail())
    metrics.add_metric(name="LowStockDetected", unit=MetricUnit.Count, value=1)
    logger.info("low stock", extra=low.to_detail())


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
