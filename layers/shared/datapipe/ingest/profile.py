"""What ingest learns about a file while streaming it, so that later stages need not re-read it.

Counts, rejects per rule, nulls per column, and per column of the staged data: min / max (and
for numbers sum, mean, stddev), plus the rows per partition value; and what the schema, content
and business checks read from the staged rows (``quality_inputs``: the staged Arrow schema, nulls
and staged duplicates, fresh rows for the arrival, rows each ``columns_differ_rate`` rule counts),
so that the gate need not fetch the staged Parquet for them. All of it is accumulated batch by
batch in O(columns + partitions) memory and written to the manifest.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from datapipe.contracts import DatasetContract
from datapipe.ingest.validation import ValidationResult
from datapipe.quality.checks import StagedProfile, staged_counts

NUMERIC = ("int", "decimal", "float")


class FileProfile:
    def __init__(self, contract: DatasetContract, arrival: datetime | None = None) -> None:
        """``arrival``: when the file arrived (the freshness window ends there)."""
        self.contract = contract
        self.arrival = arrival
        self.staged: StagedProfile | None = None
        self.rows_in = 0
        self.rows_valid = 0
        self.rows_rejected = 0
        self.by_rule: Counter[str] = Counter()
        self.null_counts: dict[str, int] = {c.name: 0 for c in contract.columns}
        self._stats: dict[str, dict[str, Any]] = {}
        self._partitions: dict[str, Counter[str]] = {p.name: Counter() for p in contract.partitions}

    def add(self, result: ValidationResult) -> None:
        self.rows_in += result.rows_in
        self.rows_valid += result.rows_valid
        self.rows_rejected += result.rows_rejected
        self.by_rule.update(result.rejects_by_rule)
        for name, nulls in result.null_counts.items():
            self.null_counts[name] = self.null_counts.get(name, 0) + nulls
        table = result.valid
        if table.num_rows == 0:
            return
        counted = staged_counts(self.contract, table, self.arrival, unique_enforced=True)
        self.staged = counted if self.staged is None else self.staged.merge(counted)
        for col in self.contract.columns:
            if col.type in (*NUMERIC, "timestamp", "date"):
                self._add_stats(col.name, col.type, table.column(col.name))
        for part in self.contract.partitions:
            counts = pc.value_counts(table.column(part.name).combine_chunks())
            for item in counts.to_pylist():
                self._partitions[part.name][str(item["values"])] += int(item["counts"])

    def _add_stats(self, name: str, kind: str, column: pa.ChunkedArray) -> None:
        if column.null_count == len(column):
            return
        st = self._stats.setdefault(name, {"count": 0})
        lo_hi = pc.min_max(column).as_py()
        lo, hi = lo_hi["min"], lo_hi["max"]
        st["min"] = lo if "min" not in st else min(st["min"], lo)
        st["max"] = hi if "max" not in st else max(st["max"], hi)
        st["count"] += len(column) - column.null_count
        if kind in NUMERIC:
            values = pc.cast(column, pa.float64())
            st["sum"] = st.get("sum", 0.0) + float(pc.sum(values).as_py() or 0.0)
            st["sum_sq"] = st.get("sum_sq", 0.0) + float(pc.sum(pc.multiply(values, values)).as_py() or 0.0)

    def columns(self) -> dict[str, dict[str, Any]]:
        """Per column: count, min, max; numbers also sum, mean and (sample) stddev."""
        out: dict[str, dict[str, Any]] = {}
        for name, st in self._stats.items():
            entry: dict[str, Any] = {"count": st["count"], "min": _json(st["min"]), "max": _json(st["max"])}
            if "sum" in st:
                n = st["count"]
                mean = st["sum"] / n
                var = (st["sum_sq"] - n * mean * mean) / (n - 1) if n > 1 else 0.0
                entry.update({"sum": st["sum"], "mean": mean, "stddev": math.sqrt(max(var, 0.0))})
            out[name] = entry
        return out

    def quality_inputs(self) -> dict[str, Any] | None:
        """The staged rows' ``StagedProfile`` (None when no row was staged)."""
        return self.staged.to_dict() if self.staged is not None else None

    def partitions(self) -> dict[str, dict[str, int]]:
        return {name: dict(sorted(c.items())) for name, c in self._partitions.items()}


def _json(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, (int, float, str)) or value is None:
        return value
    return str(value)
