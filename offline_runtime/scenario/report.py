"""out/demo/report.html: one self-contained page about a demo day, charts as inline SVG.

Drawn by matplotlib (SVG backend, text kept as text, no external fonts, no script, no network)
from the summary ``offline_runtime.scenario.summary.build`` made: per-file decisions and quality
scores, rejects by rule, row conservation per dataset, fraud alerts by severity x subscriber,
low-stock crossings per store, end-of-day figures, the late deliveries and the alarms.
"""

from __future__ import annotations

import html
import io
from collections import Counter
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("svg")
import matplotlib.pyplot as plt

plt.rcParams.update({"svg.fonttype": "none", "font.size": 9, "svg.hashsalt": "datapipe"})

COLORS = {
    "publish": "#2e7d32",
    "enhanced_publish": "#f9a825",
    "gate_quarantine": "#c62828",
    "file_quarantine": "#6a1b9a",
    "failed": "#000000",
    "pending": "#9e9e9e",
}
SEVERITY_COLORS = {"CRITICAL": "#b71c1c", "HIGH": "#e65100", "MEDIUM": "#f9a825", "LOW": "#90a4ae"}
LABEL = {
    "publish": "published",
    "enhanced_publish": "published after enhanced validation",
    "gate_quarantine": "quarantined by the gate",
    "file_quarantine": "refused at ingest",
}


def _svg(fig: Any) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # inline: no XML prolog or DOCTYPE


def _empty(ax: Any, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def chart_decisions(summary: dict[str, Any]) -> str:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 2]})
    decisions = Counter(f["decision"] for f in summary["files"])
    names = sorted(decisions, key=lambda k: -decisions[k])
    left.barh(
        [LABEL.get(n, n) for n in names],
        [decisions[n] for n in names],
        color=[COLORS.get(n, "#555") for n in names],
    )
    left.invert_yaxis()
    left.set_xlabel("files")
    left.set_title("Decision per file")
    scored = [f for f in summary["files"] if f.get("score") is not None]
    for decision in sorted({f["decision"] for f in scored}):
        group = [(i, f["score"]) for i, f in enumerate(scored) if f["decision"] == decision]
        right.scatter(
            [i for i, _ in group],
            [s for _, s in group],
            s=14,
            color=COLORS.get(decision, "#555"),
            label=LABEL.get(decision, decision),
        )
    if scored:
        right.axhline(0.90, color="#2e7d32", linestyle="--", linewidth=0.8)
        right.axhline(0.75, color="#f9a825", linestyle="--", linewidth=0.8)
        right.set_ylim(min(0.5, min(f["score"] for f in scored) - 0.05), 1.01)
        right.legend(loc="lower left", fontsize=7)
        right.set_xlabel("file (in upload order)")
        right.set_ylabel("quality score")
    else:
        _empty(right, "no file was scored")
    right.set_title("Quality score per file (publish 0.90, enhanced 0.75)")
    return _svg(fig)


def chart_rejects(summary: dict[str, Any]) -> str:
    rejects = list(summary["rejects_by_rule"].items())[:12]
    fig, ax = plt.subplots(figsize=(10, 0.35 * max(len(rejects), 3) + 1))
    if rejects:
        ax.barh([r for r, _ in rejects], [n for _, n in rejects], color="#c62828")
        ax.invert_yaxis()
        ax.set_xlabel("rows rejected")
    else:
        _empty(ax, "no row was rejected")
    ax.set_title("Rows rejected at ingest, by rule")
    return _svg(fig)


def chart_conservation(summary: dict[str, Any]) -> str:
    data = summary["conservation"]
    fig, ax = plt.subplots(figsize=(10, 2.8))
    names = list(data)
    published = [data[n]["published"] for n in names]
    quarantined = [data[n]["quarantined"] for n in names]
    ax.barh(names, published, color="#2e7d32", label="published")
    ax.barh(names, quarantined, left=published, color="#c62828", label="quarantined")
    for i, n in enumerate(names):
        ax.plot([data[n]["rows_in"]] * 2, [i - 0.4, i + 0.4], color="black", linewidth=1.5)
    ax.set_xlabel("rows (black mark: rows in)")
    ax.set_title("Row conservation per dataset: in = published + quarantined")
    ax.legend(loc="lower right", fontsize=7)
    return _svg(fig)


def chart_fraud(summary: dict[str, Any]) -> str:
    fraud = summary["fraud"]
    fig, ax = plt.subplots(figsize=(10, 3))
    labels = list(fraud)
    left = [0] * len(labels)
    for severity, color in SEVERITY_COLORS.items():
        values = [fraud[label][severity] for label in labels]
        ax.barh(labels, values, left=left, color=color, label=severity)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("alerts delivered")
    ax.set_title("Fraud alerts by severity x subscriber (subscription filter policies)")
    ax.legend(loc="lower right", fontsize=7, ncol=4)
    return _svg(fig)


