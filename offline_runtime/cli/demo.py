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

from offline_runtime.bench import cost
from offline_runtime.emulator import metering
from offline_runtime.emulator.session import drain, observe_topic
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario import operations_view
from offline_runtime.scenario.datagen import RawFile
from offline_runtime.scenario.day import (
    DEMO_PARAMETERS,
    OBSERVER,
    load_day,
    realtime_burst,
    seed_inventory,
)
from offline_runtime.scenario.project import ROOT, observe_bus, offline_aws

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
    latest: dict[str, dict[str, Any]] = {}  # a file uploaded again (a replay) counts once
    for ev in events:
        if ev["detail-type"] == "DatasetStaged":
            latest[ev["detail"]["source"]["key"]] = ev["detail"]
    for key, d in latest.items():
        o = outcomes[key]
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
            o.published = d["rows_published"]  # a replay publishes the same rows again, in place
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


# What Glue Data Quality would replace: ingest's row validation and the quality gate.
CHECKS = (
    (
        "IngestFunction",
        "SchemaValidatorFunction",
        "ContentValidatorFunction",
        "BusinessValidatorFunction",
        "FinalValidatorFunction",
        "EnhancedValidatorFunction",
    ),
    ("PipelineStateMachine",),
)

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
        if (
            "parquet"
            not in t["StorageDescriptor"].get("SerdeInfo", {}).get("SerializationLibrary", "").lower()
        ):
            continue  # the audit trail (JSON) is reported through the daily report
        parts = glue.get_partitions(DatabaseName=db, TableName=t["Name"])["Partitions"]
        frame = wr.s3.read_parquet(t["StorageDescriptor"]["Location"], dataset=True, path_suffix=".parquet")
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


SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]


