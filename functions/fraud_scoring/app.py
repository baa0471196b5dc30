"""Fraud scoring of a published transactions dataset -> alerts on the fraud SNS topic.

Vectorised over the whole dataset (numpy); each alert says which rules fired. At most one alert
per transaction (claimed in DynamoDB before publishing); published in batches of ten with
``severity`` and ``account_type`` message attributes for the subscriptions' filter policies.
"""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import AlertClaims, S3ObjectStore, SnsBatchPublisher
from datapipe.fraud import policy_from_settings, score_table
from datapipe.settings import Settings
from datapipe.staging import DatasetPublishedEvent, read_staged

settings = Settings.from_env()
logger = Logger()
tracer = Tracer()
metrics = Metrics()
policy = policy_from_settings(settings)


def update_account_profiles(table: Any, scored: Any, run_id: str) -> int:
    """The real-time path's "usual amount": each account's median in its latest published dataset."""
    accounts = table.column("account_id").to_pylist()
    latest: dict[str, tuple[float, int]] = {}
    for account, median, history in zip(accounts, scored.account_median, scored.account_history, strict=True):
        if account is not None and not math.isnan(median):  # NaN: no usable history
            latest[account] = (float(median), int(history))
    profiles = boto3.resource("dynamodb").Table(settings.require("account_profiles_table"))
    with profiles.batch_writer(overwrite_by_pkeys=["account_id"]) as batch:
        for account, (median, history) in latest.items():
            batch.put_item(
                Item={
                    "account_id": account,
                    "median_amount": Decimal(f"{median:.2f}"),
                    "transactions": history,
                    "run_id": run_id,
                }
            )
    return len(latest)


@cache
def adapters() -> tuple[S3ObjectStore, AlertClaims, SnsBatchPublisher]:
    """Clients made once per execution environment, on first use (not at import)."""
    return (
        S3ObjectStore(),
        AlertClaims(settings.require("fraud_alerts_table")),
        SnsBatchPublisher(settings.require("fraud_topic_arn")),
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=DatasetPublishedEvent)
def lambda_handler(event: DatasetPublishedEvent, context: LambdaContext) -> dict[str, Any]:
    published = event.detail
    store, claims, publisher = adapters()
    table = read_staged(store, published.staged)
    scored = score_table(table, policy)
    alerts = scored.alerts(table, min_severity=settings.fraud_alert_min_severity)
    fresh = [a for a in alerts if claims.claim(a.transaction_id, a.severity, a.score, published.run_id)]
    failed = publisher.publish([(a.transaction_id, a.to_message(), a.message_attributes()) for a in fresh])
    for transaction_id in failed:
        claims.release(transaction_id)
    by_severity = Counter(a.severity for a in fresh if a.transaction_id not in set(failed))
    profiles = update_account_profiles(table, scored, published.run_id)
    for severity, count in by_severity.items():
        metrics.add_metric(name=f"FraudAlerts{severity.title()}", unit=MetricUnit.Count, value=count)
    counts = scored.severity_counts()
    for severity, count in counts.items():
        metrics.add_metric(name=f"FraudScored{severity.title()}", unit=MetricUnit.Count, value=count)
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
