"""Publish writes the curated files straight from Arrow; DatasetPublished consumers read them back
(``read_published``) as the rows the run published: every column and type of the staged rows,
partition columns from the path, source-row order, duplicates of earlier runs left out."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datapipe import layout
from datapipe.contracts import default_registry
from datapipe.events import DatasetPublishedDetail
from datapipe.publish.service import write_partitions
from datapipe.staging import read_published
from tests.unit.gate_support import staged

TX = default_registry().get("transactions")
BUCKET, RUN = "curated-bkt", "transactions-0123456789abcdef"
ARRIVAL = datetime(2026, 3, 3, 2, tzinfo=UTC)


def two_days(n: int = 12) -> pa.Table:
    days = [datetime(2026, 3, 1 + (i % 2), 10, tzinfo=UTC) for i in range(n)]
    table = staged(TX, n, event_time=days, event_date=[f"{d:%Y-%m-%d}" for d in days])
    i = table.schema.get_field_index("lineage_source_row")
    return table.set_column(i, "lineage_source_row", pa.array(range(2, n + 2), pa.int64()))


def published(store: Any, files: list[str], status: str = "PUBLISHED") -> DatasetPublishedDetail:
    record = {"run_id": RUN, "status": status, "files": files}
    store.put(BUCKET, layout.published_record_key("transactions", RUN), json.dumps(record).encode(), "x")
    return DatasetPublishedDetail.model_validate(
        {
            "dataset": "transactions",
            "run_id": RUN,
            "staged": {"bucket": BUCKET, "key": layout.staged_key("transactions", RUN)},
            "source": {"bucket": "raw", "key": "transactions/2026-03-02/pos-S001.csv", "arrived_at": ARRIVAL},
            "database": "db",
            "table": "transactions",
            "partitions": [],
            "rows_published": 0,
            "counts": {"rows_in": 12, "rows_valid": 12, "rows_rejected": 0},
        }
    )


def test_one_file_per_partition_written_from_arrow_and_read_back_as_published(store: Any) -> None:
    table = two_days()
    keys, locations = write_partitions(store, BUCKET, TX, table, f"{RUN}_attempt_")
    assert len(keys) == 2 and all(k.startswith("curated/transactions/event_date=2026-03-0") for k in keys)
    assert all(k.rsplit("/", 1)[1].startswith(f"{RUN}_attempt_") for k in keys)
    assert sorted(v for vs in locations.values() for v in vs) == ["2026-03-01", "2026-03-02"]
    first = pq.read_table(io.BytesIO(store.body(BUCKET, keys[0])))
    assert "event_date" not in first.column_names  # in the path, as Glue partitions it
    assert first.schema.field("amount").type == table.schema.field("amount").type  # no pandas round trip
    assert first.schema.field("event_time").type == table.schema.field("event_time").type

    back = read_published(store, published(store, keys))
    assert back.select(table.column_names).equals(table)  # same rows, columns, types, source order


def test_a_superseded_or_file_less_record_reads_the_staged_rows(store: Any) -> None:
    table = two_days()
    sink = io.BytesIO()
    pq.write_table(table, sink)
    store.put(BUCKET, layout.staged_key("transactions", RUN), sink.getvalue(), "x")
    assert read_published(store, published(store, [], status="SUPERSEDED")).equals(table)
    record = {"run_id": RUN, "status": "PUBLISHED"}  # before records listed their files
    store.put(BUCKET, layout.published_record_key("transactions", RUN), json.dumps(record).encode(), "x")
    detail = published(store, [])
    store.put(BUCKET, layout.published_record_key("transactions", RUN), json.dumps(record).encode(), "x")
    assert read_published(store, detail).equals(table)


def test_nothing_published_reads_no_rows_with_the_contract_schema(store: Any) -> None:
    empty = read_published(store, published(store, []))
    assert empty.num_rows == 0 and "transaction_id" in empty.column_names
