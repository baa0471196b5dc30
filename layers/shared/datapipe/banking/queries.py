"""The SQL end of day and its reports run (Athena's Trino dialect; DuckDB offline).

Every figure of a business day is selected by the records' own time: transactions by
``event_time`` inside the day's window (``calendar.business_window``), pruned on the UTC
``event_date`` partitions the window touches; balances by ``business_date``. Dates and times are
literals computed in Python (the window is exact on daylight-saving nights), never date
arithmetic in SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from datapipe.banking.calendar import business_window, partitions_touched

BALANCES_TABLE = "daily_balances"
FX_MAX_AGE_DAYS = 4  # a weekend and a holiday: the latest reference rate on or before the day


def ts(moment: datetime) -> str:
    """A UTC moment as an Athena timestamp literal (the curated timestamps are UTC)."""
    return f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]}'"


def _in(values: Iterable[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def in_window(day: date, tz: str, alias: str = "") -> str:
    """The WHERE condition selecting a business day's transactions."""
    start, end = business_window(day, tz)
    p = f"{alias}." if alias else ""
    parts = _in(d.isoformat() for d in partitions_touched(day, tz))
    return f"{p}event_date IN ({parts}) AND {p}event_time >= {ts(start)} AND {p}event_time < {ts(end)}"


def master_snapshot(db: str, day: date) -> str:
    """The account master as of ``day``: the earliest snapshot taken on or after it (a later one
    still describes the day: accounts carry their opened and closed dates)."""
    return f"""
        WITH snap AS (SELECT min(snapshot_day) AS d FROM "{db}"."accounts" WHERE snapshot_day >= '{day}')
        SELECT a.snapshot_date, a.account_id, a.customer_id, a.account_type, a.product_code, a.currency,
               a.opened_date, a.closed_date, a.credit_limit, a.balance_brought_forward
        FROM "{db}"."accounts" a JOIN snap ON a.snapshot_day = snap.d
        ORDER BY a.account_id
    """


def rates_feed(db: str, day: date) -> str:
    return f"""
        SELECT feed_date, product_code, annual_rate, day_count, effective_date
        FROM "{db}"."interest_rates"
        WHERE feed_day = '{day}'
        ORDER BY product_code, effective_date
    """


def postings(db: str, day: date, tz: str) -> str:
    """Per account and currency: the business day's published transactions (debit-positive)."""
    return f"""
        SELECT account_id, currency, count(*) AS transactions,
               sum(CASE WHEN amount > 0 THEN amount ELSE 0 END) AS debits,
               sum(CASE WHEN amount < 0 THEN -amount ELSE 0 END) AS credits
        FROM "{db}"."transactions"
        WHERE {in_window(day, tz)}
        GROUP BY account_id, currency
        ORDER BY account_id, currency
    """


def published_totals(db: str, day: date, tz: str) -> str:
    """Per currency: what was published for the business day (reconciliation's other side)."""
    return f"""
        SELECT currency, count(*) AS transactions,
               sum(CASE WHEN amount > 0 THEN amount ELSE 0 END) AS debits,
               sum(CASE WHEN amount < 0 THEN -amount ELSE 0 END) AS credits
        FROM "{db}"."transactions"
        WHERE {in_window(day, tz)}
        GROUP BY currency
        ORDER BY currency
    """


def fx_rates(db: str, day: date, currencies: Iterable[str]) -> str:
    """Units per USD of each currency: its latest rate on or before ``day`` (at most a few days old)."""
    oldest = day - timedelta(days=FX_MAX_AGE_DAYS)
    return f"""
        SELECT currency, units_per_usd, rate_date FROM (
            SELECT currency, units_per_usd, rate_date,
                   row_number() OVER (PARTITION BY currency ORDER BY rate_date DESC) AS newest
            FROM "{db}"."fx_rates"
            WHERE rate_day <= '{day}' AND rate_day >= '{oldest}' AND currency IN ({_in(sorted(currencies))})
        ) WHERE newest = 1
        ORDER BY currency
    """


def balances(db: str, day: date) -> str:
    return f"""
        SELECT account_id, customer_id, account_type, product_code, currency, opened_date, closed_date,
               opening_balance, transactions, debits, credits, movement, interest_accrued,
               accrued_interest_mtd, interest_credited, closing_balance, version
        FROM "{db}"."{BALANCES_TABLE}"
        WHERE business_date = '{day}'
        ORDER BY account_id
    """


def month_accruals(db: str, day: date) -> str:
    """Per account credited on ``day``: its accruals since the first of the month."""
    first = day.replace(day=1)
    return f"""
        SELECT m.account_id, sum(m.interest_accrued) AS accrued
        FROM "{db}"."{BALANCES_TABLE}" m
        WHERE m.business_date >= '{first}' AND m.business_date <= '{day}'
          AND m.account_id IN (
              SELECT account_id FROM "{db}"."{BALANCES_TABLE}"
              WHERE business_date = '{day}' AND interest_credited <> 0)
        GROUP BY m.account_id
        ORDER BY m.account_id
    """


def run_days(db: str, run_id: str, partitions: Iterable[str]) -> str:
    """The first and last event time of a published run's rows, per UTC partition (a late file's
    business days, in a zone whose day is not a UTC day)."""
    return f"""
        SELECT event_date, min(event_time) AS first_time, max(event_time) AS last_time, count(*) AS rows
        FROM "{db}"."transactions"
        WHERE event_date IN ({_in(partitions)}) AND lineage_ingest_run_id = '{run_id.replace("'", "''")}'
        GROUP BY event_date
        ORDER BY event_date
    """
