"""Regulatory reports on the business calendar: daily, weekly, monthly, each computed with Athena
SQL over the curated tables, issued as CSV sections + a JSON summary with SHA-256 checksums, in
versions.

* **Daily** (01:00 in the bank's zone, for the day that just closed): the transaction validation
  summary (the business day's published transactions by type and currency, every file that
  contributed with its rows in / valid / rejected / published, the files of the day that were
  quarantined) and the balance reconciliation (balances by account type and currency, the
  reconciliation checks of end of day), plus sales per store and fraud cases. Only when end of day
  closed the day and it reconciled.
* **Weekly** (Sunday 02:00, for the week Sunday..Saturday that ended at Saturday's close): risk
  assessment — overdrawn and over-limit accounts, large exposures per customer (in USD), fraud case
  statistics, the week's daily totals. Only when all seven dailies are issued.
* **Monthly** (03:00 on the 1st, for the month that ended): the regulatory submission package —
  the month's totals per business day, month-end balances, interest by product, restatements, and
  the versions and checksums of every daily and weekly it rests on. Only when all of them are
  issued. Due by the configured business day of the next month (holiday calendar as data); an
  alarm fires when it is not produced by then.

Every figure is by business date — the records' own time in the bank's zone, never the time they
were published. A report is issued once per state of its inputs: its *fingerprint* (end of day's
version for a daily, the dailies' versions for a weekly, all of them for a monthly). A restated day
changes the fingerprint, and the report is re-issued as the next version, flagged ``restated``
with what it supersedes; an unchanged fingerprint is "already issued". Files of a version are
written before the register records it, and contain nothing time-dependent, so a retried run
rewrites identical files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from datapipe.banking import queries as q
from datapipe.banking.calendar import (
    business_window,
    holiday_calendar,
    month_days,
    partitions_touched,
    week_days,
    weeks_ending_in,
)
from datapipe.banking.dynamo import CLOSED, ISSUED, EndOfDayControl, ReportRecord, ReportRegister
from datapipe.ports import EventBus, Notifier, ObjectStore

AUDIT_TABLE = "pipeline_events"
BALANCES = q.BALANCES_TABLE
DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
EVENTS = {
    DAILY: ("DailyReportReady", "DailyReportBlocked"),
    WEEKLY: ("WeeklyReportReady", "WeeklyReportBlocked"),
    MONTHLY: ("MonthlyReportReady", "MonthlyReportBlocked"),
}
MONTHLY_REPORT_OVERDUE = "MonthlyReportOverdue"
CARD_TYPES = ("PURCHASE", "REFUND", "REVERSAL", "CHARGEBACK")


# ---------------------------------------------------------------------------- names and keys
def report_id(kind: str, period: str) -> str:
    return f"{kind}#{period}"


def period_of(kind: str, when: date) -> str:
    return when.strftime("%Y-%m") if kind == MONTHLY else when.isoformat()


_PERIOD_KEY = {DAILY: "report_date", WEEKLY: "week_ending", MONTHLY: "month"}


def report_prefix(kind: str, period: str, version: int) -> str:
    return f"reports/{kind}/{_PERIOD_KEY[kind]}={period}/v{version}/"


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def to_json(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, default=_json_default, sort_keys=True).encode()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _cell(v) for k, v in r.items()} for r in rows)
    return out.getvalue().encode()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (Decimal, date, datetime)):
        return _json_default(value)
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return value.isoformat()
    return value


def package(sections: dict[str, list[dict[str, Any]]], summary: dict[str, Any]) -> dict[str, bytes]:
    """The files of one report version: a CSV per section, ``summary.json`` (with the sections'
    SHA-256), and ``manifest.json`` listing every file with its SHA-256 and size."""
    files = {f"{name}.csv": csv_bytes(rows) for name, rows in sections.items()}
    summary = {**summary, "checksums": {name: sha256(body) for name, body in sorted(files.items())}}
    files["summary.json"] = to_json(summary)
    files["manifest.json"] = to_json(
        {
            "report": summary.get("report"),
            "period": summary.get("period"),
            "version": summary.get("version"),
            "files": {n: {"sha256": sha256(b), "bytes": len(b)} for n, b in sorted(files.items())},
        }
    )
    return files


# ---------------------------------------------------------------------------- the SQL
def _quoted(values: Any) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _cases_join(db: str, condition: str) -> str:
    return f"""
        FROM "{db}"."{AUDIT_TABLE}" e
        JOIN (SELECT transaction_id, event_time FROM "{db}"."transactions" WHERE {condition}) t
          ON t.transaction_id = json_extract_scalar(e.detail, '$.transaction_id')
        WHERE e.detail_type = 'FraudCaseOpened'
    """


def daily_sql(db: str, day: date, tz: str) -> dict[str, tuple[tuple[str, ...], str]]:
    """Section -> (tables it reads, SQL). Transactions by ``event_time`` inside the business day."""
    window = q.in_window(day, tz)
    start, end = business_window(day, tz)
    iso = "%Y-%m-%dT%H:%M:%S"
    return {
        "transactions_by_type": (
            ("transactions",),
            f"""
            SELECT transaction_type, currency, count(*) AS transactions, sum(amount) AS amount
            FROM "{db}"."transactions" WHERE {window}
            GROUP BY transaction_type, currency ORDER BY transaction_type, currency
            """,
        ),
        "validation_by_file": (
            ("transactions", AUDIT_TABLE),
            f"""
            WITH mine AS (
                SELECT lineage_ingest_run_id AS run_id, lineage_source_key AS source_key,
                       count(*) AS rows_of_day
                FROM "{db}"."transactions" WHERE {window}
                GROUP BY lineage_ingest_run_id, lineage_source_key
            ), staged AS (
                SELECT DISTINCT json_extract_scalar(detail, '$.run_id') AS run_id,
                       CAST(json_extract_scalar(detail, '$.counts.rows_in') AS BIGINT) AS rows_in,
                       CAST(json_extract_scalar(detail, '$.counts.rows_valid') AS BIGINT) AS rows_valid,
                       CAST(json_extract_scalar(detail, '$.counts.rows_rejected') AS BIGINT) AS rows_rejected
                FROM "{db}"."{AUDIT_TABLE}"
                WHERE detail_type = 'DatasetStaged'
                  AND json_extract_scalar(detail, '$.run_id') IN (SELECT run_id FROM mine)
            ), published AS (
                SELECT DISTINCT json_extract_scalar(detail, '$.run_id') AS run_id,
                       CAST(json_extract_scalar(detail, '$.rows_published') AS BIGINT) AS rows_published
                FROM "{db}"."{AUDIT_TABLE}"
                WHERE detail_type = 'DatasetPublished'
                  AND json_extract_scalar(detail, '$.run_id') IN (SELECT run_id FROM mine)
            )
            SELECT m.source_key, m.run_id, s.rows_in, s.rows_valid, s.rows_rejected, p.rows_published,
                   m.rows_of_day
            FROM mine m LEFT JOIN staged s ON s.run_id = m.run_id LEFT JOIN published p ON p.run_id = m.run_id
            ORDER BY m.source_key, m.run_id
            """,
        ),
        "quarantined_files": (
            (AUDIT_TABLE,),
            f"""
            SELECT DISTINCT json_extract_scalar(detail, '$.dataset') AS dataset,
                   json_extract_scalar(detail, '$.source.key') AS source_key,
                   json_extract_scalar(detail, '$.stage') AS stage,
                   json_extract_scalar(detail, '$.reason_code') AS reason_code,
                   CAST(json_extract_scalar(detail, '$.counts.rows_in') AS BIGINT) AS rows_in
            FROM "{db}"."{AUDIT_TABLE}"
            WHERE detail_type = 'DatasetQuarantined'
              AND json_extract_scalar(detail, '$.source.key') LIKE '%/{day.isoformat()}/%'
            ORDER BY 1, 2
            """,
        ),
        "balances": (
            (BALANCES,),
            f"""
            SELECT account_type, currency, count(*) AS accounts, sum(transactions) AS transactions,
                   sum(opening_balance) AS opening, sum(debits) AS debits, sum(credits) AS credits,
                   sum(movement) AS movement, sum(interest_accrued) AS interest_accrued,
                   sum(interest_credited) AS interest_credited, sum(closing_balance) AS closing,
                   count_if(overdrawn) AS overdrawn, count_if(over_limit) AS over_limit
            FROM "{db}"."{BALANCES}" WHERE business_date = '{day}'
            GROUP BY account_type, currency ORDER BY account_type, currency
            """,
        ),
        "sales_per_store": (
            ("transactions",),
            f"""
            SELECT coalesce(nullif(store_id, ''), 'ONLINE') AS store_id, currency, count(*) AS transactions,
                   sum(amount) AS sales
            FROM "{db}"."transactions"
            WHERE {window} AND transaction_type IN ({_quoted(CARD_TYPES)})
            GROUP BY 1, 2 ORDER BY 1, 2
            """,
        ),
        "fraud_cases_per_severity": (
            ("transactions", AUDIT_TABLE),
            f"""
            SELECT json_extract_scalar(e.detail, '$.severity') AS severity,
                   count(DISTINCT json_extract_scalar(e.detail, '$.case_id')) AS cases
            {_cases_join(db, window)}
            GROUP BY 1 ORDER BY 1
            """,
        ),
        "stock_outs": (
            (AUDIT_TABLE,),
            f"""
            SELECT json_extract_scalar(detail, '$.store_id') AS store_id,
                   count(DISTINCT json_extract_scalar(detail, '$.crossing_id')) AS low_stock_crossings,
                   count(DISTINCT CASE WHEN CAST(json_extract_scalar(detail, '$.on_hand') AS BIGINT) <= 0
                         THEN json_extract_scalar(detail, '$.crossing_id') END) AS stock_outs
            FROM "{db}"."{AUDIT_TABLE}"
            WHERE detail_type = 'LowStockDetected'
              AND json_extract_scalar(detail, '$.detected_at') >= '{start.strftime(iso)}'
              AND json_extract_scalar(detail, '$.detected_at') < '{end.strftime(iso)}'
            GROUP BY 1 ORDER BY 1
            """,
        ),
    }


def _days_case(days: list[date], tz: str, column: str) -> str:
    """The business date of ``column`` among ``days`` (exact on daylight-saving nights)."""
    branches = " ".join(f"WHEN {column} < {q.ts(business_window(d, tz)[1])} THEN '{d}'" for d in days)
    return f"CASE {branches} END"


def weekly_sql(
    db: str, saturday: date, tz: str, threshold: Decimal, tables: set[str]
) -> dict[str, tuple[tuple[str, ...], str]]:
    days = week_days(saturday)
    sunday = days[0]
    start, end = business_window(sunday, tz)[0], business_window(saturday, tz)[1]
    parts = sorted({p for d in days for p in partitions_touched(d, tz)})
    week_window = (
        f"event_date IN ({_quoted(parts)}) AND event_time >= {q.ts(start)} AND event_time < {q.ts(end)}"
    )
    in_week = f"business_date >= '{sunday}' AND business_date <= '{saturday}'"
    fx = (
        f"""SELECT currency, units_per_usd FROM (
                SELECT currency, units_per_usd,
                       row_number() OVER (PARTITION BY currency ORDER BY rate_date DESC) AS newest
                FROM "{db}"."fx_rates" WHERE rate_day <= '{saturday}') WHERE newest = 1"""
        if "fx_rates" in tables
        else "SELECT CAST(NULL AS VARCHAR) AS currency, CAST(NULL AS DECIMAL(18, 8)) AS units_per_usd"
    )
    exposure = """CASE WHEN account_type = 'credit' AND closing_balance > 0 THEN closing_balance
                       WHEN account_type <> 'credit' AND closing_balance < 0 THEN -closing_balance
                       ELSE 0 END"""
    return {
        "daily_totals": (
            (BALANCES,),
            f"""
            SELECT business_date, currency, count(*) AS accounts, sum(transactions) AS transactions,
                   sum(debits) AS debits, sum(credits) AS credits, sum(interest_accrued) AS interest_accrued,
                   sum(interest_credited) AS interest_credited, sum(closing_balance) AS closing
            FROM "{db}"."{BALANCES}" WHERE {in_week}
            GROUP BY business_date, currency ORDER BY business_date, currency
            """,
        ),
        "overdrawn_accounts": (
            (BALANCES,),
            f"""
            SELECT account_id, customer_id, account_type, currency, count(*) AS days_overdrawn,
                   min(closing_balance) AS lowest_balance,
                   bool_or(business_date = '{saturday}') AS overdrawn_at_week_end
            FROM "{db}"."{BALANCES}" WHERE {in_week} AND overdrawn
            GROUP BY account_id, customer_id, account_type, currency ORDER BY account_id
            """,
        ),
        "over_limit_accounts": (
            (BALANCES,),
            f"""
            SELECT account_id, customer_id, currency, max(credit_limit) AS credit_limit,
                   count(*) AS days_over_limit, max(closing_balance) AS highest_balance,
                   bool_or(business_date = '{saturday}') AS over_limit_at_week_end
            FROM "{db}"."{BALANCES}" WHERE {in_week} AND over_limit
            GROUP BY account_id, customer_id, currency ORDER BY account_id
            """,
        ),
        "large_exposures": (
            (BALANCES,),
            f"""
            WITH fx AS ({fx}),
            owed AS (
                SELECT customer_id, currency, sum({exposure}) AS exposure, count(*) AS accounts
                FROM "{db}"."{BALANCES}" WHERE business_date = '{saturday}'
                GROUP BY customer_id, currency
            ),
            usd AS (
                SELECT o.customer_id, o.accounts,
                       CASE WHEN o.currency = 'USD' THEN o.exposure ELSE o.exposure / f.units_per_usd END
                           AS exposure_usd
                FROM owed o LEFT JOIN fx f ON f.currency = o.currency
            )
            SELECT customer_id, sum(accounts) AS accounts, round(sum(exposure_usd), 2) AS exposure_usd
            FROM usd GROUP BY customer_id
            HAVING sum(exposure_usd) >= {threshold}
            ORDER BY exposure_usd DESC, customer_id
            """,
        ),
        "fraud_case_statistics": (
            ("transactions", AUDIT_TABLE),
            f"""
            SELECT {_days_case(days, tz, "t.event_time")} AS business_date,
                   json_extract_scalar(e.detail, '$.severity') AS severity,
                   count(DISTINCT json_extract_scalar(e.detail, '$.case_id')) AS cases
            {_cases_join(db, week_window)}
            GROUP BY 1, 2 ORDER BY 1, 2
            """,
        ),
    }


def monthly_sql(db: str, year: int, month: int) -> dict[str, tuple[tuple[str, ...], str]]:
    days = month_days(year, month)
    first, last = days[0], days[-1]
    in_month = f"business_date >= '{first}' AND business_date <= '{last}'"
    return {
        "daily_totals": (
            (BALANCES,),
            f"""
            SELECT business_date, currency, count(*) AS accounts, sum(transactions) AS transactions,
                   sum(debits) AS debits, sum(credits) AS credits, sum(interest_accrued) AS interest_accrued,
                   sum(interest_credited) AS interest_credited, sum(closing_balance) AS closing,
                   count_if(overdrawn) AS overdrawn, count_if(over_limit) AS over_limit
            FROM "{db}"."{BALANCES}" WHERE {in_month}
            GROUP BY business_date, currency ORDER BY business_date, currency
            """,
        ),
        "month_end_balances": (
            (BALANCES,),
            f"""
            SELECT account_type, currency, count(*) AS accounts, sum(closing_balance) AS closing,
                   count_if(overdrawn) AS overdrawn, count_if(over_limit) AS over_limit
            FROM "{db}"."{BALANCES}" WHERE business_date = '{last}'
            GROUP BY account_type, currency ORDER BY account_type, currency
            """,
        ),
        "interest_by_product": (
            (BALANCES,),
            f"""
            SELECT product_code, currency, day_count, count(DISTINCT account_id) AS accounts,
                   min(annual_rate) AS lowest_rate, max(annual_rate) AS highest_rate,
                   sum(interest_accrued) AS interest_accrued, sum(interest_credited) AS interest_credited
            FROM "{db}"."{BALANCES}" WHERE {in_month} AND annual_rate IS NOT NULL
            GROUP BY product_code, currency, day_count ORDER BY product_code, currency, day_count
            """,
        ),
        "restatements": (
            (AUDIT_TABLE,),
            f"""
            SELECT DISTINCT json_extract_scalar(detail, '$.business_date') AS business_date,
                   CAST(json_extract_scalar(detail, '$.version') AS BIGINT) AS version,
                   json_extract_scalar(detail, '$.reason') AS reason
            FROM "{db}"."{AUDIT_TABLE}"
            WHERE detail_type = 'EndOfDayRestated'
              AND json_extract_scalar(detail, '$.business_date') >= '{first}'
              AND json_extract_scalar(detail, '$.business_date') <= '{last}'
            ORDER BY 1, 2
            """,
        ),
    }


def run_sections(
    run: Callable[[str], list[dict[str, Any]]],
    specs: dict[str, tuple[tuple[str, ...], str]],
    tables: set[str],
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Each section's rows; a section whose tables are not in the catalog yet is empty (and its
    tables are returned: a fresh deployment has no curated table before its first publish)."""
    sections: dict[str, list[dict[str, Any]]] = {}
    missing: set[str] = set()
    for name, (needs, text) in specs.items():
        absent = [t for t in needs if t not in tables]
        missing.update(absent)
        sections[name] = [] if absent else run(text)
    return sections, sorted(missing)


