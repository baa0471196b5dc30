"""Names and small measures of the operations view (dashboards and alarms read them).

Light on purpose: ingest, quarantine and publish import it, and none of them should pay for the
freshness checker's imports (``datapipe.freshness``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

QUARANTINED_BY_REASON = "FilesQuarantinedByReason"  # dimension reason_code (ingest and gate)
ARRIVAL_TO_PUBLISHED = "ArrivalToPublishedSeconds"  # dimension dataset: the SLA metric
DELIVERIES_LATE = "DeliveriesLate"  # dimension dataset: the freshness metric


def arrival_to_published_seconds(arrived_at: datetime, published_at: datetime) -> float:
    """Seconds from the raw file's arrival to its publication (never negative: clocks differ by
    a little between S3's event time and the function's; a naive time is UTC)."""
    if arrived_at.tzinfo is None:
        arrived_at = arrived_at.replace(tzinfo=UTC)
    return max(0.0, (published_at - arrived_at).total_seconds())


def emit_one(metrics: Metrics, name: str, value: float, **dimensions: str) -> None:
    """One metric with its own dimension set (its own EMF line, printed now), next to the
    function's metric set: the function's namespace and service dimension, plus ``dimensions``."""
    service = metrics.service
    with single_metric(
        name=name,
        unit=MetricUnit.Count,
        value=value,
        namespace=metrics.namespace,
        default_dimensions={**({"service": service} if service else {}), **dimensions},
    ):
        pass
