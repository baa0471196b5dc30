"""Offline Athena: runs the SQL that moto's Athena only records, with DuckDB over the Glue tables in moto S3.

moto 5.2.5 accepts StartQueryExecution and reports SUCCEEDED without running anything: no result
file, an empty ResultSet. ``OfflineAthena.install()`` replaces three moto methods:

- ``moto.athena.models.AthenaBackend.start_query_execution``: moto's own first (execution record,
  CREATE/DROP DATABASE, results queued through moto's API win), then the statement runs
  synchronously. A query (SELECT / WITH / VALUES) is parsed with sqlglot (Athena's Trino dialect);
  each Glue table it references (unqualified names resolved against QueryExecutionContext.Database)
  becomes a DuckDB view ``"db"."table"`` over the objects under its StorageDescriptor Location, copied
  from moto S3 to a temp dir: Parquet -> ``read_parquet``, openx JSON SerDe -> ``read_json``
  (newline-delimited, columns typed from Glue). Partitioned tables read the *registered* partitions
  only, each laid out hive-style with its catalog values (``hive_types`` = the partition key types).
  The SQL is transpiled to DuckDB, type-annotated against the Glue schema so that Trino semantics
  hold (integer division; ``date_trunc`` / ``date_add`` of a date is a date, ``avg`` of a decimal a
  decimal; unnamed columns are ``_col0``...). Success: ``<OutputLocation>/<id>.csv`` as
  Athena writes it (all values quoted, NULL empty) and moto's QueryResults with Athena ColumnInfo.
  Failure: state FAILED, the sqlglot / DuckDB / catalog message as StateChangeReason.
- ``moto.athena.responses.AthenaResponse.get_query_execution``: moto's response, plus what it
  hard-codes: Statistics (DataScannedInBytes = bytes of the objects read, engine / planning time)
  and Status.StateChangeReason / AthenaError of failed queries.
- ``moto.athena.responses.AthenaResponse.get_query_results``: paged by MaxResults / NextToken as
  Athena pages it (header row first, on the first page only).

Output location as on AWS: the workgroup's when it enforces its configuration, else the request's,
else the workgroup's; none -> InvalidRequestException. awswrangler does not read ``.csv.metadata``,
so none is written.

Limitations: Parquet and the openx JSON SerDe only (CSV SerDes, Iceberg, Glue views and partition
projection fail as NOT_SUPPORTED, as do statements other than queries and CREATE/DROP DATABASE);
DataScannedInBytes counts whole files (no column or partition pruning); JSON keys are matched
case-sensitively (the SerDe lowercases them) and SerDe mappings are ignored; functions sqlglot does
not translate fail with DuckDB's message; other result types are DuckDB's, renamed to Athena's
(``sum`` of a bigint: DuckDB's hugeint, reported as bigint); ``avg`` of a decimal over a window,
with DISTINCT or FILTER goes through a double; when sqlglot cannot qualify a query it is
transpiled untyped (``7 / 2`` is then 3.5).
awswrangler's path (ctas_approach=False): GetWorkGroup, StartQueryExecution, GetQueryExecution
until a final state (FAILED -> QueryFailed(StateChangeReason)), GetQueryResults(MaxResults=1) for
ColumnInfo (decimal: Precision/Scale), then the CSV at ResultConfiguration.OutputLocation, deleted
afterwards with its ``.metadata`` unless keep_files.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from moto.athena.models import AthenaBackend
from moto.athena.responses import AthenaResponse
from moto.core.exceptions import JsonRESTError

_LOCK = threading.RLock()
_OUTCOME = "offline_outcome"  # attribute set on moto's Execution
_MOTO_DDL = re.compile(r"^(CREATE|DROP)\s+(DATABASE|SCHEMA)\b", re.IGNORECASE)
_LEAD = re.compile(r"^(\s|\(|--[^\n]*(\n|$)|/\*.*?\*/)*", re.DOTALL)  # blanks, "(", comments


class QueryError(Exception):
    """A query Athena would fail: ``code`` is Athena's error name (SYNTAX_ERROR, TABLE_NOT_FOUND...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")


@dataclass
class Outcome:
    state: str
    reason: str | None = None
    scanned_bytes: int = 0
    planning_ms: int = 0
    engine_ms: int = 0
    duckdb_sql: str | None = None


@dataclass
class QueryRecord:
    execution_id: str
    sql: str
    outcome: Outcome


