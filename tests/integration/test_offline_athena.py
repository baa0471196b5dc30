"""The offline Athena engine: awswrangler's Athena reads over Glue tables in moto S3 return the answer
pandas computes from the same data; failures come back as Athena reports them."""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import awswrangler as wr
import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws
from moto.athena.models import AthenaBackend, QueryResults
from moto.athena.responses import AthenaResponse

from offline_runtime.emulator.athena import OfflineAthena

REGION = "us-east-1"
DB = "sales"
DAYS = ["2026-11-20", "2026-11-21", "2026-11-22"]
RUNS_TYPES = {
    "run_id": "string",
    "dataset": "string",
    "counts": "struct<rows_in:bigint,rows_valid:bigint,rows_rejected:bigint>",
    "started_at": "timestamp",
    "ok": "boolean",
}


def transactions_frame() -> pd.DataFrame:
    rows = []
    for i in range(48):
        day = DAYS[i % 3]
        cents = (i * 3719) % 50000 - (2500 if i % 11 == 0 else 0)
        rows.append(
            {
                "transaction_id": f"t{i:03d}",
                "store_id": None if i % 7 == 0 else f"S{i % 4}",
                "amount": Decimal(cents).scaleb(-2),
                "quantity": i % 5 + 1,
                "ts": pd.Timestamp(f"{day} {(i * 5) % 24:02d}:{(i * 13) % 60:02d}:07"),
                "run_id": f"run-{day}-{i % 2}",
                "event_date": day,
            }
        )
    return pd.DataFrame(rows)


def runs_records(tx: pd.DataFrame) -> list[dict[str, Any]]:
    records = []
    for run_id, group in tx.groupby("run_id"):
        day = str(run_id)[4:14]
        counts = None if run_id == "run-2026-11-22-1" else {
            "rows_in": len(group) + 2,
            "rows_valid": len(group),
            "rows_rejected": 2,
        }  # fmt: skip
        records.append(
            {
                "run_id": run_id,
                "dataset": "transactions",
                "counts": counts,
                "started_at": f"{day} 01:{len(group):02d}:00",
                "ok": counts is not None,
                "event_date": day,
            }
        )
    return records


class Catalog:
    def __init__(self, session: boto3.Session) -> None:
        self.session = session
        self.tx = transactions_frame()
        self.runs = pd.DataFrame(runs_records(self.tx))


