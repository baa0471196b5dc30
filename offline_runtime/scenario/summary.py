"""What a demo day came to, as one JSON-able summary, and its one-screen console rendering.

``build`` gathers the day's outcome from what the run observed (per-file outcomes, the bus's events,
the SNS outbox, the handlers' metrics as CloudWatch got them, the alarms evaluated on those
metrics); ``console_lines`` renders it in at most ``MAX_CONSOLE_LINES`` lines: totals, the
exceptions (only the files that were not simply published, and the late deliveries), fraud,
inventory, reports, alarms and where the report is. Everything else goes to summary.json and the
HTML report (``offline_runtime.scenario.report``).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Any

from offline_runtime.scenario.alarms import ALARM, NO_DATA, OK, AlarmVerdict

MAX_CONSOLE_LINES = 40
MAX_EXCEPTION_LINES = 8
SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
DECISION_LABEL = {
    "publish": "published",
    "enhanced_publish": "published after enhanced validation",
    "gate_quarantine": "quarantined by the quality gate",
    "file_quarantine": "refused at ingest",
}


def _p95(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def build(
    *,
    day: date,
    stores: int,
    files: Iterable[Mapping[str, Any]],
    events: list[dict[str, Any]],
    fraud: Mapping[str, Mapping[str, int]],
    metrics: Iterable[Any],
    alarms: list[AlarmVerdict],
    ops_alerts: list[dict[str, Any]],
    withheld: list[str],
    problems: list[str],
    elapsed_s: float,
    out_dir: Path,
) -> dict[str, Any]:
    """The day as data (what summary.json holds and the report draws)."""
    per_file = [dict(f) for f in files]
    for f in per_file:
        f["dataset"] = f["key"].split("/", 1)[0]
        f["adds_up"] = (
            f["decision"] == "file_quarantine" or f["rows_in"] == f["published"] + f["quarantined_rows"]
        )
    rows_in = sum(f["rows_in"] for f in per_file)
    published = sum(f["published"] for f in per_file)
    quarantined = sum(f["quarantined_rows"] for f in per_file)
    conservation: dict[str, Counter[str]] = defaultdict(Counter)
    for f in per_file:
        conservation[f["dataset"]].update(
            {"rows_in": f["rows_in"], "published": f["published"], "quarantined": f["quarantined_rows"]}
        )
    rejects: Counter[str] = Counter()
    latest: dict[str, dict[str, Any]] = {}
    for e in events:
        if e["detail-type"] == "DatasetStaged":
            latest[e["detail"]["source"]["key"]] = e["detail"]
    for detail in latest.values():
        for reason in detail.get("top_reject_reasons", []):
            rejects[reason["reason"]] += int(reason["rows"])
    kinds = Counter(e["detail-type"] for e in events)
    details = defaultdict(list)
    for e in events:
        details[e["detail-type"]].append(e["detail"])
    applied: Counter[str] = Counter()
    for a in details["InventoryMovementsApplied"]:
        applied.update({k: a[k] for k in ("movements", "applied", "duplicates", "unknown")})
    replayed = [a for a in details["InventoryMovementsApplied"] if a["applied"] == 0 and a["duplicates"] > 0]
    low_by_store = Counter(d["store_id"] for d in details["LowStockDetected"])
    latency: dict[str, list[float]] = defaultdict(list)
    for point in metrics:
        if point.name == "ArrivalToPublishedSeconds":
            latency[point.dimensions.get("dataset", "?")] += list(point.values)
    realtime = [c for c in details["FraudCaseOpened"] if str(c.get("transaction_id", "")).startswith("RT")]
    ops_by_severity = Counter(
        a.get("MessageAttributes", {}).get("severity", {}).get("Value", "?") for a in ops_alerts
    )
    return {
        "day": day.isoformat(),
        "stores": stores,
        "withheld": withheld,
        "totals": {
            "files": len(per_file),
            "rows_in": rows_in,
            "published": published,
            "quarantined": quarantined,
            "adds_up": rows_in == published + quarantined,
        },
        "decisions": dict(Counter(f["decision"] for f in per_file)),
        "conservation": {k: dict(v) for k, v in sorted(conservation.items())},
        "rejects_by_rule": dict(rejects.most_common()),
        "late": details["DatasetLate"],
        "sla_seconds": {
            k: {"count": len(v), "p95": round(_p95(v), 3), "max": round(max(v), 3)}
            for k, v in sorted(latency.items())
        },
        "fraud": {label: {s: int(c.get(s, 0)) for s in SEVERITIES} for label, c in fraud.items()},
        "fraud_realtime": [
            {"severity": c["severity"], "rules": c.get("rules", [])} for c in realtime
        ],  # no transaction, card or account id: the summary is shown and shared
        "inventory": {
            **dict(applied),
            "low_stock": kinds["LowStockDetected"],
            "purchase_orders": kinds["PurchaseOrderCreated"],
            "replayed_duplicates": replayed[0]["duplicates"] if replayed else 0,
            "low_stock_by_store": dict(sorted(low_by_store.items())),
        },
        "daily_report": details["DailyReportReady"][0] if details["DailyReportReady"] else None,
        "weekly_report": (
            {"status": "BLOCKED", **details["WeeklyReportBlocked"][0]}
            if details["WeeklyReportBlocked"]
            else (details["WeeklyReportReady"] or [None])[0]
        ),
        "alarms": [a.to_dict() for a in alarms],
        "ops_alerts": dict(ops_by_severity),
        "files": per_file,
        "problems": problems,
        "elapsed_s": round(elapsed_s, 1),
        "outputs": {
            "report": str(out_dir / "report.html"),
            "summary": str(out_dir / "summary.json"),
            "details": str(out_dir / "details.txt"),
        },
    }


def _short(key: str) -> str:
    return key.rsplit("/", maxsplit=1)[-1]


def _exceptions(summary: dict[str, Any]) -> list[str]:
    out = []
    for f in sorted(summary["files"], key=lambda x: (x["decision"], x["key"])):
        if f["decision"] == "publish" and f["decision"] == f["expect"] and f["adds_up"]:
            continue
        mark = "  " if f["decision"] == f["expect"] and f["adds_up"] else "!!"
        score = f" score {f['score']:.3f}" if f.get("score") is not None else ""
        why = f": {f['reason'][:70]}" if f.get("reason") else ""
        decision = DECISION_LABEL.get(f["decision"], f["decision"])
        out.append(f"  {mark} {f['dataset']}/{_short(f['key'])}: {decision}{score}{why}")
    if len(out) > MAX_EXCEPTION_LINES:
        hidden = len(out) - MAX_EXCEPTION_LINES + 1
        out = [*out[: MAX_EXCEPTION_LINES - 1], f"  ... {hidden} more in summary.json"]
    for late in summary["late"]:
        sources = ", ".join(f"{s['source']} ({s['reason']})" for s in late["late"][:4])
        more = late["sources_late"] - min(4, len(late["late"]))
        out.append(
            f"  late {late['dataset']} {late['business_day']}: {late['sources_late']} of "
            f"{late['sources_expected']} sources after {late['due_at'][11:16]} UTC: {sources}"
            + (f" +{more}" if more > 0 else "")
            + " -> DatasetLate"
        )
    return out


def console_lines(summary: dict[str, Any]) -> list[str]:
    t = summary["totals"]
    d = Counter(summary["decisions"])
    lines = [
        "",
        f"== business day {summary['day']}: {t['files']} files from {summary['stores']} stores"
        + (f" ({', '.join(_short(k) for k in summary['withheld'])} withheld)" if summary["withheld"] else "")
        + " ==",
        f"rows       {t['rows_in']:,} in = {t['published']:,} published + {t['quarantined']:,} quarantined "
        f"({'adds up' if t['adds_up'] else 'DOES NOT ADD UP'})",
        "files      " + ", ".join(f"{n} {DECISION_LABEL.get(k, k)}" for k, n in d.most_common()),
        "exceptions",
        *_exceptions(summary),
    ]
    top = list(summary["rejects_by_rule"].items())[:3]
    if top:
        lines.append("rejects    " + ", ".join(f"{r} x{n:,}" for r, n in top))
    if summary["sla_seconds"]:
        lines.append(
            "SLA        arrival -> published p95: "
            + ", ".join(f"{k} {v['p95']:.1f} s" for k, v in summary["sla_seconds"].items())
        )
    lines.append("fraud      " + f"{'subscriber':31}" + "".join(f"{s:>9}" for s in SEVERITIES))
    for label, counts in summary["fraud"].items():
        lines.append(f"           {label[:31]:31}" + "".join(f"{counts[s]:>9}" for s in SEVERITIES))
    if summary["fraud_realtime"]:
        lines.append(
            f"           real-time: {len(summary['fraud_realtime'])} alerts ("
            + ", ".join(f"{c['severity']} {'+'.join(c['rules'])}" for c in summary["fraud_realtime"])[:80]
            + ")"
        )
    inv = summary["inventory"]
    lines.append(
        f"inventory  movements {inv.get('movements', 0):,}: applied {inv.get('applied', 0):,}, "
        f"unknown {inv.get('unknown', 0):,}; low stock {inv['low_stock']}, "
        f"purchase orders {inv['purchase_orders']}; "
        f"replay: {inv['replayed_duplicates']:,} recognised as duplicates"
    )
    daily = summary["daily_report"]
    if daily:
        rows_in, rejected = int(daily.get("rows_in") or 0), int(daily.get("rows_rejected") or 0)
        rate = f"{rejected / rows_in:.2%} of {rows_in:,} rows" if rows_in else "-"
        sales = ", ".join(f"{c} {v}" for c, v in daily.get("sales_by_currency", {}).items()) or "-"
        lines.append(
            f"reports    daily {daily.get('report_date', '?')}: "
            f"{daily.get('transactions', 0):,} transactions, sales {sales}; rows rejected {rate}"[:110]
        )
    weekly = summary["weekly_report"]
    if weekly:
        lines.append(
            f"           weekly: {weekly.get('status', '')}: {weekly.get('reason', '')}"[:110].rstrip()
        )
    states = Counter(a["state"] for a in summary["alarms"])
    fired = [a for a in summary["alarms"] if a["state"] == ALARM]
    lines.append(
        f"alarms     {len(summary['alarms'])} defined: {states[ALARM]} fired, "
        f"{states[OK]} OK on the day's metrics, "
        f"{states[NO_DATA]} without data offline (AWS service metrics)"
    )
    for a in fired[:4]:
        value = "" if a["value"] is None else f" ({a['value']:g} > {a['threshold']:g})"
        lines.append(f"           {a['severity']:8} {a['name']}{value}")
    if summary["ops_alerts"]:
        lines.append(
            "ops topic  "
            + ", ".join(f"{k} {v}" for k, v in sorted(summary["ops_alerts"].items()))
            + " alerts"
        )
    out = summary["outputs"]
    lines.append(f"report     {out['report']}")
    lines.append(f"details    {out['summary']} (per file), {out['details']} (full log)")
    lines.append(f"done in {summary['elapsed_s']:.1f}s")
    return lines  # a normal day fits MAX_CONSOLE_LINES (tested); an unusual one says all it has
