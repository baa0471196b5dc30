"""Daily and weekly reports: Athena SQL over the curated tables and the audit trail.

The daily report for day D covers what the pipeline took in on D: sales of the transactions
published on D (per store), fraud cases opened on D per severity, the quarantine rate of every
dataset received on D, and the stock-outs and low-stock crossings detected on D. Queries are in
Athena's (Trino) dialect; ``run_query`` executes one and returns rows as dicts.

Lack of data is a result, not an error: on a fresh stack the curated tables do not exist until
their first publish (Athena would fail with TABLE_NOT_FOUND), and a quiet day has no rows. A
section whose tables are not in the catalog is empty (and named in ``missing_tables``); a report
whose sections are all empty has ``status: NO_DATA`` and says why. The weekly report of a week
whose seven dailies all had no data is NO_DATA too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

RunQuery = Callable[[str], list[dict[str, Any]]]
READY = "READY"
NO_DATA = "NO_DATA"
AUDIT_TABLE = "pipeline_events"

DAILY_SQL: dict[str, str] = {
    "sales_per_store": """
        WITH published AS (
            SELECT DISTINCT json_extract_scalar(detail, '$.run_id') AS run_id
            FROM "{db}"."pipeline_events"
            WHERE detail_type = 'DatasetPublished' AND event_date = '{day}'
              AND json_extract_scalar(detail, '$.dataset') = 'transactions'
        )
        SELECT coalesce(t.store_id, 'ONLINE') AS store_id,
               count(*) AS transactions,
               CAST(sum(t.amount) AS DECIMAL(18, 2)) AS sales
        FROM "{db}"."transactions" t
        JOIN published p ON t.lineage_ingest_run_id = p.run_id
        GROUP BY 1
        ORDER BY 1
    """,
    "fraud_alerts_per_severity": """
        SELECT json_extract_scalar(detail, '$.severity') AS severity, count(*) AS cases
        FROM "{db}"."pipeline_events"
        WHERE detail_type = 'FraudCaseOpened' AND event_date = '{day}'
        GROUP BY 1
        ORDER BY 1
    """,
    "quarantine_rate_per_dataset": """
        WITH staged AS (  -- a file delivered or uploaded again is the same run: count it once
            SELECT DISTINCT json_extract_scalar(detail, '$.dataset') AS dataset,
                   json_extract_scalar(detail, '$.run_id') AS run_id,
                   CAST(json_extract_scalar(detail, '$.counts.rows_in') AS BIGINT) AS rows_in
            FROM "{db}"."pipeline_events"
            WHERE detail_type = 'DatasetStaged' AND event_date = '{day}'
        ),
        published AS (
            SELECT DISTINCT json_extract_scalar(detail, '$.run_id') AS run_id,
                   CAST(json_extract_scalar(detail, '$.rows_published') AS BIGINT) AS rows_published
            FROM "{db}"."pipeline_events"
            WHERE detail_type = 'DatasetPublished' AND event_date = '{day}'
        ),
        refused_files AS (
            SELECT json_extract_scalar(detail, '$.dataset') AS dataset, count(*) AS files
            FROM "{db}"."pipeline_events"
            WHERE detail_type = 'DatasetQuarantined' AND event_date = '{day}'
              AND json_extract_scalar(detail, '$.stage') = 'ingest'
              AND json_extract_scalar(detail, '$.reason_code') <> 'ALL_ROWS_REJECTED'
            GROUP BY 1
        )
        SELECT s.dataset,
               count(*) AS files_staged,
               coalesce(max(r.files), 0) AS files_refused,
               sum(s.rows_in) AS rows_in,
               sum(coalesce(p.rows_published, 0)) AS rows_published,
               sum(s.rows_in) - sum(coalesce(p.rows_published, 0)) AS rows_quarantined,
               round(1.0 - CAST(sum(coalesce(p.rows_published, 0)) AS DOUBLE)
                   / nullif(sum(s.rows_in), 0), 6) AS quarantine_rate
        FROM staged s
        LEFT JOIN published p ON s.run_id = p.run_id
        LEFT JOIN refused_files r ON s.dataset = r.dataset
        GROUP BY 1
        ORDER BY 1
    """,
    "stock_outs": """
        SELECT json_extract_scalar(detail, '$.store_id') AS store_id,
               count(*) AS low_stock_crossings,
               count_if(CAST(json_extract_scalar(detail, '$.on_hand') AS BIGINT) <= 0) AS stock_outs
        FROM "{db}"."pipeline_events"
        WHERE detail_type = 'LowStockDetected' AND event_date = '{day}'
        GROUP BY 1
        ORDER BY 1
    """,
}


def report_day(scheduled_time: str | datetime, days_back: int = 1) -> date:
    """The day a scheduled run reports on: the day before its trigger time (UTC)."""
    when = (
        scheduled_time
        if isinstance(scheduled_time, datetime)
        else datetime.fromisoformat(scheduled_time.replace("Z", "+00:00"))
    )
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    return when.date() - timedelta(days=days_back)


#: The tables each section reads (besides the database); a section whose tables are missing is empty.
SECTION_TABLES: dict[str, tuple[str, ...]] = {
    "sales_per_store": (AUDIT_TABLE, "transactions"),
    "fraud_alerts_per_severity": (AUDIT_TABLE,),
    "quarantine_rate_per_dataset": (AUDIT_TABLE,),
    "stock_outs": (AUDIT_TABLE,),
}


def daily_report(
    run_query: RunQuery, database: str, day: date, tables: set[str] | None = None
) -> dict[str, Any]:
    """Sections and summary of ``day``. ``tables``: the tables the catalog holds (None: assume
    all); sections that need a missing one are not queried."""
    sections: dict[str, list[dict[str, Any]]] = {}
    missing: set[str] = set()
    for name, sql in DAILY_SQL.items():
        absent = [t for t in SECTION_TABLES.get(name, ()) if tables is not None and t not in tables]
        missing.update(absent)
        sections[name] = [] if absent else run_query(sql.format(db=database, day=day.isoformat()))
    sales = sections["sales_per_store"]
    quarantine = sections["quarantine_rate_per_dataset"]
    summary: dict[str, Any] = {
        "report_date": day.isoformat(),
        "status": READY if any(sections.values()) else NO_DATA,
        "stores": len([r for r in sales if r["store_id"] != "ONLINE"]),
        "transactions": sum(int(r["transactions"]) for r in sales),
        "sales": str(sum((_decimal(r["sales"]) for r in sales), start=_decimal("0"))),
        "fraud_cases_by_severity": {
            r["severity"]: int(r["cases"]) for r in sections["fraud_alerts_per_severity"]
        },
        "quarantine_rate_by_dataset": {r["dataset"]: float(r["quarantine_rate"] or 0.0) for r in quarantine},
        "rows_in": sum(int(r["rows_in"] or 0) for r in quarantine),
        "rows_published": sum(int(r["rows_published"] or 0) for r in quarantine),
        "files_refused": sum(int(r["files_refused"] or 0) for r in quarantine),
        "low_stock_crossings": sum(int(r["low_stock_crossings"]) for r in sections["stock_outs"]),
        "stock_outs": sum(int(r["stock_outs"]) for r in sections["stock_outs"]),
        "missing_tables": sorted(missing),
    }
    if summary["status"] == NO_DATA:
        summary["reason"] = f"no data for {day.isoformat()}" + (
            f": table(s) {', '.join(sorted(missing))} not in {database} yet" if missing else ""
        )
    return {"summary": summary, "sections": sections}


def _decimal(value: Any) -> Any:
    from decimal import Decimal

    return Decimal(str(value)) if value is not None else Decimal("0")


def daily_key(day: date, name: str) -> str:
    return f"reports/daily/report_date={day.isoformat()}/{name}"


def weekly_key(week_ending: date, name: str) -> str:
    return f"reports/weekly/week_ending={week_ending.isoformat()}/{name}"


def week_days(week_ending: date) -> list[date]:
    return [week_ending - timedelta(days=i) for i in range(6, -1, -1)]


#: The numbers a daily summary must carry for the weekly report to add it up.
DAILY_FIELDS = ("transactions", "sales", "fraud_cases_by_severity", "rows_in", "rows_published", "stock_outs")


def read_daily_summary(body: bytes) -> dict[str, Any]:
    """A stored daily summary, or ValueError saying what is wrong with it."""
    try:
        summary = json.loads(body)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    if not isinstance(summary, dict):
        raise ValueError("not a JSON object")
    lacking = [f for f in DAILY_FIELDS if f not in summary]
    if lacking:
        raise ValueError(f"lacks {', '.join(lacking)}")
    return summary


def weekly_report(dailies: dict[date, dict[str, Any]], week_ending: date) -> dict[str, Any]:
    """Aggregates the seven daily summaries (the caller checked they all exist)."""
    from decimal import Decimal

    severities: dict[str, int] = {}
    for d in dailies.values():
        for sev, n in d["fraud_cases_by_severity"].items():
            severities[sev] = severities.get(sev, 0) + int(n)
    rows_in = sum(int(d["rows_in"]) for d in dailies.values())
    published = sum(int(d["rows_published"]) for d in dailies.values())
    no_data = all(d.get("status") == NO_DATA for d in dailies.values())
    report: dict[str, Any] = {
        "week_ending": week_ending.isoformat(),
        "status": NO_DATA if no_data else READY,
        "days": [d.isoformat() for d in sorted(dailies)],
        "transactions": sum(int(d["transactions"]) for d in dailies.values()),
        "sales": str(sum((Decimal(d["sales"]) for d in dailies.values()), start=Decimal("0"))),
        "fraud_cases_by_severity": severities,
        "rows_in": rows_in,
        "rows_published": published,
        "quarantine_rate": round(1 - published / rows_in, 6) if rows_in else 0.0,
        "stock_outs": sum(int(d["stock_outs"]) for d in dailies.values()),
        "daily_sales": {d.isoformat(): dailies[d]["sales"] for d in sorted(dailies)},
    }
    if no_data:
        report["reason"] = f"none of the seven daily reports ending {week_ending.isoformat()} had data"
    return report


def to_json(obj: Any) -> bytes:
    return json.dumps(obj, indent=2, default=str).encode()
