"""Baselines a user would pick instead of our ingest: pandera (a DataFrameSchema built from the
contract, validated lazily) and polars (read + the same checks as expressions).

Same file, same rules as ``datapipe.ingest.validation`` applies in the bench: the contract's
column rules (required, type shape, ranges, non-zero, allowed values, regex, ISO reference lists,
length, encoding) and its row rules (sign by type, required-when, not-equal, currency minor units,
USD limit with the bundled FX rates, US states), uniqueness among otherwise valid rows (first
kept). The arrival-time rules are skipped by all three: the bench validates without an arrival.
Ragged lines (a field count other than the header's) are rejected. Each returns the rows kept
and rejected, which the bench checks against ours, and writes the kept rows as Parquet.
Bench only: never imported by a handler.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from datapipe.contracts.model import ColumnSpec, DatasetContract
from datapipe.ingest.validation import INT_RE, TIMESTAMP_RE
from datapipe.reference import CURRENCY_MINOR_UNITS, reference_set
from datapipe.reference.fx import FxRates

FLOAT_SHAPE = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"


def _decimal_re(precision: int, scale: int) -> str:
    return rf"^[+-]?\d{{1,{precision - scale}}}(\.\d{{1,{scale}}})?$"


def _shape(col: ColumnSpec) -> str | None:
    if col.type == "int":
        return INT_RE
    if col.type == "float":
        return FLOAT_SHAPE
    if col.type == "decimal":
        return _decimal_re(col.precision, col.scale)
    if col.type == "timestamp":
        return TIMESTAMP_RE
    return None


def _usd_rates(pairs: list[tuple[str, date]]) -> dict[tuple[str, date], float | None]:
    """Units per USD for each (currency, day) the file holds: a lookup table a user would join."""
    fx = FxRates.reference()
    out: dict[tuple[str, date], float | None] = {}
    for currency, day in pairs:
        rate = fx.rate(currency, day)
        out[(currency, day)] = float(rate) if rate is not None else None
    return out


def _data_lines(data: bytes) -> int:
    return data.count(b"\n") - 1 + (0 if data.endswith(b"\n") else 1)


# --- polars -------------------------------------------------------------------------------------


def _polars_column_checks(contract: DatasetContract) -> tuple[dict[str, Any], list[Any]]:
    """Each column's typed value and its failure masks (type shape, ranges, lists, regex, ...)."""
    import polars as pl

    fails: list[pl.Expr] = []
    typed: dict[str, pl.Expr] = {}
    for col in contract.columns:
        if col.derived:
            continue
        s = pl.col(col.name)
        present = s.is_not_null()
        fails.append(s.str.contains("\ufffd", literal=True).fill_null(False))
        if col.required:
            fails.append(~present)
        shape = _shape(col)
        value: pl.Expr = s
        if shape is not None:
            fails.append(present & ~s.str.contains(shape).fill_null(False))
        if col.type in ("int", "decimal", "float"):
            number = s.cast(pl.Float64, strict=False)
            for bound, op in (
                (col.exclusive_minimum, number <= (col.exclusive_minimum or 0)),
                (col.minimum, number < (col.minimum or 0)),
                (col.maximum, number > (col.maximum or 0)),
            ):
                if bound is not None:
                    fails.append(op.fill_null(False))
            if col.non_zero:
                fails.append((number == 0).fill_null(False))
            value = {
                "int": s.cast(pl.Int64, strict=False),
                "float": number,
                "decimal": s.str.to_decimal(scale=col.scale).cast(pl.Decimal(col.precision, col.scale)),
            }[col.type]
        elif col.type == "timestamp":
            value = (
                s.str.replace(r"Z$", "+00:00")
                .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", strict=False)
                .dt.convert_time_zone("UTC")
            )
        if col.allowed is not None:
            fails.append(present & ~s.is_in(list(col.allowed)))
        if col.pattern is not None and col.type == "string":
            fails.append(present & ~s.str.contains(col.pattern).fill_null(False))
        if col.reference is not None:
            fails.append(present & ~s.is_in(sorted(reference_set(col.reference))))
        if col.type == "string":
            fails.append((s.str.len_chars() > col.max_length).fill_null(False))
        typed[col.name] = value

    return typed, fails


