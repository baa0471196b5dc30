"""The SQL part of offline Athena: Trino SQL run by DuckDB over the Glue tables' data in moto S3.

Imported on the first query only (DuckDB and sqlglot cost ~0.5 s of import); see ``athena``.
"""

from __future__ import annotations

import math
import re
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from duckdb.sqltypes import DuckDBPyType
from moto.athena.models import AthenaBackend, QueryResults
from moto.core.exceptions import JsonRESTError
from moto.glue.models import glue_backends
from moto.s3.models import s3_backends
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.schema import MappingSchema

from offline_runtime.emulator.athena import _LEAD, Outcome, QueryError

_KEEPS_INPUT_TYPE = (exp.DateTrunc, exp.TimestampTrunc, exp.DateAdd, exp.DateSub, exp.Avg)
_QUERY_WORDS = {"SELECT", "WITH", "VALUES", "TABLE"}
# Athena ColumnInfo.Precision by type (decimal: its own precision)
_PRECISION = {"varchar": 2147483647, "bigint": 19, "integer": 10, "smallint": 5, "tinyint": 3,
              "double": 17, "real": 7, "timestamp": 3, "timestamp with time zone": 3, "time": 3}  # fmt: skip
_ATHENA_TYPE = {
    "boolean": "boolean", "tinyint": "tinyint", "smallint": "smallint", "integer": "integer",
    "bigint": "bigint", "hugeint": "bigint", "utinyint": "smallint", "usmallint": "integer",
    "uinteger": "bigint", "ubigint": "bigint", "float": "real", "double": "double",
    "varchar": "varchar", "json": "json", "uuid": "uuid", "blob": "varbinary", "date": "date",
    "time": "time", "timestamp": "timestamp", "timestamp_s": "timestamp", "timestamp_ms": "timestamp",
    "timestamp_ns": "timestamp", "timestamp with time zone": "timestamp with time zone",
    "interval": "interval day to second", "list": "array", "array": "array", "struct": "row",
    "map": "map", "null": "unknown", "decimal": "decimal",
}  # fmt: skip


@dataclass
class Result:
    names: list[str]
    types: list[DuckDBPyType]
    rows: list[tuple[Any, ...]]


# -- running a statement -------------------------------------------------------------------
def execute(
    backend: AthenaBackend, sql: str, context: dict[str, Any] | None, parameters: list[str] | None
) -> tuple[Outcome, Result | None]:
    began = time.perf_counter()
    outcome = Outcome(state="SUCCEEDED")
    try:
        tree = _parse(sql, parameters)
        catalog = (context or {}).get("Catalog") or "AwsDataCatalog"
        if catalog.lower() != "awsdatacatalog":
            raise QueryError("CATALOG_NOT_FOUND", f"Catalog '{catalog}' is not available offline")
        database = ((context or {}).get("Database") or "default").lower()
        with tempfile.TemporaryDirectory(prefix="offline-athena-") as tmp, duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            con.execute("SET autoinstall_known_extensions = false")
            schema: dict[str, dict[str, dict[str, str]]] = {}
            for i, (db, name, where) in enumerate(_referenced_tables(tree, database)):
                table = _glue_table(backend, db, name, where)
                view, columns, scanned = _table_view(backend, table, con, Path(tmp) / f"t{i}")
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_q(db)}")
                con.execute(f"CREATE OR REPLACE VIEW {_q(db)}.{_q(name)} AS {view}")
                schema.setdefault(db, {})[name] = columns
                outcome.scanned_bytes += scanned
            outcome.duckdb_sql = _translate(tree, schema)
            ran = time.perf_counter()
            outcome.planning_ms = int((ran - began) * 1000)
            try:
                rel = con.sql(outcome.duckdb_sql)
                result = Result(list(rel.columns), list(rel.types), rel.fetchall())
            except duckdb.Error as err:
                raise QueryError(type(err).__name__, str(err)) from err
            outcome.engine_ms = max(1, int((time.perf_counter() - ran) * 1000))
        return outcome, result
    except QueryError as err:
        outcome.state, outcome.reason = "FAILED", str(err)
    except Exception as err:  # a gap of this engine: still a FAILED query, never a 500
        outcome.state, outcome.reason = (
            "FAILED",
            f"GENERIC_INTERNAL_ERROR: offline engine: {type(err).__name__}: {err}",
        )
    return outcome, None