@dataclass
class OfflineAthena:
    queries: list[QueryRecord] = field(default_factory=list)
    _originals: dict[str, Any] = field(default_factory=dict)

    def install(self) -> None:
        if self._originals:
            return
        engine = self
        start = self._originals["start"] = AthenaBackend.start_query_execution
        describe = self._originals["describe"] = AthenaResponse.get_query_execution
        results = self._originals["results"] = AthenaResponse.get_query_results

        def start_query_execution(
            backend: AthenaBackend,
            query: str,
            context: dict[str, Any] | None,
            config: dict[str, Any] | None,
            workgroup: str | None,
            execution_parameters: list[str] | None,
        ) -> str:
            return engine._start(start, backend, query, context, config, workgroup, execution_parameters)

        def get_query_execution(response: AthenaResponse) -> str:
            body = json.loads(describe(response))
            run = body["QueryExecution"]
            outcome = getattr(response.athena_backend.executions.get(run["QueryExecutionId"]), _OUTCOME, None)
            if isinstance(outcome, Outcome):
                run["Statistics"].update(
                    DataScannedInBytes=outcome.scanned_bytes,
                    EngineExecutionTimeInMillis=outcome.engine_ms,
                    QueryPlanningTimeInMillis=outcome.planning_ms,
                    TotalExecutionTimeInMillis=outcome.planning_ms + outcome.engine_ms,
                )
                if outcome.state == "FAILED":
                    run["Status"]["StateChangeReason"] = outcome.reason
                    run["Status"]["AthenaError"] = {
                        "ErrorCategory": 1 if "INTERNAL_ERROR" in str(outcome.reason) else 2,  # SYSTEM / USER
                        "Retryable": False,
                        "ErrorMessage": outcome.reason,
                    }
            return json.dumps(body)

        def get_query_results(response: AthenaResponse) -> str:
            body = json.loads(results(response))
            offset = int(response._get_param("NextToken") or 0)
            limit = int(response._get_param("MaxResults") or 1000)
            rows = body["ResultSet"]["Rows"]
            body["ResultSet"]["Rows"] = rows[offset : offset + limit]
            if offset + limit < len(rows):
                body["NextToken"] = str(offset + limit)
            body.setdefault("UpdateCount", 0)
            return json.dumps(body)

        AthenaBackend.start_query_execution = start_query_execution  # type: ignore[method-assign,assignment]
        AthenaResponse.get_query_execution = get_query_execution  # type: ignore[method-assign,assignment]
        AthenaResponse.get_query_results = get_query_results  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if not self._originals:
            return
        AthenaBackend.start_query_execution = self._originals.pop("start")  # type: ignore[method-assign]
        AthenaResponse.get_query_execution = self._originals.pop("describe")  # type: ignore[method-assign]
        AthenaResponse.get_query_results = self._originals.pop("results")  # type: ignore[method-assign]

    # -- StartQueryExecution ---------------------------------------------------------------
    def _start(
        self,
        original: Any,
        backend: AthenaBackend,
        query: str,
        context: dict[str, Any] | None,
        config: dict[str, Any] | None,
        workgroup: str | None,
        execution_parameters: list[str] | None,
    ) -> str:
        output, encryption = _output_location(backend, config, workgroup)
        exec_id: str = original(
            backend,
            query=query,
            context=context,
            config=config,
            workgroup=workgroup,
            execution_parameters=execution_parameters,
        )
        execution = backend.executions[exec_id]
        if exec_id in backend.query_results or _MOTO_DDL.match(_LEAD.sub("", query)):
            return exec_id  # results queued through moto's API / DDL moto models itself
        location = f"{output.rstrip('/')}/{exec_id}.csv" if output else None
        execution.config = {**(config or {}), **({"OutputLocation": location} if location else {})}
        if encryption:
            execution.config["EncryptionConfiguration"] = encryption
        with _LOCK:
            from offline_runtime.emulator import athena_sql  # DuckDB and sqlglot: imported on the first query

            outcome, result = athena_sql.execute(backend, query, context, execution_parameters)
            if result is not None:
                try:
                    athena_sql.publish(backend, exec_id, result, location, encryption)
                except QueryError as err:
                    outcome.state, outcome.reason = "FAILED", str(err)
        if outcome.state == "FAILED":
            execution.status = "FAILED"
        execution.end_time = time.time()
        setattr(execution, _OUTCOME, outcome)
        self.queries.append(QueryRecord(exec_id, query, outcome))
        return exec_id


def _output_location(
    backend: AthenaBackend, config: dict[str, Any] | None, workgroup: str | None
) -> tuple[str | None, dict[str, Any] | None]:
    wg = backend.work_groups.get(workgroup or "primary")
    wg_conf: dict[str, Any] = wg.configuration if wg else {}
    wg_result = wg_conf.get("ResultConfiguration") or {}
    request = config or {}
    if (wg_conf.get("ManagedQueryResultsConfiguration") or {}).get("Enabled"):
        return None, None
    if wg_conf.get("EnforceWorkGroupConfiguration", True) and wg_result.get("OutputLocation"):
        return wg_result["OutputLocation"], wg_result.get("EncryptionConfiguration")
    if request.get("OutputLocation"):
        return request["OutputLocation"], request.get("EncryptionConfiguration")
    if wg_result.get("OutputLocation"):
        return wg_result["OutputLocation"], wg_result.get("EncryptionConfiguration")
    raise JsonRESTError(
        "InvalidRequestException",
        "No output location provided. An output location is required either through the Workgroup "
        "result configuration setting or as an API input.",
    )