def _polars_row_checks(contract: DatasetContract) -> list[Any]:
    """The row rules but the USD limit (a join, done on the frame)."""
    import polars as pl

    fails: list[pl.Expr] = []
    for rule in contract.row_rules:
        c = pl.col(rule.column)
        if rule.kind == "sign_by_category":
            amount = c.cast(pl.Float64, strict=False)
            cat = pl.col(rule.category_column or "")
            for sign, bad in (
                ("positive", amount <= 0),
                ("negative", amount >= 0),
                ("non_zero", amount == 0),
            ):
                cats = [k for k, v in rule.signs if v == sign]
                if cats:
                    fails.append((cat.is_in(cats) & bad).fill_null(False))
        elif rule.kind == "required_when":
            fails.append(c.is_null() & pl.col(rule.category_column or "").is_in(list(rule.values)))
        elif rule.kind == "not_equal":
            fails.append((c == pl.col(rule.other_column or "")).fill_null(False))
        elif rule.kind == "currency_minor_units":
            decimals = c.str.extract(r"\.(\d*?)0*$", 1).str.len_chars().fill_null(0)
            minor = pl.col(rule.currency_column or "").replace_strict(
                CURRENCY_MINOR_UNITS, default=None, return_dtype=pl.Int64
            )
            fails.append((decimals > minor).fill_null(False))
        elif rule.kind == "reference_when":
            applies = pl.col(rule.category_column or "").is_in(list(rule.values)).fill_null(False)
            fails.append(applies & ~c.is_in(sorted(reference_set(rule.reference or ""))).fill_null(False))
    return fails


def run_polars(data: bytes, contract: DatasetContract, key: str) -> dict[str, Any]:
    """Read the lines (lossy UTF-8), split them into the header's fields, checks as expressions."""
    import polars as pl

    header, _, _ = data.partition(b"\n")
    names = [h.strip().lower() for h in header.decode("utf-8", "replace").split(",")]
    raw = pl.read_csv(
        io.BytesIO(data),
        has_header=False,
        skip_rows=1,
        separator="\x1f",
        quote_char=None,
        new_columns=["line"],
        schema_overrides={"line": pl.String},
        encoding="utf8-lossy",
    ).with_row_index("row", offset=2)
    rows_in = raw.height
    raw = raw.filter(pl.col("line").str.count_matches(",", literal=True) == len(names) - 1)
    split = raw.select(
        "row", pl.col("line").str.split_exact(",", len(names) - 1).struct.rename_fields(names).alias("f")
    ).unnest("f")

    texts = []
    for col in contract.columns:
        if col.derived:
            continue
        s = pl.col(col.name).str.strip_chars() if col.name in names else pl.lit(None, pl.String)
        texts.append(pl.when(s == "").then(None).otherwise(s).alias(col.name))
    t = split.select("row", *texts)

    typed, fails = _polars_column_checks(contract)
    fails += _polars_row_checks(contract)
    t = t.with_columns(pl.any_horizontal(fails).alias("_bad"))
    for rule in contract.row_rules:
        if rule.kind != "max_in_base_currency":
            continue
        day = typed[rule.date_column or ""].dt.date()
        t = t.with_columns(_day=day)
        pairs = t.select(rule.currency_column, "_day").drop_nulls().unique().rows()
        rates = pl.DataFrame(
            [(c, d, r) for (c, d), r in _usd_rates(pairs).items()],
            schema={rule.currency_column or "": pl.String, "_day": pl.Date, "_rate": pl.Float64},
            orient="row",
        )
        t = t.join(rates, on=[rule.currency_column or "", "_day"], how="left", maintain_order="left")
        usd = pl.col(rule.column).cast(pl.Float64, strict=False).abs() / pl.col("_rate")
        judged = pl.col(rule.column).is_not_null() & pl.col(rule.currency_column or "").is_not_null()
        judged = judged & pl.col("_day").is_not_null()
        over = judged & ((usd > float(rule.value or 0)) | pl.col("_rate").is_null()).fill_null(True)
        t = t.with_columns(_bad=pl.col("_bad") | over).drop("_day", "_rate")

    valid = t.filter(~pl.col("_bad"))
    for name in contract.unique_columns:
        valid = valid.filter(pl.col(name).is_first_distinct() | pl.col(name).is_null())
    out = valid.select(
        *(e.alias(n) for n, e in typed.items()),
        *(typed[p.source].dt.date().alias(p.name) for p in contract.partitions),
        pl.lit(key).alias("lineage_source_key"),
        pl.col("row").alias("lineage_source_row"),
    )
    buf = io.BytesIO()
    out.write_parquet(buf, compression="snappy")
    return {"rows_valid": out.height, "rows_rejected": rows_in - out.height, "parquet_bytes": buf.tell()}


