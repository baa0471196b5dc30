"""What a run costs on AWS: the metered usage (``emulator.metering``) times the dated price table.

Pure arithmetic on a usage record (JSON), so a fixed record gives dollars a test can compute by
hand. Per line: the service, what was counted, the count, the unit price and the dollars; then per
service, the total, dollars per million rows beside the target, what the same checks would cost as
AWS Glue Data Quality runs (one evaluation run per file, at its minimum billing), and the gate state
machine priced as Standard and as Express from the same day's counts.

Not in the per-row figure (fixed monthly costs, independent of the rows): custom metrics, alarms,
dashboards, the Lambda pollers' empty long polls on each SQS event source, S3 storage, KMS keys.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from offline_runtime.bench import runs

PRICES = Path(__file__).with_name("prices_us_east_1.json")
TARGET_USD_PER_MILLION_ROWS = 0.10
PEOPLE_PROTOCOLS = ("sms", "email", "email-json")  # SNS deliveries to people: a cost per alert, not per row
GB = 1024**3


def load_prices(path: Path = PRICES) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _price(prices: dict[str, Any], key: str) -> float:
    return float(prices["prices"][key]["usd"])


def _billing(prices: dict[str, Any], key: str) -> float:
    return float(prices["billing"][key]["value"])


def _line(service: str, item: str, count: float, unit: str, unit_usd: float) -> dict[str, Any]:
    return {
        "service": service,
        "item": item,
        "count": round(count, 6),
        "unit": unit,
        "unit_usd": unit_usd,
        "usd": count * unit_usd,
    }


def lines(usage: dict[str, Any], prices: dict[str, Any]) -> list[dict[str, Any]]:
    """Every priced count of the usage record, one line each."""
    out: list[dict[str, Any]] = []
    gb_s: dict[str, float] = defaultdict(float)
    invocations = 0
    log_bytes = 0
    for fn in usage.get("lambda", {}).values():
        gb_s[fn["architecture"]] += fn["memory_mb"] / 1024 * fn["billed_ms"] / 1000
        invocations += fn["invocations"]
        log_bytes += fn["log_bytes"]
    for arch, seconds in sorted(gb_s.items()):
        out.append(
            _line("Lambda", f"duration {arch}", seconds, "GB-s", _price(prices, f"lambda.gb_second.{arch}"))
        )
    out.append(_line("Lambda", "requests", invocations, "request", _price(prices, "lambda.request")))
    for logical, sm in sorted(usage.get("step_functions", {}).items()):
        out += step_functions_lines(logical, sm, prices, sm.get("type", "STANDARD"))
    units = usage.get("units", {})
    for cls in ("tier1", "tier2"):
        label = {"tier1": "PUT/COPY/POST/LIST", "tier2": "GET/HEAD/other"}[cls]
        out.append(_line("S3", label, units.get(f"s3.{cls}", 0), "request", _price(prices, f"s3.{cls}")))
    out.append(
        _line("DynamoDB", "write request units", units.get("ddb.wru", 0), "WRU", _price(prices, "ddb.wru"))
    )
    out.append(
        _line("DynamoDB", "read request units", units.get("ddb.rru", 0), "RRU", _price(prices, "ddb.rru"))
    )
    out.append(
        _line(
            "SNS",
            "publishes (64 KB chunks)",
            units.get("sns.publish_chunks", 0),
            "chunk",
            _price(prices, "sns.publish_chunk"),
        )
    )
    for protocol, n in sorted(usage.get("sns_deliveries", {}).items()):
        key = f"sns.delivery.{protocol}"
        if key in prices["prices"]:
            out.append(_line("SNS", f"{protocol} deliveries", n, "delivery", _price(prices, key)))
    out.append(
        _line(
            "SQS",
            "requests (64 KB chunks)",
            units.get("sqs.requests", 0),
            "request",
            _price(prices, "sqs.request"),
        )
    )
    out.append(
        _line(
            "EventBridge",
            "custom events (64 KB chunks)",
            units.get("events.custom_chunks", 0),
            "event",
            _price(prices, "events.custom_event"),
        )
    )
    ingested = log_bytes + units.get("logs.ingested_bytes", 0)
    out.append(_line("CloudWatch", "log ingestion", ingested / GB, "GB", _price(prices, "logs.ingested_gb")))
    out.append(
        _line(
            "CloudWatch",
            "API requests",
            units.get("cloudwatch.requests", 0),
            "request",
            _price(prices, "cloudwatch.request"),
        )
    )
    out.append(
        _line(
            "Glue",
            "Data Catalog requests",
            units.get("glue.catalog_requests", 0),
            "request",
            _price(prices, "glue.catalog_request"),
        )
    )
    queries = units.get("athena.queries", 0)
    scanned_tb = queries * _billing(prices, "athena.min_mb_per_query") / 1024**2
    out.append(
        _line(
            "Athena",
            f"{queries:g} queries at the 10 MB minimum",
            scanned_tb,
            "TB",
            _price(prices, "athena.tb_scanned"),
        )
    )
    out.append(
        _line("KMS", "requests", units.get("kms.requests", 0), "request", _price(prices, "kms.request"))
    )
    return out


def step_functions_lines(
    logical: str, sm: dict[str, Any], prices: dict[str, Any], as_type: str
) -> list[dict[str, Any]]:
    """A state machine's executions priced as ``STANDARD`` (transitions) or ``EXPRESS``
    (requests + duration in 64 MB chunks, rounded up to 100 ms)."""
    name = "Step Functions"
    if as_type == "EXPRESS":
        step = _billing(prices, "sfn.express.step_ms")
        memory_gb = _billing(prices, "sfn.express.memory_chunk_mb") / 1024
        billed_s = sum(math.ceil(d / step) * step for d in sm.get("durations_ms", [])) / 1000
        return [
            _line(
                name, "Express requests", sm["executions"], "request", _price(prices, "sfn.express.request")
            ),
            _line(
                name,
                "Express duration (64 MB)",
                billed_s * memory_gb,
                "GB-s",
                _price(prices, "sfn.express.gb_second"),
            ),
        ]
    return [
        _line(
            name,
            "Standard state transitions",
            sm["transitions"],
            "transition",
            _price(prices, "sfn.standard.transition"),
        )
    ]


def glue_data_quality(files: int, prices: dict[str, Any]) -> dict[str, Any]:
    """The same checks as Glue Data Quality evaluation runs: one per file, each at its minimum."""
    dpus, minutes = _billing(prices, "glue_dq.min_dpus"), _billing(prices, "glue_dq.min_minutes")
    per_run = dpus * minutes / 60 * _price(prices, "glue_dq.dpu_hour")
    return {"runs": files, "dpus": dpus, "minutes": minutes, "usd_per_run": per_run, "usd": files * per_run}


def per_million(usd: float, rows: int) -> float | None:
    return usd / rows * 1_000_000 if rows else None


def checks_cost(
    usage: dict[str, Any], prices: dict[str, Any], functions: tuple[str, ...], machines: tuple[str, ...]
) -> float:
    """What our own checks cost: the named functions (duration + requests) and state machines as
    deployed, the part of the bill Glue Data Quality would replace."""
    usd = 0.0
    for fn in usage.get("lambda", {}).values():
        if fn["logical_id"] in functions:
            gb_s = fn["memory_mb"] / 1024 * fn["billed_ms"] / 1000
            usd += gb_s * _price(prices, f"lambda.gb_second.{fn['architecture']}")
            usd += fn["invocations"] * _price(prices, "lambda.request")
    for logical, sm in usage.get("step_functions", {}).items():
        if logical in machines:
            usd += sum(
                x["usd"] for x in step_functions_lines(logical, sm, prices, sm.get("type", "STANDARD"))
            )
    return usd


def report(
    usage: dict[str, Any],
    rows: int,
    files: int,
    prices: dict[str, Any] | None = None,
    checks: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """The day's bill: lines, per service, total, $/million rows, Glue DQ, Standard vs Express."""
    prices = prices or load_prices()
    priced = lines(usage, prices)
    by_service: dict[str, float] = defaultdict(float)
    for line in priced:
        by_service[line["service"]] += line["usd"]
    total = sum(by_service.values())
    notices = [x for x in priced if x["service"] == "SNS" and x["item"].split()[0] in PEOPLE_PROTOCOLS]
    notified = sum(x["usd"] for x in notices)
    deliveries = int(sum(x["count"] for x in notices))
    glue = glue_data_quality(files, prices)
    if checks is not None:  # (functions, state machines) doing the checks Glue DQ would do
        ours = checks_cost(usage, prices, *checks)
        glue["ours_usd"] = ours
        glue["ours_usd_per_million_rows"] = per_million(ours, rows)
        glue["ours_functions"], glue["ours_state_machines"] = list(checks[0]), list(checks[1])
    gate = {}
    for logical, sm in sorted(usage.get("step_functions", {}).items()):
        standard = sum(x["usd"] for x in step_functions_lines(logical, sm, prices, "STANDARD"))
        express = sum(x["usd"] for x in step_functions_lines(logical, sm, prices, "EXPRESS"))
        as_deployed = standard if sm.get("type", "STANDARD") == "STANDARD" else express
        gate[logical] = {
            "type": sm.get("type", "STANDARD"),
            "executions": sm["executions"],
            "transitions": sm["transitions"],
            "max_duration_ms": sm.get("max_duration_ms", 0.0),
            "standard_usd": standard,
            "express_usd": express,
            "day_total_if_express_usd": total - as_deployed + express,
            "day_total_if_standard_usd": total - as_deployed + standard,
        }
    return {
        "region": prices["region"],
        "prices_as_of": prices["as_of"],
        "price_table": str(PRICES.name),
        "rows": rows,
        "files": files,
        "total_usd": total,
        "usd_per_million_rows": per_million(total, rows),
        "target_usd_per_million_rows": TARGET_USD_PER_MILLION_ROWS,
        "notifications": {  # priced per message sent to people, not per row
            "usd": notified,
            "deliveries": deliveries,
            "usd_per_delivery": notified / deliveries if deliveries else None,
            "rest_usd_per_million_rows": per_million(total - notified, rows),
        },
        "by_service": {
            k: {"usd": v, "usd_per_million_rows": per_million(v, rows)}
            for k, v in sorted(by_service.items(), key=lambda kv: -kv[1])
        },
        "lines": priced,
        "glue_data_quality": {**glue, "usd_per_million_rows": per_million(glue["usd"], rows)},
        "state_machines": gate,
        "dynamodb_by_table": dynamodb_tables(usage, prices, rows),
        "not_counted": (
            "fixed monthly costs (custom metrics, alarms, dashboards, SQS event-source pollers' empty "
            "long polls, S3 storage, KMS keys), free tiers, data transfer; Athena bytes at the 10 MB "
            "per-query minimum; Lambda durations measured on this machine (in-process, shared imports)"
        ),
        "usage": usage,
    }


