"""Real-time fraud scoring: one TransactionReceived event -> at most one alert, in milliseconds.

Velocity needs the card's recent activity: a DynamoDB table keyed by card and time (TTL a day);
"amount far above usual" uses the account profile the dataset path maintains.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from boto3.dynamodb.conditions import Key

from datapipe.aws import AlertClaims, SnsBatchPublisher
from datapipe.fraud import policy_from_settings, score_event
from datapipe.settings import Settings

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
policy = policy_from_settings(settings)
_clients: dict[str, Any] = {}
SEVERITY_ORDER = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]


def clients() -> dict[str, Any]:
    if not _clients:
        dynamodb = boto3.resource("dynamodb")
        _clients["activity"] = dynamodb.Table(settings.require("card_activity_table"))
        _clients["profiles"] = dynamodb.Table(settings.require("account_profiles_table"))
        _clients["claims"] = AlertClaims(settings.require("fraud_alerts_table"), dynamodb)
        _clients["publisher"] = SnsBatchPublisher(settings.require("fraud_topic_arn"))
    return _clients


def _epoch(value: str) -> Decimal:
    ts = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return Decimal(str(round(ts, 6)))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    txn = event["detail"]
    c = clients()
    now = _epoch(txn["event_time"])
    # a tiny, deterministic offset keeps two transactions of one card in the same second apart
    tiebreak = Decimal(int(hashlib.sha256(txn["transaction_id"].encode()).hexdigest()[:4], 16)) / Decimal(
        10**7
    )
    recent: list[float] = []
    if txn.get("card_id"):
        window = Decimal(policy.velocity_window_s)
        items = c["activity"].query(
            KeyConditionExpression=Key("card_id").eq(txn["card_id"])
            & Key("event_ts").between(now - window, now)
        )["Items"]
        recent = [float(i["event_ts"]) for i in items if i.get("transaction_id") != txn["transaction_id"]]
        c["activity"].put_item(
            Item={
                "card_id": txn["card_id"],
                "event_ts": now + tiebreak,
                "transaction_id": txn["transaction_id"],
                "expires_at": int(now) + 86400,
            }
        )
    profile = c["profiles"].get_item(Key={"account_id": txn["account_id"]}).get("Item") or {}
    median = float(profile["median_amount"]) if "median_amount" in profile else None
    alert = score_event(txn, recent, median, int(profile.get("transactions", 0)), policy)
    if alert is None or SEVERITY_ORDER.index(alert.severity) < SEVERITY_ORDER.index(
        settings.fraud_alert_min_severity
    ):
        return {
            "transaction_id": txn["transaction_id"],
            "alert": None,
            "severity": alert.severity if alert else None,
        }
    if not c["claims"].claim(alert.transaction_id, alert.severity, alert.score, "realtime"):
        return {"transaction_id": txn["transaction_id"], "alert": "already alerted"}
    if c["publisher"].publish([(alert.transaction_id, alert.to_message(), alert.message_attributes())]):
        c["claims"].release(alert.transaction_id)
        raise RuntimeError(f"alert for {alert.transaction_id} not accepted by SNS")
    metrics.add_metric(name=f"FraudAlerts{alert.severity.title()}", unit=MetricUnit.Count, value=1)
    logger.info("fraud alert", extra=alert.to_message())
    return {"transaction_id": txn["transaction_id"], "alert": alert.to_message()}