# ---------------------------------------------------------------------------- summaries
def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _sum_by(rows: list[dict[str, Any]], key: str, field: str) -> dict[str, str]:
    out: dict[str, Decimal] = {}
    for r in rows:
        out[str(r[key])] = out.get(str(r[key]), Decimal(0)) + _dec(r[field])
    return {k: format(v, "f") for k, v in sorted(out.items())}


def daily_summary(sections: dict[str, list[dict[str, Any]]], eod: dict[str, Any]) -> dict[str, Any]:
    by_type = sections["transactions_by_type"]
    files = sections["validation_by_file"]
    sales = sections["sales_per_store"]
    stock = sections["stock_outs"]
    return {
        "transactions": sum(int(r["transactions"]) for r in by_type),
        "amount_by_currency": _sum_by(by_type, "currency", "amount"),
        "files": len(files),
        "rows_in": sum(int(r["rows_in"] or 0) for r in files),
        "rows_rejected": sum(int(r["rows_rejected"] or 0) for r in files),
        "rows_published": sum(int(r["rows_published"] or 0) for r in files),
        "rows_of_day": sum(int(r["rows_of_day"]) for r in files),
        "files_quarantined": len(sections["quarantined_files"]),
        "stores": len({r["store_id"] for r in sales if r["store_id"] != "ONLINE"}),
        "sales_by_currency": _sum_by(sales, "currency", "sales"),
        "fraud_cases_by_severity": {
            r["severity"]: int(r["cases"]) for r in sections["fraud_cases_per_severity"]
        },
        "low_stock_crossings": sum(int(r["low_stock_crossings"]) for r in stock),
        "stock_outs": sum(int(r["stock_outs"]) for r in stock),
        "balances": {f"{r['account_type']}/{r['currency']}": _row_text(r) for r in sections["balances"]},
        "reconciliation": eod.get("reconciliation", {}),
        "end_of_day": {k: eod.get(k) for k in ("version", "digest", "waived", "restated", "reason")},
    }