def dynamodb_tables(usage: dict[str, Any], prices: dict[str, Any], rows: int) -> dict[str, Any]:
    """DynamoDB's units and dollars per table (which state costs what per row)."""
    out = {}
    for table, u in (usage.get("dynamodb_by_table") or {}).items():
        spent = u.get("wru", 0) * _price(prices, "ddb.wru") + u.get("rru", 0) * _price(prices, "ddb.rru")
        out[table] = {**u, "usd": spent, "usd_per_million_rows": per_million(spent, rows)}
    return out


def usd(value: float | None) -> str:
    """Dollars, with more decimals for the small ones (a day's line items are fractions of a cent)."""
    if value is None:
        return "-"
    if value >= 10:
        return f"${value:.2f}"
    return f"${value:.4f}" if value >= 0.01 else f"${value:.6f}"


def _short(table: str) -> str:
    """A physical table name without the stack's prefix and CloudFormation's suffix."""
    parts = table.split("-")
    return parts[-2] if len(parts) >= 3 else table


def console_lines(bill: dict[str, Any]) -> list[str]:
    """The bill on a few console lines (target printed beside the figure, never asserted)."""
    rows = bill["rows"]
    per_m = bill["usd_per_million_rows"]
    target = bill["target_usd_per_million_rows"]
    verdict = "" if per_m is None else ("  (meets the target)" if per_m <= target else "  (ABOVE the target)")
    head = f"{usd(bill['total_usd'])} for {rows:,} rows in {bill['files']} files"
    out = [
        f"AWS cost of the day ({bill['region']}, list prices {bill['price_table']}): {head}",
        f"  {usd(per_m)} per million rows, target <= ${target:.2f}{verdict}",
    ]
    shares = ", ".join(
        f"{name} {usd(v['usd_per_million_rows'])}" for name, v in bill["by_service"].items() if v["usd"] > 0
    )
    out.append(f"  per million rows: {shares}")
    notices = bill.get("notifications")
    if notices and notices["deliveries"]:
        out.append(
            f"  of which notifications to people (SMS, e-mail): {usd(notices['usd'])} for "
            f"{notices['deliveries']:,} deliveries ({usd(notices['usd_per_delivery'])} each, per alert); "
            f"everything else {usd(notices['rest_usd_per_million_rows'])} per million rows"
        )
    tables = sorted((bill.get("dynamodb_by_table") or {}).items(), key=lambda kv: -kv[1]["usd"])
    if tables:
        out.append(
            "  DynamoDB by table: "
            + ", ".join(
                f"{_short(name)} {usd(t['usd_per_million_rows'])}/M "
                f"({t['wru']:,.0f} WRU, {t['rru']:,.0f} RRU, {t['requests']:,.0f} requests)"
                for name, t in tables[:4]
                if t["usd"] > 0
            )
        )
    glue = bill["glue_data_quality"]
    out.append(
        f"  same checks as AWS Glue Data Quality: {glue['runs']} runs x {usd(glue['usd_per_run'])} "
        f"(minimum {glue['dpus']:g} DPU x {glue['minutes']:g} min) = {usd(glue['usd'])}, "
        f"{usd(glue['usd_per_million_rows'])} per million rows"
    )
    if "ours_usd" in glue:
        out.append(
            f"    vs our checks (ingest + gate functions + state machine): {usd(glue['ours_usd'])}, "
            f"{usd(glue['ours_usd_per_million_rows'])} per million rows"
        )
    for logical, sm in bill["state_machines"].items():
        out.append(
            f"  {logical} ({sm['type']}): {sm['executions']} executions, {sm['transitions']} transitions: "
            f"Standard {usd(sm['standard_usd'])} vs Express {usd(sm['express_usd'])} "
            f"(day {usd(sm['day_total_if_standard_usd'])} vs {usd(sm['day_total_if_express_usd'])}; "
            f"longest execution {sm['max_duration_ms'] / 1000:.1f} s)"
        )
    return out


