"""Fraud scoring of a published transactions dataset -> alerts on the fraud SNS topic.

Vectorised over the whole dataset (numpy), in USD (published ``fx_rates`` over the bundled
snapshot) and with what earlier files taught (``FraudProfiles``: each card's recent times, each
account's last amounts), so the same transactions score the same however they are split into
files. Each alert says which rules fired.

One claim per transaction (``FraudAlerts``): it keeps the alert's full record for case
management and escalates: a higher severity than the one already sent (by the real-time path or
an earlier file) is published again, saying what it supersedes; a lower or equal one is not.
Claims are confirmed only once SNS accepted them, so a retry after a failed or interrupted
publish sends what was not sent, never skips it. Messages carry masked ids only, with
``severity`` and ``account_type`` attributes for the subscriptions' filter policies. The
profiles are merged after publishing (a union by transaction id: a replayed file changes nothing).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import Alert, AlertClaim, FraudAlerts, S3ObjectStore, SnsBatchPublisher, alert_message
from datapipe.envelopes import DatasetPublishedEvent, expect, parse
from datapipe.fraud import FraudAlert, history_delta, policy_from_settings, score_table
from datapipe.fraud.profiles import DynamoFraudProfiles
from datapipe.fraud.rules import SEVERITIES
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload
from datapipe.reference.fx import load_published
from datapipe.settings import FraudScoringSettings
from datapipe.staging import read_published

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = FraudScoringSettings.from_env()
policy = policy_from_settings(settings)
DATASET = "transactions"


@dataclass(frozen=True)
class Adapters:
    store: S3ObjectStore
    alerts: FraudAlerts
    profiles: DynamoFraudProfiles
    publisher: SnsBatchPublisher


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    store = S3ObjectStore()
    return Adapters(
        store=store,
        alerts=FraudAlerts(settings.fraud_alerts_table),
        profiles=DynamoFraudProfiles(settings.fraud_profiles_table),
        publisher=SnsBatchPublisher(
            settings.fraud_topic_arn, PayloadOffload(store, settings.quarantine_bucket)
        ),
    )


def record_metrics(by_severity: Counter[str], scored_counts: dict[str, int]) -> None:
    for severity in SEVERITIES:  # every severity, 0 included: a dashboard tells "none" from "no data"
        count = by_severity.get(severity, 0)
        metrics.add_metric(name=f"FraudAlerts{severity.title()}", unit=MetricUnit.Count, value=count)
    for severity, count in scored_counts.items():
        metrics.add_metric(name=f"FraudScored{severity.title()}", unit=MetricUnit.Count, value=count)


def publish_claimed(a: Adapters, claimed: list[tuple[FraudAlert, AlertClaim]]) -> list[str]:
    """Publish the claimed alerts, confirm what SNS accepted; the ids it refused. An exception
    (the API call failed) leaves every claim unconfirmed: the retry sends them."""
    failed = a.publisher.publish(
        [Alert(x.transaction_id, alert_message(x, c), x.message_attributes()) for x, c in claimed]
    )
    refused = set(failed)
    for alert, _ in claimed:
        if alert.transaction_id not in refused:
            a.alerts.confirm(alert)
    return failed


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    published = parse(DatasetPublishedEvent, event, "DatasetPublished event").detail
    expect("DatasetPublished event", "detail.dataset", published.dataset, DATASET)
    a = adapters()
    table = read_published(a.store, published)  # the run's curated files
    cards = table.column("card_id").to_pylist() if "card_id" in table.column_names else []
    accounts = table.column("account_id").to_pylist() if "account_id" in table.column_names else []
    history = a.profiles.load(cards, accounts)
    rates = load_published(a.store, settings.curated_bucket)
    scored = score_table(table, policy, to_usd=rates.converter(), history=history)
    alerts = scored.alerts(table, min_severity=settings.fraud_alert_min_severity)
    claims = [(alert, a.alerts.claim(alert, "dataset")) for alert in alerts]
    to_send = [(x, c) for x, c in claims if c.to_publish]
    failed = publish_claimed(a, to_send)
    sent = [(x, c) for x, c in to_send if x.transaction_id not in set(failed)]
    profiles = a.profiles.save(history_delta(table, scored), keep=policy.usual_history)
    by_severity = Counter(x.severity for x, _ in sent)
    counts = scored.severity_counts()
    record_metrics(by_severity, counts)
    summary = {
        "run_id": published.run_id,
        "transactions_scored": table.num_rows,
        "scored_by_severity": counts,
        "alerts": len(alerts),
        "published": len(sent),
        "escalated": sum(1 for _, c in sent if c.supersedes is not None),
        "already_alerted": len(alerts) - len(to_send),
        "by_severity": dict(by_severity),
        "unconverted": scored.unconverted,
        "fraud_profiles_updated": profiles,
    }
    logger.info("fraud scoring", extra=summary)
    if failed:
        raise RuntimeError(f"{len(failed)} alerts not accepted by SNS; their claims stay unsent for a retry")
    return summary
