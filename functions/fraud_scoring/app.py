"""Fraud scoring of a published transactions dataset -> alerts on the fraud SNS topic.

Vectorised over the whole dataset (numpy); each alert says which rules fired. At most one alert
per transaction (claimed in the FraudAlerts table, with its full record, before publishing);
published in batches with ``severity`` and ``account_type`` message attributes for the
subscriptions' filter policies. The messages carry masked card/account/customer ids only.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import AccountProfiles, Alert, FraudAlerts, S3ObjectStore, SnsBatchPublisher
from datapipe.envelopes import DatasetPublishedEvent, expect, parse
from datapipe.fraud import policy_from_settings, score_table
from datapipe.fraud.rules import SEVERITIES
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload
from datapipe.settings import FraudScoringSettings
from datapipe.staging import read_staged

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = FraudScoringSettings.from_env()
policy = policy_from_settings(settings)
DATASET = "transactions"


@dataclass(frozen=True)
class Adapters:
    store: S3ObjectStore
    alerts: FraudAlerts
    profiles: AccountProfiles
    publisher: SnsBatchPublisher


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    store = S3ObjectStore()
    return Adapters(
        store=store,
        alerts=FraudAlerts(settings.fraud_alerts_table),
        profiles=AccountProfiles(settings.account_profiles_table),
        publisher=SnsBatchPublisher(
            settings.fraud_topic_arn, PayloadOffload(store, settings.quarantine_bucket)
        ),
    )


def latest_profiles(table: Any, scored: Any) -> dict[str, tuple[float, int]]:
    """The real-time path's "usual amount": each account's median in its latest published dataset."""
    accounts = table.column("account_id").to_pylist()
    latest: dict[str, tuple[float, int]] = {}
    for account, median, history in zip(accounts, scored.account_median, scored.account_history, strict=True):
        if account is not None and not math.isnan(median):  # NaN: no usable history
            latest[account] = (float(median), int(history))
    return latest


def record_metrics(by_severity: Counter[str], scored_counts: dict[str, int]) -> None:
    for severity in SEVERITIES:  # every severity, 0 included: a dashboard tells "none" from "no data"
        count = by_severity.get(severity, 0)
        metrics.add_metric(name=f"FraudAlerts{severity.title()}", unit=MetricUnit.Count, value=count)
    for severity, count in scored_counts.items():
        metrics.add_metric(name=f"FraudScored{severity.title()}", unit=MetricUnit.Count, value=count)


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    published = parse(DatasetPublishedEvent, event, "DatasetPublished event").detail
    expect("DatasetPublished event", "detail.dataset", published.dataset, DATASET)
    a = adapters()
    table = read_staged(a.store, published.staged)
    scored = score_table(table, policy)
    alerts = scored.alerts(table, min_severity=settings.fraud_alert_min_severity)
    fresh = [alert for alert in alerts if a.alerts.claim(alert, published.run_id)]
    failed = a.publisher.publish(
        [Alert(x.transaction_id, x.to_message(), x.message_attributes()) for x in fresh]
    )
    for transaction_id in failed:
        a.alerts.release(transaction_id)
    by_severity = Counter(x.severity for x in fresh if x.transaction_id not in set(failed))
    profiles = a.profiles.put_many(latest_profiles(table, scored), published.run_id)
    counts = scored.severity_counts()
    record_metrics(by_severity, counts)
    summary = {
        "run_id": published.run_id,
        "transactions_scored": table.num_rows,
        "scored_by_severity": counts,
        "alerts": len(alerts),
        "published": len(fresh) - len(failed),
        "already_alerted": len(alerts) - len(fresh),
        "by_severity": dict(by_severity),
        "account_profiles_updated": profiles,
    }
    logger.info("fraud scoring", extra=summary)
    if failed:
        raise RuntimeError(f"{len(failed)} alerts not accepted by SNS; claims released for a retry")
    return summary