def _parse(sql: str, parameters: list[str] | None) -> exp.Expr:
    word = re.split(r"[^A-Za-z]", _LEAD.sub("", sql), maxsplit=1)[0].upper()
    if word not in _QUERY_WORDS:
        raise QueryError(
            "NOT_SUPPORTED",
            f"the offline Athena engine runs queries (SELECT/WITH/VALUES), not {word or 'this'}",
        )
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except sqlglot.ParseError as err:
        e = err.errors[0] if err.errors else {}
        raise QueryError(
            "SYNTAX_ERROR", f"line {e.get('line')}:{e.get('col')}: {e.get('description', err)}"
        ) from err
    except sqlglot.errors.TokenError as err:
        raise QueryError("SYNTAX_ERROR", str(err)) from err
    if len(statements) != 1:
        raise QueryError("SYNTAX_ERROR", "Only one sql statement is allowed")
    tree = statements[0]
    placeholders = list(tree.find_all(exp.Placeholder, bfs=False))
    if len(placeholders) != len(parameters or []):
        raise QueryError(
            "INVALID_PARAMETER_USAGE",
            f"Incorrect number of parameters: expected {len(placeholders)} but found {len(parameters or [])}",
        )
    for node, value in zip(placeholders, parameters or [], strict=True):
        node.replace(sqlglot.parse_one(value, read="trino"))
    return tree


