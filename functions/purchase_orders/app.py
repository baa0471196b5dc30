"""Purchase orders: reorder queue (LowStockDetected events) -> one purchase order per crossing."""

from __future__ import annotations

import json
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus
from datapipe.events import PURCHASE_ORDER_CREATED
from datapipe.purchasing import purchase_order
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
_clients: dict[str, Any] = {}


def table() -> Any:
    if "table" not in _clients:
        _clients["table"] = boto3.resource("dynamodb").Table(settings.require("purchase_orders_table"))
        _clients["bus"] = EventBridgeBus(settings.require("event_bus_name"), settings.event_source)
    return _clients["table"]


@tracer.capture_method
def record_handler(record: SQSRecord) -> None:
    event = json.loads(record.body)
    order = purchase_order(event["detail"])
    orders = table()
    try:
        orders.put_item(Item=order, ConditionExpression="attribute_not_exists(po_id)")
    except orders.meta.client.exceptions.ConditionalCheckFailedException:
        logger.info("purchase order exists already", extra={"po_id": order["po_id"]})
        metrics.add_metric(name="DuplicateReorderRequests", unit=MetricUnit.Count, value=1)
        return
    _clients["bus"].put(PURCHASE_ORDER_CREATED, order)
    metrics.add_metric(name="PurchaseOrdersCreated", unit=MetricUnit.Count, value=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