def _row_text(r: dict[str, Any]) -> dict[str, Any]:
    return {k: _cell(v) for k, v in r.items() if k not in ("account_type", "currency")}


def weekly_summary(sections: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    fraud: dict[str, int] = {}
    for r in sections["fraud_case_statistics"]:
        fraud[r["severity"]] = fraud.get(r["severity"], 0) + int(r["cases"])
    return {
        "transactions": sum(int(r["transactions"]) for r in sections["daily_totals"]),
        "overdrawn_accounts": len(sections["overdrawn_accounts"]),
        "overdrawn_at_week_end": sum(
            1 for r in sections["overdrawn_accounts"] if _true(r["overdrawn_at_week_end"])
        ),
        "over_limit_accounts": len(sections["over_limit_accounts"]),
        "large_exposures": len(sections["large_exposures"]),
        "largest_exposure_usd": _cell(sections["large_exposures"][0]["exposure_usd"])
        if sections["large_exposures"]
        else None,
        "fraud_cases_by_severity": dict(sorted(fraud.items())),
    }


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def monthly_summary(sections: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "business_days": len({r["business_date"] for r in sections["daily_totals"]}),
        "transactions": sum(int(r["transactions"]) for r in sections["daily_totals"]),
        "interest_accrued_by_currency": _sum_by(
            sections["interest_by_product"], "currency", "interest_accrued"
        ),
        "interest_credited_by_currency": _sum_by(
            sections["interest_by_product"], "currency", "interest_credited"
        ),
        "month_end_closing_by_currency": _sum_by(sections["month_end_balances"], "currency", "closing"),
        "restatements": len(sections["restatements"]),
    }


# ---------------------------------------------------------------------------- running them
class Queries(Protocol):
    def run(self, sql: str) -> list[dict[str, Any]]: ...


class Catalog(Protocol):
    def table_names(self) -> set[str]: ...


@dataclass(frozen=True)
class ReportConfig:
    database: str
    curated_bucket: str
    time_zone: str
    stage: str
    large_exposure_threshold: Decimal = Decimal(25000)
    holiday_calendar: str = "US-FRB"
    deadline_business_day: int = 5


@dataclass
class ReportPorts:
    queries: Queries
    catalog: Catalog
    store: ObjectStore
    register: ReportRegister
    control: EndOfDayControl
    bus: EventBus
    ops: Notifier
    metric: Callable[[str, float], None] = lambda name, value: None


@dataclass(frozen=True)
class Requirement:
    """What a report rests on: the fingerprint of its inputs, or what is missing."""

    fingerprint: str
    missing: list[str]
    reason: str
    inputs: dict[str, Any]


class Reporter:
    def __init__(self, config: ReportConfig, ports: ReportPorts) -> None:
        self.config = config
        self.ports = ports

    # ------------------------------------------------------------------ requirements
    def daily_requirement(self, day: date) -> Requirement:
        record = self.ports.control.get(day)
        if record is None or record.status != CLOSED:
            return Requirement("", [day.isoformat()], f"end of day {day} is not closed", {})
        if record.reconciliation != "OK":
            return Requirement(
                "", [day.isoformat()], f"end of day {day} did not reconcile ({record.reconciliation})", {}
            )
        summary = json.loads(self.ports.store.get(self.config.curated_bucket, record.summary_key).body)
        return Requirement(f"eod:{day}:v{record.version}:{record.digest}", [], "", {"end_of_day": summary})

    def _reports_requirement(self, ids: list[str]) -> Requirement:
        found = self.ports.register.many(ids)
        issued = {i: r for i, r in found.items() if r.status == ISSUED}
        missing = [i for i in ids if i not in issued]
        if missing:
            shown = ", ".join(m.split("#", 1)[1] for m in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            return Requirement(
                "", missing, f"{len(missing)} of {len(ids)} report(s) not issued: {shown}{more}", {}
            )
        included = {
            i: {
                "version": r.version,
                "manifest_sha256": r.detail.get("manifest_sha256"),
                "prefix": r.detail.get("prefix"),
            }
            for i, r in issued.items()
        }
        fingerprint = ";".join(f"{i}:v{r.version}" for i, r in sorted(issued.items()))
        return Requirement(fingerprint, [], "", {"included_reports": included})

    def weekly_requirement(self, saturday: date) -> Requirement:
        return self._reports_requirement([report_id(DAILY, d.isoformat()) for d in week_days(saturday)])

    def monthly_requirement(self, year: int, month: int) -> Requirement:
        ids = [report_id(DAILY, d.isoformat()) for d in month_days(year, month)]
        ids += [report_id(WEEKLY, d.isoformat()) for d in weeks_ending_in(year, month)]
        return self._reports_requirement(ids)

    def deadline(self, year: int, month: int) -> date:
        """The day the package of ``year-month`` is due: the configured business day of the next month."""
        nxt = date(year, month, 28) + timedelta(days=4)
        return holiday_calendar(self.config.holiday_calendar).nth_business_day(
            nxt.year, nxt.month, self.config.deadline_business_day
        )

    # ------------------------------------------------------------------ one run
    def run(
        self, kind: str, period: str, at: datetime, trigger: str, only_if_attempted: bool = False
    ) -> dict[str, Any]:
        """Issue (or re-issue, or refuse) the report of ``kind`` for ``period``. ``only_if_attempted``:
        an event-driven retry, which acts only on a report whose scheduled run has happened."""
        rid = report_id(kind, period)
        register = self.ports.register
        record = register.get(rid)
        if only_if_attempted and record is None:
            return {"status": "NOT_DUE", "report": kind, "period": period}
        requirement = self._requirement(kind, period)
        if requirement.missing:
            if record is not None and record.status == ISSUED:
                return {
                    "status": "KEPT",
                    "report": kind,
                    "period": period,
                    "version": record.version,
                    "reason": f"not re-issued: {requirement.reason}",
                }
            return self._blocked(kind, period, requirement, at, trigger)
        if record is not None and record.status == ISSUED and record.fingerprint == requirement.fingerprint:
            if not record.announced:
                self._announce(
                    kind,
                    json.loads(
                        self.ports.store.get(
                            self.config.curated_bucket, record.detail["prefix"] + "summary.json"
                        ).body
                    ),
                    record.version,
                )
            return {"status": "ALREADY_ISSUED", "report": kind, "period": period, "version": record.version}
        previous = record.version if record is not None and record.status == ISSUED else 0
        return self._issue(kind, period, requirement, previous + 1, trigger, record)

    def _requirement(self, kind: str, period: str) -> Requirement:
        if kind == DAILY:
            return self.daily_requirement(date.fromisoformat(period))
        if kind == WEEKLY:
            return self.weekly_requirement(date.fromisoformat(period))
        year, month = (int(x) for x in period.split("-"))
        return self.monthly_requirement(year, month)

    def _sections(self, kind: str, period: str) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
        cfg = self.config
        tables = self.ports.catalog.table_names()
        if kind == DAILY:
            specs = daily_sql(cfg.database, date.fromisoformat(period), cfg.time_zone)
        elif kind == WEEKLY:
            specs = weekly_sql(
                cfg.database, date.fromisoformat(period), cfg.time_zone, cfg.large_exposure_threshold, tables
            )
        else:
            year, month = (int(x) for x in period.split("-"))
            specs = monthly_sql(cfg.database, year, month)
        return run_sections(self.ports.queries.run, specs, tables)

    def _issue(
        self,
        kind: str,
        period: str,
        requirement: Requirement,
        version: int,
        trigger: str,
        record: ReportRecord | None,
    ) -> dict[str, Any]:
        cfg, p = self.config, self.ports
        sections, missing_tables = self._sections(kind, period)
        figures = (
            daily_summary(sections, requirement.inputs["end_of_day"])
            if kind == DAILY
            else weekly_summary(sections)
            if kind == WEEKLY
            else monthly_summary(sections)
        )
        extra: dict[str, list[dict[str, Any]]] = {}
        if kind == DAILY:
            checks = requirement.inputs["end_of_day"].get("reconciliation", {}).get("checks", {})
            extra["reconciliation_checks"] = [
                {"check": name, "passed": c.get("passed"), "breaks": c.get("breaks")}
                for name, c in checks.items()
            ]
        else:
            extra["included_reports"] = [
                {"report": i, "version": v["version"], "manifest_sha256": v["manifest_sha256"]}
                for i, v in sorted(requirement.inputs["included_reports"].items())
            ]
        sections = {**sections, **extra}
        prefix = report_prefix(kind, period, version)
        summary: dict[str, Any] = {
            "report": kind,
            "period": period,
            "version": version,
            "restated": version > 1,
            "supersedes": version - 1 if version > 1 else None,
            "time_zone": cfg.time_zone,
            "fingerprint": requirement.fingerprint,
            "missing_tables": missing_tables,
            "sections": sorted(sections),
            "location": {"bucket": cfg.curated_bucket, "prefix": prefix},
            **self._period_facts(kind, period),
            **figures,
        }
        files = package(sections, summary)
        for name, body in files.items():
            content = "application/json" if name.endswith(".json") else "text/csv"
            p.store.put(cfg.curated_bucket, prefix + name, body, content)
        summary = json.loads(files["summary.json"])
        rid = report_id(kind, period)
        fields = {
            "kind": kind,
            "period": period,
            "prefix": prefix,
            "manifest_sha256": sha256(files["manifest.json"]),
            "summary_sha256": sha256(files["summary.json"]),
            "trigger": trigger,
            "history": ((record.detail.get("history") or []) if record else [])
            + [{"version": version, "fingerprint": requirement.fingerprint, "trigger": trigger}],
        }
        if not p.register.record_issued(rid, version, requirement.fingerprint, fields):
            return {"status": "ALREADY_ISSUED", "report": kind, "period": period, "version": version}
        self._announce(kind, summary, version)
        return {
            "status": "ISSUED",
            "report": kind,
            "period": period,
            "version": version,
            "restated": version > 1,
            "location": summary["location"],
        }

    def _period_facts(self, kind: str, period: str) -> dict[str, Any]:
        tz = self.config.time_zone
        if kind == DAILY:
            start, end = business_window(date.fromisoformat(period), tz)
            return {"report_date": period, "window": {"start": start.isoformat(), "end": end.isoformat()}}
        if kind == WEEKLY:
            days = week_days(date.fromisoformat(period))
            return {"week_ending": period, "days": [d.isoformat() for d in days]}
        year, month = (int(x) for x in period.split("-"))
        return {
            "month": period,
            "deadline": self.deadline(year, month).isoformat(),
            "holiday_calendar": self.config.holiday_calendar,
        }

    def _announce(self, kind: str, summary: dict[str, Any], version: int) -> None:
        ready, _ = EVENTS[kind]
        detail = {k: v for k, v in summary.items() if k not in ("balances",)}
        self.ports.bus.put(ready, detail)
        self.ports.metric(ready, 1)
        if version > 1:
            self.ports.ops.notify(
                f"[{self.config.stage}] {kind} report {summary['period']} re-issued as v{version} (restated)",
                {
                    "report": kind,
                    "period": summary["period"],
                    "version": version,
                    "supersedes": version - 1,
                    "location": summary["location"],
                },
                "HIGH",
            )
        self.ports.register.mark_announced(report_id(kind, summary["period"]), version)

    def _blocked(
        self, kind: str, period: str, requirement: Requirement, at: datetime, trigger: str
    ) -> dict[str, Any]:
        _, blocked = EVENTS[kind]
        self.ports.register.record_blocked(
            report_id(kind, period), requirement.reason, requirement.missing, at
        )
        detail = {
            "report": kind,
            "period": period,
            "status": "BLOCKED",
            "reason": requirement.reason,
            "missing": requirement.missing,
            "trigger": trigger,
            "attempted_at": at.isoformat(),
            **self._period_facts(kind, period),
        }
        self.ports.ops.notify(
            f"[{self.config.stage}] {kind} report {period} blocked: {requirement.reason}"[:100],
            detail,
            "HIGH",
        )
        self.ports.bus.put(blocked, detail)
        self.ports.metric(blocked, 1)
        return detail

    # ------------------------------------------------------------------ the monthly deadline
    def check_deadline(self, today: date, at: datetime) -> dict[str, Any]:
        """Is last month's package issued? Overdue from its deadline day on: CRITICAL + metric."""
        year, month = (
            (today.replace(day=1) - timedelta(days=1)).year,
            (today.replace(day=1) - timedelta(days=1)).month,
        )
        period = f"{year}-{month:02d}"
        due = self.deadline(year, month)
        record = self.ports.register.get(report_id(MONTHLY, period))
        issued = record is not None and record.status == ISSUED
        overdue = not issued and today >= due
        detail = {
            "report": MONTHLY,
            "period": period,
            "deadline": due.isoformat(),
            "checked_at": at.isoformat(),
            "status": "ISSUED" if issued else ("OVERDUE" if overdue else "PENDING"),
            "reason": None if issued else (record.detail.get("reason") if record else "never attempted"),
        }
        self.ports.metric("MonthlyReportOverdue", 1 if overdue else 0)
        if overdue:
            self.ports.ops.notify(
                f"[{self.config.stage}] monthly regulatory package {period} overdue (due {due})",
                detail,
                "CRITICAL",
            )
            self.ports.bus.put(MONTHLY_REPORT_OVERDUE, detail)
        return detail


def now_utc() -> datetime:
    return datetime.now(UTC)


def last_week_end(day: date) -> date:
    """The Saturday of the latest reporting week that ended on or before ``day``'s close."""
    return day - timedelta(days=(day.weekday() - 5) % 7)


def reporter(settings: Any, metric: Callable[[str, float], None]) -> Reporter:
    """A Reporter on AWS for a report function's settings (``datapipe.banking.settings``)."""
    from datapipe.aws import AthenaQueries, EventBridgeBus, GlueCatalog, S3ObjectStore, SnsNotifier
    from datapipe.payloads import PayloadOffload

    store = S3ObjectStore()
    offload = PayloadOffload(store, settings.quarantine_bucket)
    config = ReportConfig(
        database=settings.glue_database,
        curated_bucket=settings.curated_bucket,
        time_zone=settings.business_time_zone,
        stage=settings.stage,
        large_exposure_threshold=getattr(settings, "large_exposure_threshold", Decimal(25000)),
        holiday_calendar=getattr(settings, "holiday_calendar", "US-FRB"),
        deadline_business_day=getattr(settings, "monthly_deadline_business_day", 5),
    )
    ports = ReportPorts(
        queries=AthenaQueries(settings.glue_database, settings.athena_workgroup),
        catalog=GlueCatalog(settings.glue_database),
        store=store,
        register=ReportRegister(settings.reports_table),
        control=EndOfDayControl(settings.eod_control_table),
        bus=EventBridgeBus(settings.event_bus_name, settings.event_source, offload),
        ops=SnsNotifier(settings.ops_topic_arn, offload),
        metric=metric,
    )
    return Reporter(config, ports)