def _referenced_tables(tree: exp.Expr, database: str) -> list[tuple[str, str, str]]:
    """Glue tables the query reads (db, table, "line L:C"), qualified in place to ``db.table``."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    seen: dict[tuple[str, str], str] = {}
    for node in tree.find_all(exp.Table):
        if not isinstance(node.this, exp.Identifier) or (not node.db and node.name.lower() in ctes):
            continue
        if node.catalog and node.catalog.lower() != "awsdatacatalog":
            raise QueryError("CATALOG_NOT_FOUND", f"Catalog '{node.catalog}' is not available offline")
        meta = node.parts[0].meta  # Athena points at the start of the (qualified) name
        where = f"line {meta.get('line', 1)}:{meta.get('col', 1) - meta.get('end', 0) + meta.get('start', 0)}"
        db = (node.db or database).lower()
        node.set("catalog", None)
        node.set("db", exp.to_identifier(db))
        seen.setdefault((db, node.name.lower()), where)
    return [(db, name, where) for (db, name), where in seen.items()]


def _glue_table(backend: AthenaBackend, db: str, name: str, where: str) -> Any:
    glue = glue_backends[backend.account_id][backend.region_name]
    database = next((d for n, d in glue.databases.items() if n.lower() == db), None)
    if database is None:
        raise QueryError("SCHEMA_NOT_FOUND", f"{where}: Schema '{db}' does not exist")
    table = next((t for n, t in database.tables.items() if n.lower() == name), None)
    if table is None:
        raise QueryError("TABLE_NOT_FOUND", f"{where}: Table 'awsdatacatalog.{db}.{name}' does not exist")
    return table


def _duckdb_type(glue_type: str) -> str:
    try:
        return exp.DataType.build(glue_type, dialect="hive").sql("duckdb")
    except (sqlglot.ParseError, ValueError) as err:
        raise QueryError("NOT_SUPPORTED", f"Glue type {glue_type!r}: {err}") from err


def _table_view(
    backend: AthenaBackend, table: Any, con: duckdb.DuckDBPyConnection, workdir: Path
) -> tuple[str, dict[str, str], int]:
    """The DuckDB SELECT a Glue table reads as, its Glue columns (partition keys last), bytes read."""
    spec: dict[str, Any] = table.as_dict()
    sd = spec.get("StorageDescriptor") or {}
    params = {k.lower(): str(v).lower() for k, v in (spec.get("Parameters") or {}).items()}
    serde = (sd.get("SerdeInfo") or {}).get("SerializationLibrary") or ""
    hint = f"{serde} {sd.get('InputFormat', '')} {params.get('classification', '')}".lower()
    fmt = "parquet" if "parquet" in hint else "json" if "json" in hint else None
    label = f"{table.database_name}.{table.name}"
    if spec.get("TableType") == "VIRTUAL_VIEW" or params.get("table_type") == "iceberg":
        raise QueryError("NOT_SUPPORTED", f"{label}: views and Iceberg tables are not supported offline")
    if params.get("projection.enabled") == "true":
        raise QueryError("NOT_SUPPORTED", f"{label}: partition projection is not supported offline")
    if fmt is None:
        raise QueryError("NOT_SUPPORTED", f"{label}: SerDe {serde or '?'} is not supported offline")
    columns = {c["Name"].lower(): c["Type"] for c in sd.get("Columns", [])}
    keys = {k["Name"].lower(): k["Type"] for k in spec.get("PartitionKeys") or []}
    if keys:
        base = sd.get("Location", "").rstrip("/")
        sources = [
            (
                ((p.partition_input.get("StorageDescriptor") or {}).get("Location"))
                or base + "/" + "/".join(f"{k}={v}" for k, v in zip(keys, p.values, strict=False)),
                list(p.values),
            )
            for p in table.partitions.values()
        ]
    else:
        sources = [(sd.get("Location", ""), [])]
    files: list[str] = []
    scanned = 0
    for location, values in sources:
        folder = workdir.joinpath(
            *(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in zip(keys, values, strict=True))
        )
        for data in _objects(backend, location, label):
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{len(files):05d}.{fmt}"
            path.write_bytes(data)
            files.append(str(path))
            scanned += len(data)
    glue_columns = {**columns, **keys}
    types = {name: _duckdb_type(t) for name, t in glue_columns.items()}
    if not files:  # Athena: an empty table
        projection = ", ".join(f"CAST(NULL AS {types[n]}) AS {_q(n)}" for n in glue_columns)
        return f"SELECT {projection} WHERE false", glue_columns, 0
    hive = (
        f"hive_partitioning = true, hive_types = {{{', '.join(f'{_s(k)}: {_s(types[k])}' for k in keys)}}}"
        if keys
        else "hive_partitioning = false"
    )
    if fmt == "json":
        ignore = ((sd.get("SerdeInfo") or {}).get("Parameters") or {}).get("ignore.malformed.json", "false")
        typed = ", ".join(f"{_s(n)}: {_s(types[n])}" for n in columns)
        source = (
            f"read_json({_files(files)}, format = 'newline_delimited', columns = {{{typed}}}, {hive}, "
            f"ignore_errors = {str(ignore).lower() == 'true'})"
        )
        present = set(glue_columns)
    else:
        source = f"read_parquet({_files(files)}, union_by_name = true, {hive})"
        present = {str(r[0]).lower() for r in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    projection = ", ".join(
        f"CAST({_q(n) if n in present else 'NULL'} AS {types[n]}) AS {_q(n)}" for n in glue_columns
    )
    return f"SELECT {projection} FROM {source}", glue_columns, scanned


def _objects(backend: AthenaBackend, location: str, label: str) -> list[bytes]:
    """Object bodies under an S3 "folder", as Athena reads them: recursive, hidden files skipped."""
    match = re.match(r"^s3a?n?://([^/]+)/?(.*)$", location)
    if not match:
        raise QueryError("HIVE_INVALID_METADATA", f"{label}: location {location!r} is not an S3 URI")
    bucket_name, prefix = match.group(1), match.group(2)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    s3 = s3_backends[backend.account_id][backend.partition]
    try:
        bucket = s3.get_bucket(bucket_name)
    except JsonRESTError as err:
        raise QueryError("HIVE_FILESYSTEM_ERROR", f"{label}: {location}: bucket does not exist") from err
    keys, _, _, _ = s3.list_objects(bucket, prefix or None, None, None, None)
    return [  # Hive's filter: no "_" / "." file or folder names (_SUCCESS, _temporary/, .crc)
        key.value
        for key in keys
        if key.size and not any(part.startswith(("_", ".")) for part in key.name[len(prefix) :].split("/"))
    ]


def _translate(tree: exp.Expr, schema: dict[str, dict[str, dict[str, str]]]) -> str:
    """Trino -> DuckDB. Typed against the Glue schema when sqlglot can qualify the query, so that
    Trino's integer division and result types (date_trunc / date_add of a date, avg of a decimal)
    survive; else a plain transpile."""
    top = tree
    while isinstance(top, exp.SetOperation):
        top = top.this
    if isinstance(top, exp.Select):  # Athena names unnamed result columns _col0, _col1, ...
        for i, projection in enumerate(top.expressions):
            if not isinstance(projection, (exp.Alias, exp.Column, exp.Dot, exp.Star)):
                projection.replace(exp.alias_(projection.copy(), f"_col{i}"))
    try:
        mapping = MappingSchema(dict(schema), dialect="hive")
        typed = annotate_types(
            qualify(tree.copy(), schema=mapping, dialect="trino"), schema=mapping, dialect="trino"
        )
    except Exception:  # sqlglot cannot qualify it: DuckDB will judge the plain translation
        return tree.sql(dialect="duckdb")
    # where DuckDB's result type differs from Trino's; innermost first, so copies carry the fixes
    for node in reversed(list(typed.find_all(*_KEEPS_INPUT_TYPE, bfs=False))):
        arg = node.this.type if isinstance(node.this, exp.Expr) else None
        if arg is not None and arg.is_type("date") and not isinstance(node, exp.Avg):
            node.replace(exp.cast(node.copy(), "date"))  # DuckDB: a timestamp
        elif arg is not None and arg.is_type("decimal") and isinstance(node, exp.Avg):  # DuckDB: a double
            outer: exp.Expr = node
            while isinstance(outer.parent, exp.Window | exp.Filter):
                outer = outer.parent
            if outer is node and not isinstance(node.this, exp.Distinct):
                node.replace(_decimal_avg(node.this, arg))
            else:  # over a window, DISTINCT or FILTER: the double, cast back
                outer.replace(exp.cast(outer.copy(), arg.copy()))
    return typed.sql(dialect="duckdb")


def _decimal_avg(value: exp.Expr, dtype: exp.DataType) -> exp.Expr:
    """Trino's avg(decimal(p, s)): exact, a decimal(p, s) rounded half up (DuckDB: via a double,
    150.825 -> 150.82)."""
    p, s = ([int(e.name) for e in dtype.expressions] + [10, 0])[:2] if dtype.expressions else (10, 0)
    x = value.sql(dialect="duckdb")
    units = f"SUM(CAST(({x}) * {10**s} AS HUGEINT))"
    n = f"NULLIF(COUNT({x}), 0)"
    mean = f"SIGN({units}) * ((2 * ABS({units}) + {n}) // (2 * {n}))"
    return sqlglot.parse_one(
        f"CAST(CAST({mean} AS DECIMAL(38, 0)) * {Decimal(1).scaleb(-s)} AS DECIMAL({p}, {s}))", read="duckdb"
    )


# -- results as Athena returns them --------------------------------------------------------
def publish(
    backend: AthenaBackend,
    exec_id: str,
    result: Result,
    location: str | None,
    encryption: dict[str, Any] | None,
) -> None:
    header = {"Data": [{"VarCharValue": n} for n in result.names]}
    cells = [[_text(v) for v in row] for row in result.rows]
    rows = [header] + [{"Data": [{} if c is None else {"VarCharValue": c} for c in row]} for row in cells]
    backend.query_results[exec_id] = QueryResults(rows=rows, column_info=_column_info(result))
    if location is None:
        return
    lines = [",".join(_quoted(c) for c in result.names)] + [
        ",".join(_quoted(c) for c in row) for row in cells
    ]
    bucket, _, key = location[len("s3://") :].partition("/")
    option = (encryption or {}).get("EncryptionOption")
    s3 = s3_backends[backend.account_id][backend.partition]
    try:
        s3.get_bucket(bucket)
    except JsonRESTError as err:
        raise QueryError("HIVE_FILESYSTEM_ERROR", f"Unable to verify/create output bucket {bucket}") from err
    s3.put_object(
        bucket,
        key,
        ("\n".join(lines) + "\n").encode(),
        encryption={"SSE_S3": "AES256", "SSE_KMS": "aws:kms", "CSE_KMS": None}.get(option or ""),
        kms_key_id=(encryption or {}).get("KmsKey"),
    )


def _column_info(result: Result) -> list[dict[str, Any]]:
    info = []
    for name, dtype in zip(result.names, result.types, strict=True):
        athena = _ATHENA_TYPE.get(dtype.id, dtype.id)
        precision, scale = _PRECISION.get(athena, 0), 0
        if athena == "decimal":
            parts: dict[str, Any] = dict(dtype.children)
            precision, scale = int(parts["precision"]), int(parts["scale"])
        info.append(
            {
                "CatalogName": "hive",
                "SchemaName": "",
                "TableName": "",
                "Name": name,
                "Label": name,
                "Type": athena,
                "Precision": precision,
                "Scale": scale,
                "Nullable": "UNKNOWN",
                "CaseSensitive": athena in ("varchar", "char"),
            }
        )
    return info


def _text(value: Any, nested: bool = False) -> str | None:
    """A value as Athena renders it in results (Trino's text form)."""
    if value is None:
        return "null" if nested else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S") + f".{value.microsecond // 1000:03d}"
        return text + (f" {value.tzname()}" if value.tzinfo else "")
    if isinstance(value, dtime):
        return value.strftime("%H:%M:%S") + f".{value.microsecond // 1000:03d}"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return " ".join(f"{b:02x}" for b in value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(str(_text(v, True)) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_text(k, True)}={_text(v, True)}" for k, v in value.items()) + "}"
    return str(value)


def _java_double(x: float) -> str:
    """Trino renders doubles as Java's Double.toString: 0.5, 100.0, 1.0E7, 1.0E-4, NaN, Infinity."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return repr(x)  # Python and Java agree here: shortest round-trip digits, at least one decimal
    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    mantissa = f"{digits[0]}.{''.join(map(str, digits[1:])) or '0'}"
    return f"{'-' if sign else ''}{mantissa}E{len(digits) - 1 + int(exponent)}"


def _quoted(cell: str | None) -> str:
    return "" if cell is None else '"' + cell.replace('"', '""') + '"'


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _s(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _files(paths: list[str]) -> str:
    return "[" + ", ".join(_s(p) for p in paths) + "]"
