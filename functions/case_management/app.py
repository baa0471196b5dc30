"""Case management: every published fraud alert (SNS) -> a case record and FraudCaseOpened.

The severity is read from the SNS message attribute, as the subscriptions' filter policies see
it; the case id is the transaction id, so a redelivered alert finds its case already open.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import SNSEvent, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus
from datapipe.events import FRAUD_CASE_OPENED
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
_clients: dict[str, Any] = {}


def clients() -> dict[str, Any]:
    if not _clients:
        _clients["cases"] = boto3.resource("dynamodb").Table(settings.require("fraud_cases_table"))
        _clients["bus"] = EventBridgeBus(settings.require("event_bus_name"), settings.event_source)
    return _clients


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=SNSEvent)
def lambda_handler(event: SNSEvent, context: LambdaContext) -> dict[str, Any]:
    c = clients()
    opened = []
    for record in event.records:
        sns = record.sns
        alert = json.loads(sns.message)
        severity = sns.message_attributes["severity"].value
        case = {
            "case_id": f"CASE-{alert['transaction_id']}",
            "transaction_id": alert["transaction_id"],
            "account_id": alert["account_id"],
            "severity": severity,
            "score": str(alert["score"]),
            "rules": alert["rules"],
            "reasons": alert["reasons"],
            "status": "OPEN",
            "opened_at": datetime.now(UTC).isoformat(),
            "alert_message_id": sns.message_id,
        }
        try:
            c["cases"].put_item(Item=case, ConditionExpression="attribute_not_exists(case_id)")
        except c["cases"].meta.client.exceptions.ConditionalCheckFailedException:
            logger.info("case already open", extra={"case_id": case["case_id"]})
            continue
        c["bus"].put(
            FRAUD_CASE_OPENED,
            {k: case[k] for k in ("case_id", "transaction_id", "account_id", "severity", "score", "rules")},
        )
        metrics.add_metric(name="FraudCasesOpened", unit=MetricUnit.Count, value=1)
        opened.append(case["case_id"])
    return {"opened": opened}