# --- pandera ------------------------------------------------------------------------------------


def _pandera_row_checks(contract: DatasetContract) -> list[Any]:
    """The contract's row rules as DataFrame-wide checks (True = the row passes)."""
    import pandas as pd
    import pandera.pandas as pa

    def number(s: pd.Series) -> pd.Series:
        return pd.to_numeric(s, errors="coerce")

    wide: list[Any] = []
    for rule in contract.row_rules:
        if rule.kind == "sign_by_category":

            def sign(df: pd.DataFrame, rule: Any = rule) -> pd.Series:
                amount = number(df[rule.column])
                cat = df[rule.category_column]
                bad = pd.Series(False, index=df.index)
                for want, wrong in (
                    ("positive", amount <= 0),
                    ("negative", amount >= 0),
                    ("non_zero", amount == 0),
                ):
                    cats = [k for k, v in rule.signs if v == want]
                    bad |= cat.isin(cats) & wrong
                return ~bad

            wide.append(pa.Check(sign, name=rule.name))
        elif rule.kind == "required_when":
            wide.append(
                pa.Check(
                    lambda df, r=rule: ~(df[r.column].isna() & df[r.category_column].isin(list(r.values))),
                    name=rule.name,
                )
            )
        elif rule.kind == "not_equal":
            wide.append(
                pa.Check(
                    lambda df, r=rule: ~(df[r.column].eq(df[r.other_column]).fillna(False).astype(bool)),
                    name=rule.name,
                )
            )
        elif rule.kind == "currency_minor_units":

            def minor_units(df: pd.DataFrame, rule: Any = rule) -> pd.Series:
                decimals = df[rule.column].str.extract(r"\.(\d*?)0*$", expand=False).str.len().fillna(0)
                minor = df[rule.currency_column].map(CURRENCY_MINOR_UNITS)
                return ~(decimals > minor).fillna(False).astype(bool)

            wide.append(pa.Check(minor_units, name=rule.name))
        elif rule.kind == "max_in_base_currency":

            def usd_limit(df: pd.DataFrame, rule: Any = rule) -> pd.Series:
                ts = pd.to_datetime(df[rule.date_column], errors="coerce", utc=True, format="ISO8601")
                days = ts.dt.date
                cur = df[rule.currency_column]
                pairs = sorted(
                    {(c, d) for c, d in zip(cur, days, strict=True) if isinstance(c, str) and pd.notna(d)}
                )
                rates = _usd_rates(pairs)
                keys = pd.Series(list(zip(cur, days, strict=True)), index=df.index)
                rate = keys.map(rates).astype(float)
                judged = df[rule.column].notna() & cur.notna() & ts.notna()
                over = (number(df[rule.column]).abs() / rate > float(rule.value or 0)) | rate.isna()
                return ~(judged & over)

            wide.append(pa.Check(usd_limit, name=rule.name))
        elif rule.kind == "reference_when":
            wide.append(
                pa.Check(
                    lambda df, r=rule: (
                        ~(
                            df[r.category_column].isin(list(r.values))
                            & ~df[r.column].isin(sorted(reference_set(r.reference)))
                        )
                    ),
                    name=rule.name,
                )
            )
    return wide