@pytest.fixture(scope="module")
def catalog() -> Iterator[Catalog]:
    with mock_aws():
        session = boto3.Session(region_name=REGION)
        s3 = session.client("s3")
        for bucket in ("data", "results"):
            s3.create_bucket(Bucket=bucket)
        session.client("glue").create_database(DatabaseInput={"Name": DB})
        athena = session.client("athena")
        athena.create_work_group(
            Name="reports",
            Configuration={
                "EnforceWorkGroupConfiguration": True,
                "ResultConfiguration": {
                    "OutputLocation": "s3://results/athena/",
                    "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                },
            },
        )
        athena.create_work_group(
            Name="loose",
            Configuration={
                "EnforceWorkGroupConfiguration": False,
                "ResultConfiguration": {"OutputLocation": "s3://results/loose/"},
            },
        )
        cat = Catalog(session)
        wr.s3.to_parquet(
            cat.tx,
            "s3://data/curated/transactions/",
            dataset=True,
            database=DB,
            table="transactions",
            partition_cols=["event_date"],
            dtype={"amount": "decimal(12,2)", "quantity": "bigint", "ts": "timestamp"},
            boto3_session=session,
        )
        wr.catalog.create_json_table(
            database=DB,
            table="ingest_runs",
            path="s3://data/audit/ingest_runs/",
            columns_types=RUNS_TYPES,
            partitions_types={"event_date": "string"},
            serde_library="org.openx.data.jsonserde.JsonSerDe",
            boto3_session=session,
        )
        for day in DAYS:
            lines = [
                json.dumps({k: v for k, v in r.items() if k != "event_date"})
                for r in runs_records(cat.tx)
                if r["event_date"] == day
            ]
            s3.put_object(
                Bucket="data",
                Key=f"audit/ingest_runs/event_date={day}/runs.json",
                Body="\n".join(lines).encode() + b"\n",
            )
        wr.catalog.add_json_partitions(
            database=DB,
            table="ingest_runs",
            partitions_values={f"s3://data/audit/ingest_runs/event_date={d}/": [d] for d in DAYS},
            serde_library="org.openx.data.jsonserde.JsonSerDe",
            columns_types=RUNS_TYPES,
            boto3_session=session,
        )
        # in S3 but not registered in Glue: Athena does not see it
        s3.put_object(
            Bucket="data",
            Key="audit/ingest_runs/event_date=2026-11-23/runs.json",
            Body=json.dumps({"run_id": "ghost", "dataset": "transactions"}).encode() + b"\n",
        )
        yield cat


@pytest.fixture
def engine(catalog: Catalog) -> Iterator[OfflineAthena]:
    athena = OfflineAthena()
    athena.install()
    try:
        yield athena
    finally:
        athena.uninstall()


def query(catalog: Catalog, sql: str, **kwargs: Any) -> pd.DataFrame:
    return wr.athena.read_sql_query(
        sql,
        database=DB,
        workgroup="reports",
        ctas_approach=False,
        unload_approach=False,
        boto3_session=catalog.session,
        **kwargs,
    )


def records(df: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as plain Python values: pd.NA / NaT -> None, numpy scalars -> int / float / bool."""

    def plain(v: Any) -> Any:
        if v is None or v is pd.NA or v is pd.NaT:
            return None
        return v.item() if isinstance(v, np.generic) else v

    return [tuple(plain(v) for v in row) for row in df.astype(object).itertuples(index=False)]


def run_boto3(catalog: Catalog, sql: str, **kwargs: Any) -> dict[str, Any]:
    athena = catalog.session.client("athena")
    qid = athena.start_query_execution(
        QueryString=sql, QueryExecutionContext={"Database": DB}, WorkGroup="reports", **kwargs
    )["QueryExecutionId"]
    for _ in range(50):
        execution = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if execution["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return dict(execution)
        time.sleep(0.01)
    raise AssertionError(f"query {qid} never finished")


def athena_error(catalog: Catalog) -> type[Exception]:
    return catalog.session.client("athena").exceptions.InvalidRequestException  # type: ignore[no-any-return]


# -- answers ---------------------------------------------------------------------------------
def test_group_by_with_decimal_sums_and_partition_filter(catalog: Catalog, engine: OfflineAthena) -> None:
    got = query(
        catalog,
        """
        SELECT coalesce(store_id, 'ONLINE') AS store_id, count(*) AS transactions,
               sum(amount) AS sales, sum(quantity) AS units, avg(amount) AS mean
        FROM "sales"."transactions"
        WHERE event_date = '2026-11-21'
        GROUP BY 1
        ORDER BY 1
        """,
    )
    day = catalog.tx[catalog.tx.event_date == "2026-11-21"].assign(
        store_id=lambda d: d.store_id.fillna("ONLINE")
    )
    expected = [
        (
            store,
            len(g),
            sum(g.amount, Decimal("0.00")),
            int(g.quantity.sum()),
            (sum(g.amount, Decimal("0.00")) / len(g)).quantize(Decimal("0.01"), ROUND_HALF_UP),
        )
        for store, g in day.groupby("store_id")
    ]
    assert records(got) == expected
    assert list(got.columns) == ["store_id", "transactions", "sales", "units", "mean"]
    assert str(got.transactions.dtype) == "Int64" and str(got.units.dtype) == "Int64"
    assert all(isinstance(v, Decimal) for v in got.sales)


def test_partition_column_is_a_column_with_the_partition_key_type(
    catalog: Catalog, engine: OfflineAthena
) -> None:
    got = query(catalog, "SELECT event_date, count(*) AS n FROM transactions GROUP BY event_date ORDER BY 1")
    assert records(got) == [(d, int((catalog.tx.event_date == d).sum())) for d in DAYS]
    assert str(got.event_date.dtype) == "string"


def test_join_json_and_parquet_tables_with_struct_fields(catalog: Catalog, engine: OfflineAthena) -> None:
    got = query(
        catalog,
        """
        SELECT r.run_id, r.counts.rows_in AS rows_in, counts.rows_rejected AS rejected, r.ok,
               count(*) AS transactions, sum(t.amount) AS sales
        FROM transactions t
        JOIN ingest_runs r ON t.run_id = r.run_id
        WHERE r.event_date >= '2026-11-21'
        GROUP BY 1, 2, 3, 4
        ORDER BY 1
        """,
    )
    runs = catalog.runs[catalog.runs.event_date >= "2026-11-21"]
    joined = catalog.tx.merge(runs, on="run_id", suffixes=("", "_run"))
    expected = []
    for run_id, g in joined.groupby("run_id"):
        counts = g.counts.iloc[0]
        expected.append(
            (
                run_id,
                counts["rows_in"] if counts else None,
                counts["rows_rejected"] if counts else None,
                bool(g.ok.iloc[0]),
                len(g),
                sum(g.amount, Decimal("0.00")),
            )
        )
    assert records(got) == expected
    assert None in [r[1] for r in expected]  # a run without counts: NULL struct fields


def test_json_table_struct_aggregation_reads_registered_partitions_only(
    catalog: Catalog, engine: OfflineAthena
) -> None:
    got = query(
        catalog,
        "SELECT dataset, count(*) AS runs, sum(counts.rows_in) AS rows_in, max(started_at) AS last_start "
        "FROM ingest_runs GROUP BY dataset",
    )
    rows_in = sum(c["rows_in"] for c in catalog.runs.counts if c)
    last = pd.Timestamp(max(catalog.runs.started_at))
    assert records(got) == [("transactions", len(catalog.runs), rows_in, last)]
    ghost = query(catalog, "SELECT count(*) AS n FROM ingest_runs WHERE run_id = 'ghost'")
    assert records(ghost) == [(0,)]


def test_trino_date_functions(catalog: Catalog, engine: OfflineAthena) -> None:
    got = query(
        catalog,
        """
        SELECT date_format(ts, '%Y-%m-%d %H:00') AS hour_label,
               date_trunc('day', ts) AS day_start,
               CAST(ts AS DATE) AS day,
               date_trunc('month', CAST(ts AS DATE)) AS month,
               date_add('day', 1, CAST(ts AS DATE)) AS next_day,
               count(*) AS n
        FROM transactions
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1
        """,
    )
    tx = catalog.tx.assign(hour_label=catalog.tx.ts.dt.strftime("%Y-%m-%d %H:00"))
    expected = [
        (
            label,
            g.ts.iloc[0].floor("D"),
            g.ts.iloc[0].date(),
            date(2026, 11, 1),
            g.ts.iloc[0].date() + timedelta(days=1),
            len(g),
        )
        for label, g in tx.groupby("hour_label")
    ]
    assert records(got) == expected
    first = records(got)[0]
    assert [type(v) for v in first[2:5]] == [date, date, date]  # Trino: dates stay dates


def test_integer_division_and_unnamed_columns_follow_trino(catalog: Catalog, engine: OfflineAthena) -> None:
    got = query(catalog, "SELECT sum(quantity) / count(*), 7 / 2, -7 / 2 FROM transactions")
    total, n = int(catalog.tx.quantity.sum()), len(catalog.tx)
    assert records(got) == [(int(total / n), 3, -3)]
    assert list(got.columns) == ["_col0", "_col1", "_col2"]


def test_execution_parameters_are_bound(catalog: Catalog, engine: OfflineAthena) -> None:
    got = query(
        catalog,
        "SELECT count(*) AS n FROM transactions WHERE event_date = ? AND quantity > ?",
        params=["'2026-11-22'", "2"],
        paramstyle="qmark",
    )
    tx = catalog.tx
    assert records(got) == [(int(((tx.event_date == "2026-11-22") & (tx.quantity > 2)).sum()),)]


def test_concurrent_queries_each_get_their_own_answer(catalog: Catalog, engine: OfflineAthena) -> None:
    def count(day: str) -> int:
        df = query(catalog, f"SELECT count(*) AS n FROM transactions WHERE event_date = '{day}'")
        return int(df.n.iloc[0])

    with ThreadPoolExecutor(max_workers=3) as pool:
        got = list(pool.map(count, DAYS * 2))
    assert got == [int((catalog.tx.event_date == d).sum()) for d in DAYS * 2]


# -- what Athena writes and returns ------------------------------------------------------------
def test_result_csv_column_info_statistics_and_paging(catalog: Catalog, engine: OfflineAthena) -> None:
    execution = run_boto3(
        catalog,
        """
        SELECT t.transaction_id, t.store_id, t.amount, t.quantity, t.ts, true AS flag,
               CAST(10000000 AS DOUBLE) AS big, 0.5e0 AS half, r.counts, 'say "hi"' AS quote
        FROM transactions t JOIN ingest_runs r ON t.run_id = r.run_id
        WHERE t.transaction_id IN ('t000', 't001')
        ORDER BY 1
        """,
        ResultConfiguration={"OutputLocation": "s3://results/ignored-because-enforced/"},
    )
    qid = execution["QueryExecutionId"]
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    location = execution["ResultConfiguration"]["OutputLocation"]
    assert location == f"s3://results/athena/{qid}.csv"

    s3 = catalog.session.client("s3")
    obj = s3.get_object(Bucket="results", Key=f"athena/{qid}.csv")
    assert obj["ServerSideEncryption"] == "AES256"
    tx = catalog.tx.set_index("transaction_id")
    t0, t1 = tx.loc["t000"], tx.loc["t001"]
    assert pd.isna(t0.store_id)
    counts = catalog.runs.set_index("run_id").counts
    c0, c1 = ("{" + ", ".join(f"{k}={v}" for k, v in counts[t.run_id].items()) + "}" for t in (t0, t1))
    assert obj["Body"].read().decode() == (
        '"transaction_id","store_id","amount","quantity","ts","flag","big","half","counts","quote"\n'
        f'"t000",,"{t0.amount}","{t0.quantity}","{t0.ts:%Y-%m-%d %H:%M:%S}.000","true","1.0E7","0.5",'
        f'"{c0}","say ""hi"""\n'
        f'"t001","{t1.store_id}","{t1.amount}","{t1.quantity}","{t1.ts:%Y-%m-%d %H:%M:%S}.000","true",'
        f'"1.0E7","0.5","{c1}","say ""hi"""\n'
    )

    parquet_bytes = sum(
        o["Size"] for o in s3.list_objects_v2(Bucket="data", Prefix="curated/transactions/")["Contents"]
    )
    json_bytes = sum(
        o["Size"]
        for d in DAYS
        for o in s3.list_objects_v2(Bucket="data", Prefix=f"audit/ingest_runs/event_date={d}/")["Contents"]
    )
    assert execution["Statistics"]["DataScannedInBytes"] == parquet_bytes + json_bytes
    assert execution["Statistics"]["EngineExecutionTimeInMillis"] > 0

    athena = catalog.session.client("athena")
    first = athena.get_query_results(QueryExecutionId=qid, MaxResults=2)
    info = {c["Name"]: c for c in first["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]}
    assert {n: c["Type"] for n, c in info.items()} == {
        "transaction_id": "varchar",
        "store_id": "varchar",
        "amount": "decimal",
        "quantity": "bigint",
        "ts": "timestamp",
        "flag": "boolean",
        "big": "double",
        "half": "double",
        "counts": "row",
        "quote": "varchar",
    }
    assert (info["amount"]["Precision"], info["amount"]["Scale"]) == (12, 2)
    rows = first["ResultSet"]["Rows"]
    assert [d["VarCharValue"] for d in rows[0]["Data"]] == list(info)  # header row first
    assert rows[1]["Data"][0] == {"VarCharValue": "t000"} and rows[1]["Data"][1] == {}  # NULL: no value
    rest = athena.get_query_results(QueryExecutionId=qid, MaxResults=2, NextToken=first["NextToken"])
    assert [r["Data"][0]["VarCharValue"] for r in rest["ResultSet"]["Rows"]] == ["t001"]
    assert "NextToken" not in rest


def test_output_location_resolution(catalog: Catalog, engine: OfflineAthena) -> None:
    athena = catalog.session.client("athena")

    def location(**kwargs: Any) -> str:
        qid = athena.start_query_execution(QueryString="SELECT 1", **kwargs)["QueryExecutionId"]
        return str(
            athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["ResultConfiguration"][
                "OutputLocation"
            ]
        )

    mine = {"ResultConfiguration": {"OutputLocation": "s3://results/mine"}}
    assert location(WorkGroup="loose", **mine).startswith("s3://results/mine/")
    assert location(WorkGroup="loose").startswith("s3://results/loose/")
    assert location(WorkGroup="reports", **mine).startswith("s3://results/athena/")
    with pytest.raises(athena.exceptions.InvalidRequestException, match="No output location provided"):
        athena.start_query_execution(QueryString="SELECT 1")  # primary: no result configuration


# -- failures ------------------------------------------------------------------------------------
def test_malformed_query_raises_query_failed_with_the_reason(catalog: Catalog, engine: OfflineAthena) -> None:
    with pytest.raises(wr.exceptions.QueryFailed, match=r"SYNTAX_ERROR: line 1:\d+: .*WHERE"):
        query(catalog, "SELECT store_id FROM WHERE amount > 1")
    assert engine.queries[-1].outcome.state == "FAILED"


def test_unknown_table_and_schema_fail_clearly(catalog: Catalog, engine: OfflineAthena) -> None:
    with pytest.raises(
        wr.exceptions.QueryFailed,
        match=r"TABLE_NOT_FOUND: line 1:15: Table 'awsdatacatalog\.sales\.nope' does not exist",
    ):
        query(catalog, 'SELECT * FROM "sales"."nope"')
    with pytest.raises(
        wr.exceptions.QueryFailed, match=r"SCHEMA_NOT_FOUND: .*Schema 'elsewhere' does not exist"
    ):
        query(catalog, "SELECT * FROM elsewhere.transactions")


def test_engine_errors_carry_duckdb_message(catalog: Catalog, engine: OfflineAthena) -> None:
    execution = run_boto3(catalog, "SELECT no_such_column FROM transactions")
    assert execution["Status"]["State"] == "FAILED"
    reason = execution["Status"]["StateChangeReason"]
    assert "no_such_column" in reason and "Binder Error" in reason
    assert execution["Status"]["AthenaError"]["ErrorMessage"] == reason
    with pytest.raises(athena_error(catalog), match="FAILED"):
        catalog.session.client("athena").get_query_results(QueryExecutionId=execution["QueryExecutionId"])


def test_statements_other_than_queries(catalog: Catalog, engine: OfflineAthena) -> None:
    repair = run_boto3(catalog, "MSCK REPAIR TABLE transactions")
    assert repair["Status"]["State"] == "FAILED"
    assert repair["Status"]["StateChangeReason"].startswith("NOT_SUPPORTED:")
    created = run_boto3(catalog, "CREATE DATABASE scratch")  # modelled by moto itself
    assert created["Status"]["State"] == "SUCCEEDED"


# -- the moto seams this engine replaces ---------------------------------------------------------
def test_replaced_moto_methods_keep_their_signatures() -> None:
    assert list(inspect.signature(AthenaBackend.start_query_execution).parameters) == [
        "self",
        "query",
        "context",
        "config",
        "workgroup",
        "execution_parameters",
    ]
    assert list(inspect.signature(AthenaResponse.get_query_execution).parameters) == ["self"]
    assert list(inspect.signature(AthenaResponse.get_query_results).parameters) == ["self"]
    assert list(inspect.signature(QueryResults.__init__).parameters) == ["self", "rows", "column_info"]


def test_moto_alone_runs_no_sql(catalog: Catalog) -> None:
    assert AthenaBackend.start_query_execution.__module__ == "moto.athena.models"
    execution = run_boto3(catalog, "SELECT count(*) FROM transactions")
    assert execution["Status"]["State"] == "SUCCEEDED"
    results = catalog.session.client("athena").get_query_results(
        QueryExecutionId=execution["QueryExecutionId"]
    )
    assert results["ResultSet"]["Rows"] == []
    assert execution["Statistics"]["DataScannedInBytes"] == 0


def test_install_and_uninstall_swap_exactly_the_three_methods() -> None:
    originals = (
        AthenaBackend.start_query_execution,
        AthenaResponse.get_query_execution,
        AthenaResponse.get_query_results,
    )
    athena = OfflineAthena()
    athena.install()
    athena.install()  # idempotent
    try:
        patched = (
            AthenaBackend.start_query_execution,
            AthenaResponse.get_query_execution,
            AthenaResponse.get_query_results,
        )
        assert all(p.__module__ == "offline_runtime.emulator.athena" for p in patched)
    finally:
        athena.uninstall()
    assert (
        AthenaBackend.start_query_execution,
        AthenaResponse.get_query_execution,
        AthenaResponse.get_query_results,
    ) == originals
