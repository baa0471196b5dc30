"""Real-time fraud scoring: one TransactionReceived event -> at most one alert, in milliseconds.

The rules see what the dataset path sees (``FraudProfiles``, shared by both): the card's recent
transaction times (velocity across files and channels) and the account's last amounts in USD
(the usual amount: their median, strictly before this transaction). The event is merged into
both profiles afterwards (a union by ``txn_ref``, a digest of the transaction id: a redelivery
changes nothing).

The alert is claimed in the FraudAlerts table with its full record (case management reads the
ids there) and confirmed once SNS accepted it: a retry after a failed publish sends it. Logs and
the alert message carry the transaction id and masked card/account/customer ids only.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import Alert, FraudAlerts, S3ObjectStore, SnsBatchPublisher, alert_message
from datapipe.envelopes import RealtimeTransaction, TransactionReceivedEvent, parse
from datapipe.fraud import SEVERITIES, FraudAlert, FraudHistory, policy_from_settings, score_event
from datapipe.fraud.history import txn_ref
from datapipe.fraud.profiles import DynamoFraudProfiles
from datapipe.fraud.rules import amount_value, to_micros
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload
from datapipe.reference.fx import FxRates, load_published
from datapipe.settings import FraudRealtimeSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = FraudRealtimeSettings.from_env()
policy = policy_from_settings(settings)
RATES_TTL_S = 3600  # published rates are daily: an execution environment re-reads them hourly


@dataclass(frozen=True)
class Adapters:
    store: S3ObjectStore
    profiles: DynamoFraudProfiles
    alerts: FraudAlerts
    publisher: SnsBatchPublisher


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    store = S3ObjectStore()
    offload = PayloadOffload(store, settings.quarantine_bucket)
    return Adapters(
        store=store,
        profiles=DynamoFraudProfiles(settings.fraud_profiles_table),
        alerts=FraudAlerts(settings.fraud_alerts_table),
        publisher=SnsBatchPublisher(settings.fraud_topic_arn, offload),
    )


@cache
def _rates(hour: int) -> FxRates:
    return load_published(adapters().store, settings.curated_bucket)


def rates() -> FxRates:
    return _rates(int(time.time() // RATES_TTL_S))


def usual_before(history: FraudHistory, txn: RealtimeTransaction, event_us: int) -> tuple[float | None, int]:
    """The account's usual USD amount (median of its last amounts before this one) and how many."""
    ref = txn_ref(txn.transaction_id)
    rows = history.accounts.get(txn.account_id, [])
    earlier = [(t, i, v) for t, i, v in rows if i != ref and t <= event_us]  # equal times: came earlier
    earlier = earlier[-policy.usual_history :]
    if not earlier:
        return None, 0
    return statistics.median(v for _, _, v in earlier), len(earlier)


def recent_card_times(history: FraudHistory, txn: RealtimeTransaction) -> list[float]:
    if not txn.card_id:
        return []
    ref = txn_ref(txn.transaction_id)
    return [t / 1_000_000 for t, i in history.cards.get(txn.card_id, []) if i != ref]


def usd_amount(txn: dict[str, Any], on: date) -> float | None:
    parsed = amount_value(txn.get("amount"))
    if parsed is None:
        return None
    try:
        return rates().converter()(parsed[1], str(txn.get("currency") or "USD"), on)
    except LookupError:
        return None


def remember(a: Adapters, txn: RealtimeTransaction, raw: dict[str, Any], event_us: int) -> None:
    """This transaction merged into its card's and account's profiles."""
    delta = FraudHistory()
    if txn.card_id:
        delta.cards[txn.card_id] = [(event_us, txn_ref(txn.transaction_id))]
    usd = usd_amount(raw, txn.event_time.date())
    if usd is not None and usd > 0:
        delta.accounts[txn.account_id] = [(event_us, txn_ref(txn.transaction_id), usd)]
    a.profiles.save(delta, keep=policy.usual_history)


def publishable(alert: FraudAlert | None) -> bool:
    return alert is not None and SEVERITIES.index(alert.severity) >= SEVERITIES.index(
        settings.fraud_alert_min_severity
    )


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    txn = parse(TransactionReceivedEvent, event, "TransactionReceived event").detail
    a = adapters()
    raw = txn.model_dump()
    event_us = to_micros(txn.event_time)
    assert event_us is not None  # the envelope requires an aware event_time
    history = a.profiles.load([txn.card_id] if txn.card_id else [], [txn.account_id])
    median, count = usual_before(history, txn, event_us)
    alert = score_event(
        raw, recent_card_times(history, txn), median, count, policy, to_usd=rates().converter()
    )
    metrics.add_metric(name="TransactionsScored", unit=MetricUnit.Count, value=1)
    if alert is None or not publishable(alert):
        remember(a, txn, raw, event_us)
        return {
            "transaction_id": txn.transaction_id,
            "alert": None,
            "severity": alert.severity if alert else None,
        }
    claim = a.alerts.claim(alert, "realtime")
    if not claim.to_publish:
        remember(a, txn, raw, event_us)
        return {"transaction_id": txn.transaction_id, "alert": "already alerted"}
    message = alert_message(alert, claim)
    if a.publisher.publish([Alert(alert.transaction_id, message, alert.message_attributes())]):
        raise RuntimeError(f"alert for {alert.transaction_id} not accepted by SNS; its claim stays unsent")
    a.alerts.confirm(alert)
    remember(a, txn, raw, event_us)
    metrics.add_metric(name=f"FraudAlerts{alert.severity.title()}", unit=MetricUnit.Count, value=1)
    logger.info(
        "fraud alert",
        extra={k: message[k] for k in ("transaction_id", "severity", "score", "rules")},
    )
    return {"transaction_id": txn.transaction_id, "alert": message}
