"""Which source each row of a file comes from, and that source's own history.

A source is what delivers data on a schedule: a store's POS export, a region's WMS export, the
online feed. The contract's ``quality.sources`` says how to find it (``SourcePolicy``): a regex
over the object key names the file's source, and an optional column names each row's source, so
a region file carrying ten stores is judged store by store. Volume and distribution are compared
with *that source's* published history, by weekday when there is enough of it (a Saturday is
compared with Saturdays).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datapipe.contracts import DatasetContract

QUANTILES = (0.1, 0.5, 0.9)


def file_source(contract: DatasetContract, key: str) -> str:
    """The source a file's key names (``pos-S001.csv`` -> "S001"), else the file name's stem."""
    pattern = contract.quality.sources.key_pattern
    if pattern:
        m = re.search(pattern, key)
        if m and m.group("source"):
            return m.group("source")
    name = key.rsplit("/", 1)[-1]
    return name.split(".", 1)[0] or name


def row_sources(contract: DatasetContract, table: pa.Table, key: str) -> pa.Array:
    """Per row: its source column's value, or the file's source where that is empty."""
    own = file_source(contract, key)
    column = contract.quality.sources.column
    if not column or column not in table.column_names:
        return pa.array([own] * table.num_rows, type=pa.string())
    values = pc.cast(table.column(column).combine_chunks(), pa.string())
    empty = pc.or_kleene(pc.is_null(values), pc.equal(values, ""))
    return pc.if_else(empty, pa.scalar(own), values)


@dataclass(frozen=True)
class SourceStats:
    """What one source delivered in one file: rows, business day and |value| quantiles."""

    source: str
    rows: int
    day: date | None
    quantiles: tuple[float, ...] | None  # of |distribution_column|, at QUANTILES

    @property
    def weekday(self) -> int | None:
        return None if self.day is None else self.day.isoweekday()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "day": None if self.day is None else self.day.isoformat(),
            "quantiles": None if self.quantiles is None else list(self.quantiles),
        }

    @classmethod
    def from_dict(cls, source: str, raw: dict[str, Any]) -> SourceStats:
        day = raw.get("day")
        q = raw.get("quantiles")
        return cls(
            source,
            int(raw["rows"]),
            date.fromisoformat(day) if day else None,
            None if q is None else tuple(float(v) for v in q),
        )


def _business_day(table: pa.Table, contract: DatasetContract) -> date | None:
    """The day most of the rows happened on (UTC): the day a daily export is about."""
    column = contract.event_time_column
    if not column or column not in table.column_names or table.num_rows == 0:
        return None
    days = pc.cast(table.column(column), pa.timestamp("us", tz="UTC"))
    counts = Counter(d for d in pc.cast(days, pa.date32()).to_pylist() if d is not None)
    return counts.most_common(1)[0][0] if counts else None


def _quantiles(values: pa.Array) -> tuple[float, ...] | None:
    if len(values) == 0:
        return None
    magnitudes = pc.abs(pc.cast(values, pa.float64()))
    if magnitudes.null_count == len(magnitudes):
        return None
    q = pc.quantile(magnitudes, q=list(QUANTILES), interpolation="linear", skip_nulls=True)
    return tuple(float(v) for v in q.to_pylist())


def source_stats(contract: DatasetContract, table: pa.Table, key: str) -> dict[str, SourceStats]:
    """Per source in the file: rows, business day and quantiles (the history publish records)."""
    if table.num_rows == 0:
        own = file_source(contract, key)
        return {own: SourceStats(own, 0, None, None)}
    sources = row_sources(contract, table, key)
    column = contract.quality.distribution_column
    values = table.column(column).combine_chunks() if column and column in table.column_names else None
    out: dict[str, SourceStats] = {}
    for source in sorted(set(sources.to_pylist())):
        mask = pc.equal(sources, source)
        part = table.filter(mask)
        out[source] = SourceStats(
            source,
            part.num_rows,
            _business_day(part, contract),
            None if values is None else _quantiles(values.filter(mask)),
        )
    return out


def history_by_source(
    contract: DatasetContract, records: list[dict[str, Any]]
) -> dict[str, list[tuple[str, SourceStats]]]:
    """Published-run records -> per source, (run_id, stats), newest business day first.

    Records written before per-source history existed count as one observation of the file's
    source (rows published, no quantiles)."""
    out: dict[str, list[tuple[str, SourceStats]]] = {}
    for record in records:
        run = str(record.get("run_id", ""))
        sources = record.get("sources")
        if isinstance(sources, dict):
            for name, raw in sources.items():
                out.setdefault(name, []).append((run, SourceStats.from_dict(name, raw)))
        elif "rows_published" in record:
            key = str((record.get("source") or {}).get("key", ""))
            name = file_source(contract, key)
            out.setdefault(name, []).append(
                (run, SourceStats(name, int(record["rows_published"]), None, None))
            )
    for observations in out.values():
        observations.sort(key=lambda o: (o[1].day or date.min, o[0]), reverse=True)
    return out


@dataclass(frozen=True)
class Baseline:
    value: float
    basis: str  # "same weekday", "recent days", "peers"
    observations: int


def volume_baseline(
    history: list[tuple[str, SourceStats]], weekday: int | None, max_history: int, seasonal_min: int
) -> Baseline | None:
    """Median rows of this source: same weekday if it has ``seasonal_min`` of them, else recent."""
    if not history:
        return None
    if weekday is not None:
        same = [s.rows for _, s in history if s.weekday == weekday][: max(1, max_history // 2)]
        if len(same) >= seasonal_min:
            return Baseline(float(statistics.median(same)), "same weekday", len(same))
    recent = [s.rows for _, s in history[:max_history]]
    return Baseline(float(statistics.median(recent)), "recent days", len(recent))


def quantile_baseline(
    history: list[tuple[str, SourceStats]],
    peers: dict[str, list[tuple[str, SourceStats]]],
    max_history: int,
) -> tuple[tuple[float, ...], str, int] | None:
    """Median of each quantile over the source's history; the other sources' when it has none
    (a new store's amounts in cents are still caught against the other stores)."""
    own = [s.quantiles for _, s in history[:max_history] if s.quantiles is not None]
    basis = "same source"
    if not own:
        own = [obs[0][1].quantiles for obs in peers.values() if obs and obs[0][1].quantiles is not None]
        basis = "peers"
    if not own:
        return None
    matrix = np.asarray(own, dtype=float)
    return tuple(float(v) for v in np.median(matrix, axis=0)), basis, len(own)


def history_prefix(dataset: str, source: str) -> str:
    return f"history/{dataset}/source={source}/"


def history_entries(
    contract: DatasetContract, table: pa.Table, key: str, run_id: str, published_at: str
) -> list[tuple[str, dict[str, Any]]]:
    """What publish writes for each source of a published file: (object key, record).

    Keyed ``history/<dataset>/source=<source>/<day>/<run>.json`` so a validator lists one
    source's recent days (sorted by day) instead of reading every published run of the dataset."""
    out = []
    for name, stats in source_stats(contract, table, key).items():
        day = stats.day.isoformat() if stats.day else "unknown"
        record = {
            "dataset": contract.name,
            "run_id": run_id,
            "published_at": published_at,
            "source_key": key,
            "sources": {name: stats.to_dict()},
        }
        out.append((f"{history_prefix(contract.name, name)}{day}/{run_id}.json", record))
    return out