def bench_report(results: dict[str, Any], path: Path, stores: int | None = None) -> None:
    """`make bench`'s cost section: a small generated day run now (``stores``), or the demo day's
    bill read from ``path`` (out/demo/cost.json) when present; says which."""
    if stores:
        import subprocess
        import sys
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            cmd = [sys.executable, "-m", "offline_runtime.cli.demo", "--stores", str(stores), "--out", tmp]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            bill_file = Path(tmp) / "cost.json"
            if not bill_file.exists():
                print(f"\ncost: the {stores}-store day did not finish (exit {done.returncode}); no figures")
                return
            bill = json.loads(bill_file.read_text(encoding="utf-8"))
        source = f"a {stores}-store generated day run now (offline_runtime.cli.demo --stores {stores})"
    elif path.exists():
        bill = json.loads(path.read_text(encoding="utf-8"))
        source = f"{path} (the last `make demo`; --cost-stores N runs a small day instead)"
    else:
        print(f"\ncost: {path} not found: run `make demo` first, or pass --cost-stores N")
        return
    print(f"\ncost per million rows, from {source}:")
    for line in console_lines(bill):
        print(line)
    runs.report_staged_gets(results, bill, source)
    results["cost"] = {
        "source": source,
        "usd_per_million_rows": bill["usd_per_million_rows"],
        "target_usd_per_million_rows": bill["target_usd_per_million_rows"],
        "total_usd": bill["total_usd"],
        "rows": bill["rows"],
        "files": bill["files"],
        "by_service_usd_per_million_rows": {
            k: v["usd_per_million_rows"] for k, v in bill["by_service"].items()
        },
        "glue_data_quality_usd_per_million_rows": bill["glue_data_quality"]["usd_per_million_rows"],
        "notifications": bill.get("notifications"),
        "dynamodb_by_table": bill.get("dynamodb_by_table"),
        "state_machines": bill["state_machines"],
        "prices_as_of": bill["prices_as_of"],
    }
