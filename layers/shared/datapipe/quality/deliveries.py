"""The expected-deliveries calendar of a dataset: which sources deliver which business days.

From the contract's ``quality.deliveries``. Two uses: the gate checks that a file carrying many
sources (a region export) holds every source the calendar lists for it that day; and a scheduled
freshness checker calls ``missing_deliveries`` to find the sources that have not delivered a
business day by its due time (a store that sent nothing, or a region file that never came).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from datapipe.contracts import DatasetContract
from datapipe.contracts.model import DeliveryExpectation


@dataclass(frozen=True)
class MissingDelivery:
    dataset: str
    source: str
    business_day: date
    due_at: datetime
    rows: int  # rows delivered so far (0: nothing)
    min_rows: int
    reason: str  # "not delivered" | "too few rows"

    def to_dict(self) -> dict[str, object]:
        return {
            "dataset": self.dataset,
            "source": self.source,
            "business_day": self.business_day.isoformat(),
            "due_at": self.due_at.isoformat(),
            "rows": self.rows,
            "min_rows": self.min_rows,
            "reason": self.reason,
        }


def due_at(expectation: DeliveryExpectation, business_day: date) -> datetime:
    """When the delivery of ``business_day`` is due: ``due_by_hour`` UTC on the next day."""
    return datetime.combine(business_day + timedelta(days=1), time(expectation.due_by_hour), tzinfo=UTC)


def expected_on(contract: DatasetContract, business_day: date) -> dict[str, DeliveryExpectation]:
    """Source -> its calendar line, for the sources expected to deliver ``business_day``."""
    weekday = business_day.isoweekday()
    return {
        source: line
        for line in contract.quality.deliveries
        if weekday in line.weekdays
        for source in line.sources
    }


def members_of_file(
    contract: DatasetContract, file_source: str, business_day: date | None
) -> tuple[str, ...]:
    """The sources the calendar says a multi-source file carries (empty: not such a file)."""
    weekday = None if business_day is None else business_day.isoweekday()
    for line in contract.quality.deliveries:
        if line.file == file_source and (weekday is None or weekday in line.weekdays):
            return line.sources
    return ()


def missing_deliveries(
    contract: DatasetContract,
    business_day: date,
    delivered_rows: Mapping[str, int],
    now: datetime,
) -> list[MissingDelivery]:
    """Sources whose delivery of ``business_day`` is overdue at ``now``: nothing delivered, or
    fewer rows than the calendar's floor. ``delivered_rows``: rows published per source for that
    day (from the published-run records). Deliveries not yet due are not reported."""
    out: list[MissingDelivery] = []
    for source, line in sorted(expected_on(contract, business_day).items()):
        due = due_at(line, business_day)
        if now < due:
            continue
        rows = int(delivered_rows.get(source, 0))
        if rows == 0:
            out.append(
                MissingDelivery(contract.name, source, business_day, due, 0, line.min_rows, "not delivered")
            )
        elif rows < line.min_rows:
            out.append(
                MissingDelivery(contract.name, source, business_day, due, rows, line.min_rows, "too few rows")
            )
    return out


def delivered_rows_for_day(records: list[dict[str, object]], business_day: date) -> dict[str, int]:
    """Rows per source for one business day, summed over published-run records (their ``sources``)."""
    out: dict[str, int] = {}
    day = business_day.isoformat()
    for record in records:
        sources = record.get("sources")
        if not isinstance(sources, dict):
            continue
        for name, raw in sources.items():
            if isinstance(raw, dict) and raw.get("day") == day:
                out[name] = out.get(name, 0) + int(raw.get("rows", 0))
    return out