def _fraud_matrix(stack: OfflineStack, events: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    assert stack.sns is not None
    fraud_topic = stack.outputs["FraudAlertsTopicArn"]
    rows: dict[str, Counter[str]] = {}
    for protocol, label in (("sms", "pager (SMS, CRITICAL|HIGH)"), ("email", "fraud team e-mail (MEDIUM+)")):
        rows[label] = Counter(
            m.attributes["severity"]["Value"]
            for m in stack.sns.outbox
            if m.topic_arn == fraud_topic and m.protocol == protocol
        )
    analyst = drain(stack, stack.outputs["AnalystReviewQueueUrl"])
    rows["analyst review queue (HIGH+)"] = Counter(m["severity"] for m in analyst)
    rows["case management (all)"] = Counter(
        e["detail"]["severity"] for e in events if e["detail-type"] == "FraudCaseOpened"
    )
    return rows


def _alerted_transactions(stack: OfflineStack) -> set[str]:
    """Transactions the fraud topic alerted on (the e-mail subscription takes every severity sent)."""
    assert stack.sns is not None
    fraud_topic = stack.outputs["FraudAlertsTopicArn"]
    return {
        str(json.loads(m.message).get("transaction_id"))
        for m in stack.sns.outbox
        if m.topic_arn == fraud_topic and m.protocol == "email"
    }


def _transactions_in_cases(stack: OfflineStack) -> set[str]:
    table = stack.outputs["FraudCasesTableName"]
    ids: set[str] = set()
    for page in stack.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            if item["case_id"]["S"].startswith("CASE-"):
                ids.update(item.get("alert_ids", {}).get("SS", []))
    return ids


def _print_fraud(matrix: dict[str, Counter[str]], alerted: set[str], in_cases: set[str]) -> list[str]:
    """The subscribers agree on every severity they share, and every alerted transaction is in a
    case (a burst on one card or account joins one case, so cases are fewer than alerts)."""
    problems = []
    say("")
    say("Fraud alerts delivered, per subscription filter policy (subscriber x severity):")
    say(f"  {'subscriber':34}" + "".join(f"{s:>10}" for s in SEVERITIES) + f"{'total':>8}")
    for label, counts in matrix.items():
        name = "case management (cases opened)" if label.startswith("case") else label
        say(
            f"  {name:34}"
            + "".join(f"{counts.get(s, 0):>10}" for s in SEVERITIES)
            + f"{sum(counts.values()):>8}"
        )
    opened = sum(matrix["case management (all)"].values())
    say(f"  {len(alerted)} transactions alerted, {len(alerted & in_cases)} of them in {opened} cases")
    allowed = {
        "pager": {"CRITICAL", "HIGH"},
        "fraud team": {"CRITICAL", "HIGH", "MEDIUM"},
        "analyst": {"CRITICAL", "HIGH"},
        "case": set(SEVERITIES),
    }
    subscribers = {k: v for k, v in matrix.items() if not k.startswith("case")}
    for label, counts in matrix.items():
        ok = next(v for k, v in allowed.items() if label.startswith(k))
        if set(counts) - ok:
            problems.append(f"{label} received {set(counts) - ok}")
    for sev in SEVERITIES:
        got = {
            label: c.get(sev, 0)
            for label, c in subscribers.items()
            if sev in next(v for k, v in allowed.items() if label.startswith(k))
        }
        if len(set(got.values())) > 1:
            problems.append(f"{sev} alerts differ between subscribers: {got}")
    if alerted - in_cases:
        problems.append(f"{len(alerted - in_cases)} alerted transactions are in no case")
    return problems


def _print_inventory(stack: OfflineStack, events: list[dict[str, Any]]) -> list[str]:
    problems = []
    applied = [e["detail"] for e in events if e["detail-type"] == "InventoryMovementsApplied"]
    low = [e["detail"] for e in events if e["detail-type"] == "LowStockDetected"]
    pos = [e["detail"] for e in events if e["detail-type"] == "PurchaseOrderCreated"]
    assert stack.sns is not None
    notices = [m for m in stack.sns.outbox if m.topic_arn == stack.outputs["StoreManagerTopicArn"]]
    say("")
    say("Inventory: published movements -> DynamoDB (atomic ADD, once) -> stream -> low-stock -> orders")
    totals: Counter[str] = Counter()
    for a in applied:
        totals.update({k: a[k] for k in ("movements", "applied", "duplicates", "unknown")})
    say(
        f"  movements {totals['movements']:,}: applied {totals['applied']:,}, "
        f"duplicates {totals['duplicates']:,}, "
        f"unknown store/product {totals['unknown']:,} (reported in quarantine/inventory/unknown_items/)"
    )
    say(f"  LowStockDetected {len(low)} · purchase orders {len(pos)} · store-manager notices {len(notices)}")
    for d in low[:5]:
        say(
            f"    {d['store_id']}/{d['product_id']}: on hand {d['on_hand']} "
            f"< reorder point {d['reorder_threshold']}"
            f" -> order {d['suggested_order_qty']} (sales {d['avg_daily_sales']}/day, "
            f"lead {d['lead_time_days']} d)"
        )
    if notices:
        say(f"    store manager reads: {notices[0].message[:140]}")
    if len(pos) != len({d["crossing_id"] for d in low}):
        problems.append(f"{len(low)} crossings but {len(pos)} purchase orders")
    for queue in ("ReorderDeadLetterQueue", "InventoryStreamFailureQueue"):
        left = drain(stack, stack.physical[queue])
        if left:
            problems.append(f"{len(left)} messages in {queue}")
    return problems


def close_the_day(stack: OfflineStack, day: Any, late: RawFile) -> None:
    """End of day at midnight (and at the cut-off when a source has not delivered), the daily
    report at 01:00, the freshness check at 06:30 (the late store is reported), the late store's
    file for the closed day, the weekly report on Sunday 02:00."""
    following = day + timedelta(days=1)
    bus_q = observe_bus(stack, f"{OBSERVER}-eod")
    stack.schedules.fire_on("EndOfDayFunctionEndOfDay", following)
    if not [e for e in drain(stack, bus_q) if e["detail-type"] == "EndOfDayClosed"]:
        cutoff = int(stack.params["EndOfDayCutoffHour"])
        at = stack.schedules.next_on("EndOfDayFunctionEndOfDay", following) + timedelta(hours=cutoff)
        stack.schedules.fire("EndOfDayFunctionEndOfDay", at)
        stack.wait_idle(600)
    stack.schedules.fire_on("DailyReportFunctionDaily", following)
    stack.schedules.fire_on("FreshnessCheckFunctionAfterDueTime", following)  # the late store: DatasetLate
    stack.wait_idle(600)
    stack.client("s3").put_object(Bucket=stack.outputs["RawBucketName"], Key=late.key, Body=late.body)
    stack.wait_idle(600)
    sunday = following + timedelta(days=(6 - following.weekday()) % 7)
    stack.schedules.fire_on("WeeklyReportFunctionWeekly", sunday)


def _print_end_of_day(events: list[dict[str, Any]], day: str, late_key: str) -> list[str]:
    problems: list[str] = []

    def of(kind: str) -> list[dict[str, Any]]:
        return [
            e["detail"]
            for e in events
            if e["detail-type"] == kind and e["detail"].get("business_date", e["detail"].get("period")) == day
        ]

    say("")
    closed, blocked, restated = of("EndOfDayClosed"), of("EndOfDayBlocked"), of("EndOfDayRestated")
    say(f"End of day for {day} (EventBridge Scheduler at local midnight; Athena SQL, DuckDB offline):")
    for b in blocked:
        say(f"  attempt {b['attempt']} at {b['attempted_at'][11:16]} UTC: blocked ({b['reason'][:110]})")
    if not closed:
        return [f"end of day did not close {day}"]
    c = closed[0]
    usd = {k.split("/")[0]: t for k, t in c["totals"].items() if k.endswith("/USD")}
    totals = ", ".join(f"{kind} {t['closing']}" for kind, t in sorted(usd.items()))
    say(f"  closed v{c['version']}: {c['accounts']:,} accounts, {c['transactions']:,} transactions posted")
    say(f"  USD closing balances by account type: {totals}")
    interest = c["interest"].get("USD", {})
    say(
        f"  interest: USD {interest.get('accrued', '0')} accrued on {interest.get('accounts', 0):,} "
        f"savings accounts (ACT/365 and ACT/360, half to even), {interest.get('credited', '0')} credited"
        + (" (month end)" if interest.get("credited") not in (None, "0", "0.00") else "")
    )
    recon = c["reconciliation"]
    checks = ", ".join(
        f"{name} {'ok' if v.get('passed') else 'BROKEN'}" for name, v in recon.get("checks", {}).items()
    )
    say(f"  reconciliation {recon['status']}: {checks}")
    if recon["status"] != "OK":
        problems.append(f"end of day {day} did not reconcile: {recon.get('breaks')} break(s)")
    if c["waived"]:
        say(f"  closed at the cut-off without: {c['waived'][0]['what'][:120]}")
    say(f"  balances: curated/daily_balances/business_date={day}/ (Glue daily_balances) + the portal table")
    if restated:
        r = restated[-1]
        say(
            f"  late file {late_key.rsplit('/', 1)[-1]} -> restated v{r['version']} "
            f"(was v{r['previous_version']}): {r['changed_accounts']} account(s) changed, "
            f"{r['transactions']:,} transactions"
        )
    else:
        problems.append(f"the late file {late_key} did not restate {day}")
    daily = of("DailyReportReady")
    for d in daily:
        flag = f" (restated, supersedes v{d['supersedes']})" if d["restated"] else ""
        say(
            f"  daily regulatory report v{d['version']}{flag}: {d['transactions']:,} transactions by "
            f"business date, {d['files']} files ({d['rows_in']:,} rows in, {d['rows_rejected']:,} rejected), "
            f"fraud cases {d['fraud_cases_by_severity']}"
        )
    if daily:
        loc = daily[-1]["location"]
        say(f"  written to s3://{loc['bucket']}/{loc['prefix']} (CSV, summary.json, SHA-256 manifest)")
    if [d["version"] for d in daily] != [1, 2]:
        problems.append(f"daily report versions {[d['version'] for d in daily]}, expected v1 then v2")
    weekly = [e["detail"] for e in events if e["detail-type"] == "WeeklyReportBlocked"]
    if weekly:
        say(f"  weekly report: refused, as it should be: {weekly[-1]['reason'][:100]}")
    return problems


def run(day: datetime, stores: int, out_dir: Path, concurrency: int = 1, faults: str = "") -> int:
    started = time.monotonic()
    say("Retail/banking data pipeline — offline demo (moto as the local AWS; template.yaml as deployed)")
    say("[1/7] deploying template.yaml into moto ...")
    with offline_aws(parameters=DEMO_PARAMETERS, concurrency=concurrency) as stack:
        if faults:
            rules = stack.faults.parse(faults)
            injected = ", ".join(f"{r.service}.{r.operation} {r.error_code}" for r in rules)
            say(f"      faults injected: {injected}")
        say(
            f"      stack '{stack.stack_name}' with {len(stack.physical)} resources "
            f"in {time.monotonic() - started:.1f}s"
        )
        stack.meter.ignore = (OBSERVER,)  # the demo's own observer queues are not the pipeline's
        bus_q = observe_bus(stack, OBSERVER)
        ops_q = observe_topic(stack, stack.outputs["OpsTopicArn"], f"{OBSERVER}-ops")
        store_ids = [f"S{i:03d}" for i in range(1, stores + 1)]
        say(f"[2/7] loading stock master data: {seed_inventory(stack, store_ids):,} store/product items")
        say(
            f"[3/7] generating business day {day:%Y-%m-%d} ({stores} stores), uploading it to the raw bucket;"
        )
        say("      S3 -> ingest -> state machine -> publish -> fraud scoring / stock movements -> ...")
        held = f"transactions/{day:%Y-%m-%d}/pos-S{stores:03d}.csv"  # this store delivers after end of day
        say(f"      (held back until after end of day: {held})")
        files, _ = load_day(stack, day.date(), stores, progress=True, seed=False, hold_back=(held,))
        s3 = stack.client("s3")
        raw = stack.outputs["RawBucketName"]
        stack.wait_idle(600)
        say("[5/7] real-time card authorisations on the bus (a stolen-card pattern) ...")
        realtime = realtime_burst(stack, datetime.now(UTC) - timedelta(minutes=30))
        say("[6/7] replaying one stock-movement file (must not double-count) ...")
        replay = next(f for f in files if f.key.startswith("inventory_movements/"))
        s3.put_object(Bucket=raw, Key=replay.key, Body=replay.body)
        stack.wait_idle(600)
        say("[7/7] end of day (EventBridge Scheduler, midnight in the business time zone), the reports,")
        say("      then a late file for the closed day ...")
        late = next(f for f in files if f.key == held)
        close_the_day(stack, day.date(), late)
        stack.wait_idle(600)
        usage = metering.usage(stack, stack.meter)  # the day's usage, before the demo reads results back
        uploads = len(files) + 1  # every file of the day (the late one included) and the replay
        late_key = late.key
        withheld = [held]  # late for the freshness check at 06:30, delivered after end of day
        events = drain(stack, bus_q)  # everything since the observer started (load_day's included)
        executions = _executions(stack)
        ops_alerts = drain(stack, ops_q)
        console = operations_view.divert_details(out_dir)  # the full printout goes to details.txt
        say("")
        say("Files")
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
        bill = cost.report(usage, total_in, uploads, checks=CHECKS)  # printed at the end
        (out_dir / "cost.json").write_text(json.dumps(bill, indent=2, default=str), encoding="utf-8")
        say("files: " + ", ".join(f"{n} {d}" for d, n in decisions.most_common()))
        tables = _glue_summary(stack)
        say(f"Glue database {stack.outputs['GlueDatabaseName']}:")
        for name, t in tables.items():
            say(
                f"  table {name}: {t['rows']:,} rows, {t['columns']} columns, "
                f"{len(t['partitions'])} partition(s) {', '.join(t['partitions'][:4])}  ({t['location']})"
            )
            published = sum(o.published for o in outcomes.values() if o.key.startswith(name + "/"))
            if name in ("transactions", "inventory_movements") and t["rows"] != published:
                problems.append(f"table {name} holds {t['rows']} rows, {published} were published")
        fraud = _fraud_matrix(stack, events)
        problems += _print_fraud(fraud, _alerted_transactions(stack), _transactions_in_cases(stack))
        rt_cases = [
            e["detail"]
            for e in events
            if e["detail-type"] == "FraudCaseOpened" and e["detail"]["transaction_id"].startswith("RT")
        ]
        say(
            f"  real-time path: {len(realtime)} authorisations -> {len(rt_cases)} alerts: "
            + ", ".join(f"{c['transaction_id']} {c['severity']} ({'+'.join(c['rules'])})" for c in rt_cases)
        )
        problems += _print_inventory(stack, events)
        replays = [
            e["detail"]
            for e in events
            if e["detail-type"] == "InventoryMovementsApplied"
            and e["detail"]["applied"] == 0
            and e["detail"]["duplicates"] > 0
        ]
        say(
            f"  replayed file: {replays[0]['duplicates'] if replays else 0} movements recognised "
            "as already applied"
        )
        if not replays:
            problems.append("the replayed movement file was not recognised as duplicates")
        problems += _print_end_of_day(events, day.date().isoformat(), late_key)
        by_severity = Counter(
            a.get("MessageAttributes", {}).get("severity", {}).get("Value", "?") for a in ops_alerts
        )
        say(
            f"operator alerts on the ops topic: {len(ops_alerts)} "
            f"({', '.join(f'{k} {v}' for k, v in by_severity.items())})"
        )
        _export(stack, out_dir)
        per_fn: dict[str, list[float]] = defaultdict(list)
        for inv in stack.lambdas.invocations if stack.lambdas else []:
            per_fn[inv.logical_id].append(inv.duration_s)
        say(
            "function invocations: "
            + ", ".join(
                f"{k.replace('Function', '')} {len(v)}x ({sum(v) / len(v) * 1000:.0f} ms avg)"
                for k, v in sorted(per_fn.items())
            )
        )
        say(
            f"outputs copied to {out_dir}/: curated/ (curated/<table>/event_date=..., staging/, "
            "manifests/, published/, "
            f"audit/, reports/), quarantine/ (rows/, files/, datasets/, inventory/)"
        )
        made = operations_view.day_summary(
            stack,
            day.date(),
            stores,
            outcomes,
            events,
            fraud,
            ops_alerts,
            withheld,
            problems,
            time.monotonic() - started,
            out_dir,
        )
        operations_view.finish(console, made, out_dir)
        for line in cost.console_lines(bill):
            say(line)
        say(f"  (lines, counts and prices: {out_dir / 'cost.json'})")
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
    parser.add_argument("--concurrency", type=int, default=1, help="asynchronous deliveries at once")
    parser.add_argument("--fault", default="", help="fault rules, e.g. sns:PublishBatch:InternalError:3")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    day = (
        datetime.strptime(args.day, "%Y-%m-%d").replace(tzinfo=UTC)
        if args.day
        else datetime.now(UTC) - timedelta(days=1)
    )
    args.out.mkdir(parents=True, exist_ok=True)
    return run(day, args.stores, args.out, args.concurrency, args.fault)


if __name__ == "__main__":
    sys.exit(main())