def chart_low_stock(summary: dict[str, Any]) -> str:
    by_store = summary["inventory"]["low_stock_by_store"]
    fig, ax = plt.subplots(figsize=(10, 2.6))
    if by_store:
        ax.bar(list(by_store), list(by_store.values()), color="#1565c0")
        ax.tick_params(axis="x", labelrotation=90, labelsize=6)
        ax.set_ylabel("crossings")
    else:
        _empty(ax, "no item crossed its reorder point")
    ax.set_title(
        f"Low-stock crossings per store ({summary['inventory']['low_stock']} crossings, "
        f"{summary['inventory']['purchase_orders']} purchase orders)"
    )
    return _svg(fig)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


STYLE = """
body{font-family:sans-serif;margin:24px;color:#212121;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ccc}
.chart svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}
.ok{color:#2e7d32}.bad{color:#c62828;font-weight:bold}.kpi{display:inline-block;margin-right:24px}
"""


def render(summary: dict[str, Any]) -> str:
    t = summary["totals"]
    charts = {
        "decisions": ("Per-file decisions and quality scores", chart_decisions(summary)),
        "rejects": ("Rejects by rule", chart_rejects(summary)),
        "conservation": ("Row conservation", chart_conservation(summary)),
        "fraud": ("Fraud alerts", chart_fraud(summary)),
        "low-stock": ("Low-stock crossings", chart_low_stock(summary)),
    }
    adds = '<span class="ok">adds up</span>' if t["adds_up"] else '<span class="bad">DOES NOT ADD UP</span>'
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Pipeline run report {html.escape(summary['day'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Business day {html.escape(summary['day'])}: {t['files']} files "
        f"from {summary['stores']} stores</h1>",
        f'<p><span class="kpi">rows in <b>{t["rows_in"]:,}</b></span>'
        f'<span class="kpi">published <b>{t["published"]:,}</b></span>'
        f'<span class="kpi">quarantined <b>{t["quarantined"]:,}</b></span>{adds}</p>',
    ]
    if summary["withheld"]:
        parts.append(
            f"<p>Withheld on purpose (freshness demo): {html.escape(', '.join(summary['withheld']))}</p>"
        )
    for anchor, (title, svg) in charts.items():
        parts.append(f'<h2>{html.escape(title)}</h2><div class="chart" id="chart-{anchor}">{svg}</div>')
    parts.append("<h2>Late deliveries (freshness checker)</h2>")
    late_rows = [
        [
            d["dataset"],
            d["business_day"],
            f"{d['sources_late']} of {d['sources_expected']}",
            ", ".join(s["source"] for s in d["late"]),
        ]
        for d in summary["late"]
    ]
    parts.append(
        _table(["dataset", "business day", "late sources", "which"], late_rows)
        if late_rows
        else "<p>none</p>"
    )
    parts.append("<h2>SLA: arrival to published (seconds)</h2>")
    parts.append(
        _table(
            ["dataset", "files", "p95", "max"],
            [[k, v["count"], v["p95"], v["max"]] for k, v in summary["sla_seconds"].items()],
        )
    )
    daily = summary["daily_report"]
    parts.append("<h2>End-of-day figures</h2>")
    if daily:
        rows = [
            [k, v] for k, v in daily.items() if k not in ("location",) and not isinstance(v, (dict, list))
        ]
        if daily.get("rows_in"):
            rows.append(
                ["rows rejected at ingest", f"{int(daily.get('rows_rejected') or 0) / daily['rows_in']:.2%}"]
            )
        rows += [[f"fraud cases {k}", v] for k, v in daily.get("fraud_cases_by_severity", {}).items()]
        parts.append(_table(["figure", "value"], rows))
    else:
        parts.append("<p>no daily report this run</p>")
    parts.append("<h2>Alarms (evaluated on the day's metric data)</h2>")
    alarm_rows = [
        [
            a["state"],
            a["severity"],
            a["name"],
            "" if a["value"] is None else f"{a['value']:g}",
            f"{a['threshold']:g}",
        ]
        for a in sorted(summary["alarms"], key=lambda a: (a["state"] != "ALARM", a["state"], a["name"]))
    ]
    parts.append(_table(["state", "severity", "alarm", "worst value", "threshold"], alarm_rows))
    parts.append("<h2>Files</h2>")
    file_rows = [
        [
            f["key"],
            LABEL.get(f["decision"], f["decision"]),
            f["rows_in"],
            f["published"],
            f["quarantined_rows"],
            "" if f.get("score") is None else f"{f['score']:.3f}",
            "; ".join(f"{r} x{n}" for r, n in f.get("top_rejects", [])),
        ]
        for f in summary["files"]
    ]
    parts.append(
        _table(["file", "decision", "rows in", "published", "quarantined", "score", "top rejects"], file_rows)
    )
    if summary["problems"]:
        parts.append(
            '<h2 class="bad">Unexpected</h2><ul>'
            + "".join(f"<li>{html.escape(p)}</li>" for p in summary["problems"])
            + "</ul>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def write(summary: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(summary), encoding="utf-8")
    return path
