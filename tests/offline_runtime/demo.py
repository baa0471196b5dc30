"""`make demo`: one business day through the real template, offline.

Deploys template.yaml into moto, drops a generated day of raw files into the raw bucket and lets
the template's wiring do the rest (S3 -> EventBridge -> ingest -> DatasetStaged -> state machine
-> publish / quarantine). Prints progress, then a per-file summary; exits non-zero when anything
unexpected happened (an error, rows that do not add up, a decision other than the expected one).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from offline_runtime.datagen import RawFile, business_day
from offline_runtime.session import drain, observe_bus, observe_topic, offline_aws
from offline_runtime.stack import ROOT, OfflineStack

OBSERVER = "demo-observer"
DECISION_LABEL = {
    "publish": "published",
    "enhanced_publish": "published after enhanced validation",
    "gate_quarantine": "quarantined by the quality gate",
    "file_quarantine": "file quarantined at ingest",
}


@dataclass
class FileOutcome:
    key: str
    expect: str
    note: str
    rows_in: int = 0
    published: int = 0
    quarantined_rows: int = 0
    decision: str = "pending"
    reason: str = ""
    top_rejects: list[tuple[str, int]] = field(default_factory=list)
    score: float | None = None
    checks: dict[str, float] = field(default_factory=dict)
    states: list[str] = field(default_factory=list)


def say(msg: str) -> None:
    print(msg, flush=True)


def _executions(stack: OfflineStack) -> list[dict[str, Any]]:
    sfn = stack.client("stepfunctions")
    arn = stack.outputs["PipelineStateMachineArn"]
    out = []
    for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
        for e in page["executions"]:
            desc = sfn.describe_execution(executionArn=e["executionArn"])
            history = sfn.get_execution_history(executionArn=e["executionArn"], maxResults=1000)["events"]
            desc["states"] = [
                h["stateEnteredEventDetails"]["name"] for h in history if "stateEnteredEventDetails" in h
            ]
            out.append(desc)
    return out


def _collect(
    stack: OfflineStack, files: list[RawFile], events: list[dict[str, Any]], executions: list[dict[str, Any]]
) -> dict[str, FileOutcome]:
    outcomes = {f.key: FileOutcome(f.key, f.expect, f.note) for f in files}
    for ev in events:
        d = ev["detail"]
        key = (d.get("source") or {}).get("key")
        if ev["detail-type"] == "DatasetStaged":
            o = outcomes[d["source"]["key"]]
            o.rows_in = d["counts"]["rows_in"]
            o.quarantined_rows += d["counts"]["rows_rejected"]
            o.top_rejects = [(r["reason"], r["rows"]) for r in d["top_reject_reasons"][:3]]
    by_run = {}
    for ev in events:
        if ev["detail-type"] == "DatasetStaged":
            by_run[ev["detail"]["run_id"]] = ev["detail"]["source"]["key"]
    for ev in events:
        d = ev["detail"]
        if ev["detail-type"] == "DatasetPublished":
            o = outcomes[by_run[d["run_id"]]]
            o.published = d["rows_published"]
            o.score = d.get("quality_score")
        elif ev["detail-type"] == "DatasetQuarantined":
            key = d["source"]["key"]
            o = outcomes[key]
            o.reason = f"{d['reason_code']}: {d['reason']}"
            if d["stage"] == "ingest":
                o.decision = (
                    "file_quarantine" if d["reason_code"] != "ALL_ROWS_REJECTED" else "gate_quarantine"
                )
                if d.get("counts"):
                    o.rows_in = d["counts"]["rows_in"]
                    o.quarantined_rows = d["counts"]["rows_in"]
            else:
                o.decision = "gate_quarantine" if d["stage"] == "quality_gate" else "failed"
                o.quarantined_rows += d["counts"]["rows_valid"]
    for ex in executions:
        inp = json.loads(ex["input"])
        o = outcomes[inp["detail"]["source"]["key"]]
        o.states = ex["states"]
        if ex["status"] != "SUCCEEDED":
            o.decision = "failed"
            o.reason = f"{ex.get('error')}: {ex.get('cause')}"
            continue
        out = json.loads(ex["output"])
        assessment = out.get("final", {}).get("assessment")
        if assessment:
            o.score = assessment["score"]
            o.checks = {c["name"]: c["score"] for c in assessment["checks"]}
        if "PublishDataset" in o.states:
            o.decision = "enhanced_publish" if "EnhancedValidation" in o.states else "publish"
    return outcomes


SHORT = {
    "schema": "sch",
    "completeness": "cmp",
    "validity": "val",
    "uniqueness": "unq",
    "freshness": "frs",
    "business_rules": "bus",
}


def _print_summary(outcomes: dict[str, FileOutcome]) -> list[str]:
    problems: list[str] = []
    say("")
    say(f"{'file':52} {'rows in':>8} {'published':>9} {'quarant.':>8} {'score':>6}  decision / checks")
    say("-" * 140)
    for o in sorted(outcomes.values(), key=lambda x: (x.expect != "publish", x.key)):
        ok = o.decision == o.expect and o.rows_in == o.published + o.quarantined_rows
        if o.decision == "file_quarantine":
            ok = o.decision == o.expect
        mark = "ok" if ok else "!!"
        if not ok:
            problems.append(
                f"{o.key}: expected {o.expect}, got {o.decision} "
                f"(rows {o.rows_in} = {o.published} + {o.quarantined_rows}?) {o.reason}"
            )
        checks = " ".join(f"{SHORT[k]} {v:.2f}" for k, v in o.checks.items() if k in SHORT)
        score = f"{o.score:.3f}" if o.score is not None else "-"
        rows_in = str(o.rows_in) if o.decision != "file_quarantine" else "file"
        say(
            f"{o.key[-52:]:52} {rows_in:>8} {o.published:>9} {o.quarantined_rows:>8} {score:>6}  "
            f"{mark} {DECISION_LABEL.get(o.decision, o.decision)}"
        )
        if checks:
            say(f"{'':52} {'':>8} {'':>9} {'':>8} {'':>6}     checks: {checks}")
        if o.top_rejects:
            reasons = ", ".join(f"{r} x{n}" for r, n in o.top_rejects)
            say(f"{'':52} {'':>8} {'':>9} {'':>8} {'':>6}     top rejects: {reasons}")
        if o.reason:
            say(f"{'':52} {'':>8} {'':>9} {'':>8} {'':>6}     why: {o.reason[:150]}")
    return problems


def _glue_summary(stack: OfflineStack) -> dict[str, Any]:
    import awswrangler as wr

    glue = stack.client("glue")
    db = stack.outputs["GlueDatabaseName"]
    tables = {}
    for t in glue.get_tables(DatabaseName=db)["TableList"]:
        parts = glue.get_partitions(DatabaseName=db, TableName=t["Name"])["Partitions"]
        frame = wr.s3.read_parquet(t["StorageDescriptor"]["Location"], dataset=True)
        tables[t["Name"]] = {
            "location": t["StorageDescriptor"]["Location"],
            "columns": len(t["StorageDescriptor"]["Columns"]),
            "partitions": sorted("/".join(p["Values"]) for p in parts),
            "rows": len(frame),
        }
    return tables


def _export(stack: OfflineStack, out_dir: Path) -> None:
    """moto lives in memory: copy the buckets to disk so the outputs can be inspected."""
    s3 = stack.client("s3")
    for name in ("CuratedBucketName", "QuarantineBucketName"):
        bucket = stack.outputs[name]
        target = out_dir / name.replace("BucketName", "").lower()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                path = target / obj["Key"]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())


def run(day: datetime, stores: int, out_dir: Path) -> int:
    started = time.monotonic()
    say("Retail/banking data pipeline — offline demo (moto as the local AWS; template.yaml as deployed)")
    say("[1/5] deploying template.yaml into moto ...")
    with offline_aws(root=ROOT) as stack:
        say(
            f"      stack '{stack.stack_name}' with {len(stack.physical)} resources "
            f"in {time.monotonic() - started:.1f}s"
        )
        bus_q = observe_bus(stack, OBSERVER)
        ops_q = observe_topic(stack, stack.outputs["OpsTopicArn"], f"{OBSERVER}-ops")
        say(f"[2/5] generating business day {day:%Y-%m-%d} ({stores} stores) ...")
        files = business_day(day.date(), stores=stores)
        tx_rows = sum(f.rows for f in files if f.key.startswith("transactions/"))
        say(
            f"      {len(files)} files: {tx_rows:,} transactions, "
            f"{sum(f.rows for f in files if f.key.startswith('inventory')):,} stock movements, "
            f"{sum(f.bad_rows for f in files):,} bad rows planted, 1 corrupted upload"
        )
        raw = stack.outputs["RawBucketName"]
        say(f"[3/5] uploading to s3://{raw}/ ...")
        s3 = stack.client("s3")
        for f in files:
            s3.put_object(Bucket=raw, Key=f.key, Body=f.body)
        say("[4/5] S3 -> EventBridge -> ingest -> DatasetStaged -> state machine -> publish/quarantine")
        events: list[dict[str, Any]] = []
        last = 0.0
        while True:
            events += drain(stack, bus_q)
            kinds = Counter(e["detail-type"] for e in events)
            done = kinds["DatasetPublished"] + kinds["DatasetQuarantined"]
            idle = stack.delivery is not None and stack.delivery.idle and stack.running_executions() == 0
            if time.monotonic() - last > 3 or (idle and done >= len(files)):
                say(
                    f"      {time.monotonic() - started:6.1f}s  staged {kinds['DatasetStaged']:>3}  "
                    f"published {kinds['DatasetPublished']:>3}  quarantined {kinds['DatasetQuarantined']:>3}"
                    f"  / {len(files)} files"
                )
                last = time.monotonic()
            if idle and done >= len(files):
                break
            if idle:
                stack.wait_idle(60)
                events += drain(stack, bus_q)
                kinds = Counter(e["detail-type"] for e in events)
                if kinds["DatasetPublished"] + kinds["DatasetQuarantined"] >= len(files):
                    continue
                break
            time.sleep(0.5)
        executions = _executions(stack)
        ops_alerts = drain(stack, ops_q)
        say("[5/5] summary")
        outcomes = _collect(stack, files, events, executions)
        problems = _print_summary(outcomes)
        errored = [i for i in (stack.lambdas.invocations if stack.lambdas else []) if i.errored]
        for inv in errored:
            problems.append(f"function {inv.logical_id} raised {inv.error_type}")
        total_in = sum(o.rows_in for o in outcomes.values())
        total_pub = sum(o.published for o in outcomes.values())
        total_q = sum(o.quarantined_rows for o in outcomes.values())
        decisions = Counter(DECISION_LABEL.get(o.decision, o.decision) for o in outcomes.values())
        say("")
        say(
            f"rows: {total_in:,} in = {total_pub:,} published + {total_q:,} quarantined "
            f"({'adds up' if total_in == total_pub + total_q else 'DOES NOT ADD UP'})"
        )
        if total_in != total_pub + total_q:
            problems.append("row totals do not add up")
        say("files: " + ", ".join(f"{n} {d}" for d, n in decisions.most_common()))
        by_severity = Counter(
            (a.get("MessageAttributes", {}).get("severity", {}).get("Value", "?")) for a in ops_alerts
        )
        say(
            f"operator alerts on the ops topic: {len(ops_alerts)} "
            f"({', '.join(f'{k} {v}' for k, v in by_severity.items())})"
        )
        tables = _glue_summary(stack)
        say(f"Glue database {stack.outputs['GlueDatabaseName']}:")
        for name, t in tables.items():
            say(
                f"  table {name}: {t['rows']:,} rows, {t['columns']} columns, partitions "
                f"{', '.join(t['partitions'])}  ({t['location']})"
            )
            published = sum(o.published for o in outcomes.values() if o.key.startswith(name + "/"))
            if t["rows"] != published:
                problems.append(f"table {name} holds {t['rows']} rows, {published} were published")
        _export(stack, out_dir)
        invocations = stack.lambdas.invocations if stack.lambdas else []
        per_fn = defaultdict(list)
        for inv in invocations:
            per_fn[inv.logical_id].append(inv.duration_s)
        say(
            "function invocations: "
            + ", ".join(
                f"{k} {len(v)}x ({sum(v) / len(v) * 1000:.0f} ms avg)" for k, v in sorted(per_fn.items())
            )
        )
        say(
            f"outputs copied to {out_dir}/: curated/ (curated/<table>/event_date=..., staging/, "
            f"manifests/, published/), quarantine/ (rows/, files/, datasets/)"
        )
        summary = {name: o.__dict__ for name, o in outcomes.items()}
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
        say(f"per-file summary: {out_dir / 'summary.json'}")
        say(f"done in {time.monotonic() - started:.1f}s")
        if problems:
            say("\nUNEXPECTED:")
            for p in problems:
                say(f"  - {p}")
            return 1
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--day", help="business day YYYY-MM-DD (default: yesterday, UTC)")
    parser.add_argument("--stores", type=int, default=60)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    day = (
        datetime.strptime(args.day, "%Y-%m-%d").replace(tzinfo=UTC)
        if args.day
        else datetime.now(UTC) - timedelta(days=1)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    return run(day, args.stores, args.out)


if __name__ == "__main__":
    sys.exit(main())