def _pandera_schema(contract: DatasetContract) -> Any:
    """A DataFrameSchema of the contract over the text frame (stripped, empty = null)."""
    import pandas as pd
    import pandera.pandas as pa

    def number(s: pd.Series) -> pd.Series:
        return pd.to_numeric(s, errors="coerce")

    columns: dict[str, Any] = {}
    for col in contract.columns:
        if col.derived:
            continue
        checks = [pa.Check(lambda s: ~s.str.contains("\ufffd", regex=False), name="encoding")]
        shape = _shape(col)
        if shape is not None:
            checks.append(pa.Check.str_matches(shape))
        if col.type in ("int", "decimal", "float"):
            if col.exclusive_minimum is not None:
                checks.append(pa.Check(lambda s, m=col.exclusive_minimum: ~(number(s) <= m), name="range"))
            if col.minimum is not None:
                checks.append(pa.Check(lambda s, m=col.minimum: ~(number(s) < m), name="range"))
            if col.maximum is not None:
                checks.append(pa.Check(lambda s, m=col.maximum: ~(number(s) > m), name="range"))
            if col.non_zero:
                checks.append(pa.Check(lambda s: number(s) != 0, name="non_zero"))
        if col.allowed is not None:
            checks.append(pa.Check.isin(list(col.allowed)))
        if col.pattern is not None and col.type == "string":
            checks.append(pa.Check.str_matches(col.pattern))
        if col.reference is not None:
            checks.append(pa.Check.isin(sorted(reference_set(col.reference))))
        if col.type == "string":
            checks.append(pa.Check.str_length(max_value=col.max_length))
        columns[col.name] = pa.Column(None, nullable=not col.required, checks=checks, required=True)

    return pa.DataFrameSchema(columns, checks=_pandera_row_checks(contract), strict=False, coerce=False)


def run_pandera(data: bytes, contract: DatasetContract, key: str) -> dict[str, Any]:
    """pandas read as text, the contract's schema validated lazily (every failure collected),
    then uniqueness (first kept) among the rows that passed, as a second schema."""
    import pandas as pd
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

    rows_in = _data_lines(data)
    df = pd.read_csv(
        io.BytesIO(data), dtype=str, keep_default_na=False, on_bad_lines="skip", encoding_errors="replace"
    )
    df.columns = [c.strip().lower() for c in df.columns]
    for col in contract.columns:
        if col.derived:
            continue
        s = df[col.name].str.strip() if col.name in df else pd.Series(None, index=df.index, dtype=object)
        df[col.name] = s.mask(s == "")
    bad: set[Any] = set()
    try:
        _pandera_schema(contract).validate(df, lazy=True)
    except SchemaErrors as exc:
        bad = set(exc.failure_cases["index"].dropna().tolist())
    valid = df.drop(index=list(bad))
    unique = pa.DataFrameSchema(
        {
            n: pa.Column(None, nullable=True, unique=True, report_duplicates="exclude_first")
            for n in contract.unique_columns
        }
    )
    try:
        unique.validate(valid, lazy=True)
    except SchemaErrors as exc:
        valid = valid.drop(index=exc.failure_cases["index"].dropna().unique().tolist())
    out = pd.DataFrame(index=valid.index)
    for col in contract.columns:
        if col.derived:
            continue
        s = valid[col.name]
        if col.type in ("int", "float", "decimal"):
            out[col.name] = pd.to_numeric(s, errors="coerce")
        elif col.type == "timestamp":
            out[col.name] = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601")
        else:
            out[col.name] = s
    for part in contract.partitions:
        out[part.name] = out[part.source].dt.date
    out["lineage_source_key"] = key
    buf = io.BytesIO()
    out.to_parquet(buf, engine="pyarrow", compression="snappy", index=False)
    return {"rows_valid": len(out), "rows_rejected": rows_in - len(out), "parquet_bytes": buf.tell()}
