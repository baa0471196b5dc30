"""Real-time fraud scoring: one TransactionReceived event -> at most one alert, in milliseconds.

Velocity needs the card's recent activity: a DynamoDB table keyed by card and time (TTL a day);
"amount far above usual" uses the account profile the dataset path maintains. Logs and the alert
message carry the transaction id and masked card/account/customer ids only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import AccountProfiles, Alert, CardActivity, FraudAlerts, S3ObjectStore, SnsBatchPublisher
from datapipe.envelopes import RealtimeTransaction, TransactionReceivedEvent, parse
from datapipe.fraud import SEVERITIES, FraudAlert, policy_from_settings, score_event
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload
from datapipe.settings import FraudRealtimeSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = FraudRealtimeSettings.from_env()
policy = policy_from_settings(settings)


@dataclass(frozen=True)
class Adapters:
    activity: CardActivity
    profiles: AccountProfiles
    alerts: FraudAlerts
    publisher: SnsBatchPublisher


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    offload = PayloadOffload(S3ObjectStore(), settings.quarantine_bucket)
    return Adapters(
        activity=CardActivity(settings.card_activity_table),
        profiles=AccountProfiles(settings.account_profiles_table),
        alerts=FraudAlerts(settings.fraud_alerts_table),
        publisher=SnsBatchPublisher(settings.fraud_topic_arn, offload),
    )


def _epoch(value: datetime) -> Decimal:
    return Decimal(str(round(value.timestamp(), 6)))


def card_history(a: Adapters, txn: RealtimeTransaction) -> list[float]:
    """Epoch seconds of the card's earlier transactions in the velocity window; records this one."""
    if not txn.card_id:
        return []
    now = _epoch(txn.event_time)
    recent = a.activity.recent(
        txn.card_id, now - Decimal(policy.velocity_window_s), now, exclude_transaction=txn.transaction_id
    )
    # a tiny, deterministic offset keeps two transactions of one card in the same second apart
    tiebreak = Decimal(int(hashlib.sha256(txn.transaction_id.encode()).hexdigest()[:4], 16)) / Decimal(10**7)
    a.activity.record(txn.card_id, now + tiebreak, txn.transaction_id)
    return recent


def publishable(alert: FraudAlert | None) -> bool:
    return alert is not None and SEVERITIES.index(alert.severity) >= SEVERITIES.index(
        settings.fraud_alert_min_severity
    )


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    txn = parse(TransactionReceivedEvent, event, "TransactionReceived event").detail
    a = adapters()
    recent = card_history(a, txn)
    median, history = a.profiles.get(txn.account_id)
    alert = score_event(txn.model_dump(), recent, median, history, policy)
    metrics.add_metric(name="TransactionsScored", unit=MetricUnit.Count, value=1)
    if alert is None or not publishable(alert):
        return {
            "transaction_id": txn.transaction_id,
            "alert": None,
            "severity": alert.severity if alert else None,
        }
    if not a.alerts.claim(alert, "realtime"):
        return {"transaction_id": txn.transaction_id, "alert": "already alerted"}
    message = alert.to_message()
    if a.publisher.publish([Alert(alert.transaction_id, message, alert.message_attributes())]):
        a.alerts.release(alert.transaction_id)
        raise RuntimeError(f"alert for {alert.transaction_id} not accepted by SNS")
    metrics.add_metric(name=f"FraudAlerts{alert.severity.title()}", unit=MetricUnit.Count, value=1)
    logger.info(
        "fraud alert",
        extra={k: message[k] for k in ("transaction_id", "severity", "score", "rules")},
    )
    return {"transaction_id": txn.transaction_id, "alert": message}
