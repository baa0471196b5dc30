"""The ``daily_balances`` curated table: one Parquet object per business day, and its Glue schema.

``curated/daily_balances/business_date=<D>/balances.parquet`` always holds the current version
of day D (a put replaces it whole: readers never see half a day, and a retried write leaves the
same object); every version is also kept under ``eod/business_date=<D>/v<N>/balances.parquet``
with the day's summary, so a restated day keeps what it replaced.
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from datapipe.banking.ledger import BalanceRow

TABLE = "daily_balances"
PREFIX = "curated/daily_balances/"
PARTITION = "business_date"

MONEY = pa.decimal128(18, 4)
SCHEMA = pa.schema(
    [
        ("account_id", pa.string()),
        ("customer_id", pa.string()),
        ("account_type", pa.string()),
        ("product_code", pa.string()),
        ("currency", pa.string()),
        ("opened_date", pa.date32()),
        ("closed_date", pa.date32()),
        ("opening_balance", MONEY),
        ("opening_source", pa.string()),
        ("transactions", pa.int64()),
        ("debits", MONEY),
        ("credits", MONEY),
        ("movement", MONEY),
        ("annual_rate", pa.decimal128(12, 8)),
        ("day_count", pa.string()),
        ("interest_accrued", MONEY),
        ("accrued_interest_mtd", MONEY),
        ("interest_credited", MONEY),
        ("closing_balance", MONEY),
        ("credit_limit", MONEY),
        ("overdrawn", pa.bool_()),
        ("over_limit", pa.bool_()),
        ("version", pa.int64()),
        ("restated", pa.bool_()),
        ("computed_at", pa.string()),
    ]
)
GLUE_TYPES = {
    "string": "string",
    "date32[day]": "date",
    "int64": "bigint",
    "bool": "boolean",
    "decimal128(18, 4)": "decimal(18,4)",
    "decimal128(12, 8)": "decimal(12,8)",
}


def glue_columns() -> list[dict[str, str]]:
    """The Glue columns the template declares (kept equal by a test)."""
    return [{"Name": f.name, "Type": GLUE_TYPES[str(f.type)]} for f in SCHEMA]


def current_key(day: date) -> str:
    return f"{PREFIX}{PARTITION}={day.isoformat()}/balances.parquet"


def version_prefix(day: date, version: int) -> str:
    return f"eod/business_date={day.isoformat()}/v{version}/"


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.0001"))


def to_parquet(rows: list[BalanceRow], version: int, restated: bool, computed_at: str) -> bytes:
    columns: dict[str, list[Any]] = {f.name: [] for f in SCHEMA}
    for r in rows:
        values = {
            **{k: getattr(r, k) for k in columns if hasattr(r, k)},
            "version": version,
            "restated": restated,
            "computed_at": computed_at,
        }
        for name, column in columns.items():
            value = values[name]
            column.append(_money(value) if isinstance(value, Decimal) and name != "annual_rate" else value)
    table = pa.table(columns, schema=SCHEMA)
    out = io.BytesIO()
    pq.write_table(table, out, compression="snappy")
    return out.getvalue()


def portal_item(row: BalanceRow, version: int, updated_at: str) -> dict[str, Any]:
    """The customer-portal item of one account and day (what the mobile app shows)."""
    available = (
        (row.credit_limit - row.closing_balance) if row.credit_limit is not None else row.closing_balance
    )
    item: dict[str, Any] = {
        "account_id": row.account_id,
        "business_date": row.business_date.isoformat(),
        "account_type": row.account_type,
        "currency": row.currency,
        "closing_balance": row.closing_balance,
        "available_balance": available,
        "interest_accrued_mtd": row.accrued_interest_mtd,
        "interest_credited": row.interest_credited,
        "transactions": row.transactions,
        "version": version,
        "updated_at": updated_at,
    }
    if row.credit_limit is not None:
        item["credit_limit"] = row.credit_limit
    return item
