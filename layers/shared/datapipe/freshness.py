"""Freshness: which datasets have sources that did not deliver a business day by its due time.

Each contract's delivery calendar (``quality.deliveries``) says which sources deliver a business
day and by when; the scheduled freshness checker asks, for the day before its trigger time, which
sources have not delivered (or delivered too few rows) by their due time, and says so once per
dataset: one ``DatasetLate`` naming the late sources, not one event per store. The number of late
sources is a metric per dataset, emitted on every run (0 included) so its alarm has data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from datapipe.contracts import ContractRegistry
from datapipe.ports import ObjectStore
from datapipe.quality.deliveries import MissingDelivery, expected_on
from datapipe.quality.service import overdue_deliveries

DATASET_LATE = "DatasetLate"
LATE_SOURCES_SHOWN = 50  # an event names this many late sources at most (and counts them all)


@dataclass(frozen=True)
class FreshnessResult:
    dataset: str
    business_day: date
    expected: int  # sources the calendar expects for the day
    missing: tuple[MissingDelivery, ...]

    @property
    def late(self) -> bool:
        return bool(self.missing)

    def detail(self) -> dict[str, object]:
        """The ``DatasetLate`` event detail: what is late, since when, and how much arrived."""
        shown = self.missing[:LATE_SOURCES_SHOWN]
        return {
            "dataset": self.dataset,
            "business_day": self.business_day.isoformat(),
            "sources_expected": self.expected,
            "sources_late": len(self.missing),
            "due_at": min(m.due_at for m in self.missing).isoformat() if self.missing else None,
            "late": [
                {"source": m.source, "reason": m.reason, "rows": m.rows, "min_rows": m.min_rows}
                for m in shown
            ],
            "late_not_listed": len(self.missing) - len(shown),
        }


def check_freshness(
    registry: ContractRegistry, store: ObjectStore, bucket: str, business_day: date, now: datetime
) -> list[FreshnessResult]:
    """Every contract with a delivery calendar, checked for ``business_day`` at ``now`` against
    the published history in ``bucket`` (what publish records per source and day)."""
    results = []
    for contract in registry:
        if not contract.quality.deliveries:
            continue
        missing = overdue_deliveries(store, bucket, contract, business_day, now)
        expected = len(expected_on(contract, business_day))
        results.append(FreshnessResult(contract.name, business_day, expected, tuple(missing)))
    return results


def report_day(scheduled_time: str | datetime, days_back: int = 1) -> date:
    """The day a scheduled check reports on: the day before its trigger time (UTC)."""
    when = (
        scheduled_time
        if isinstance(scheduled_time, datetime)
        else datetime.fromisoformat(scheduled_time.replace("Z", "+00:00"))
    )
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.date() - timedelta(days=days_back)
