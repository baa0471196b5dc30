"""A (small) business day end to end, offline: raw files in, published or quarantined out.

Nothing is called directly: files land in the raw bucket and the template's wiring does the rest.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import awswrangler as wr
import pytest

from datapipe.contracts import default_registry
from offline_runtime.emulator.session import drain, observe_topic, state_path
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.datagen import RawFile, business_day
from offline_runtime.scenario.day import seed_inventory
from offline_runtime.scenario.project import observe_bus

DAY = datetime.now(UTC).date() - timedelta(days=1)


@pytest.fixture(scope="module")
def day_run(stack: OfflineStack) -> dict[str, Any]:
    bus_q = observe_bus(stack, "e2e-observer")
    ops_q = observe_topic(stack, stack.outputs["OpsTopicArn"], "e2e-ops")
    fraud_q = observe_topic(stack, stack.outputs["FraudAlertsTopicArn"], "e2e-fraud")
    seed_inventory(stack, [f"S{i:03d}" for i in range(1, 9)])  # the stock master data
    files = business_day(DAY, stores=8, tx_per_store=400, online_rows=500, movements_per_store=60)
    s3 = stack.client("s3")
    for f in files:
        s3.put_object(Bucket=stack.outputs["RawBucketName"], Key=f.key, Body=f.body)
    stack.wait_idle(900)  # the whole day on a shared stack, late in a random-order suite on a busy machine
    return {
        "files": files,
        "events": drain(stack, bus_q),
        "ops": drain(stack, ops_q),
        "fraud": drain(stack, fraud_q),
        "bus_q": bus_q,
    }


def outcome_of(f: RawFile, events: list[dict[str, Any]]) -> dict[str, Any]:
    staged = [
        e["detail"]
        for e in events
        if e["detail-type"] == "DatasetStaged" and e["detail"]["source"]["key"] == f.key
    ]
    runs = {s["run_id"] for s in staged}
    published = [
        e["detail"]
        for e in events
        if e["detail-type"] == "DatasetPublished" and e["detail"]["run_id"] in runs
    ]
    quarantined = [
        e["detail"]
        for e in events
        if e["detail-type"] == "DatasetQuarantined" and (e["detail"].get("source") or {}).get("key") == f.key
    ]
    return {"staged": staged, "published": published, "quarantined": quarantined}


def test_every_file_gets_exactly_one_final_decision_as_expected(day_run: dict[str, Any]) -> None:
    for f in day_run["files"]:
        o = outcome_of(f, day_run["events"])
        assert len(o["published"]) + len(o["quarantined"]) == 1, f.key
        if f.expect in ("publish", "enhanced_publish"):
            assert o["published"], f"{f.key} should be published: {o['quarantined']}"
        elif f.expect == "gate_quarantine":
            assert o["quarantined"][0]["stage"] == "quality_gate"
        else:
            assert o["quarantined"][0]["stage"] == "ingest"
            assert o["quarantined"][0]["reason_code"] == "MALFORMED_GZIP"


def test_every_row_is_published_or_quarantined(day_run: dict[str, Any]) -> None:
    for f in day_run["files"]:
        if f.expect == "file_quarantine":
            continue
        o = outcome_of(f, day_run["events"])
        counts = o["staged"][0]["counts"]
        assert counts["rows_in"] == f.rows, f.key
        assert counts["rows_rejected"] == f.bad_rows, f.key
        published = sum(p["rows_published"] for p in o["published"])
        quarantined = counts["rows_rejected"] + sum(q["counts"]["rows_valid"] for q in o["quarantined"])
        assert published + quarantined == f.rows, f.key


def test_curated_tables_hold_exactly_the_published_rows(stack: OfflineStack, day_run: dict[str, Any]) -> None:
    published = Counter()
    for e in day_run["events"]:
        if e["detail-type"] == "DatasetPublished":
            published[e["detail"]["table"]] += e["detail"]["rows_published"]
    db = stack.outputs["GlueDatabaseName"]
    for table, rows in published.items():
        frame = wr.s3.read_parquet(
            f"s3://{stack.outputs['CuratedBucketName']}/curated/{table}/", dataset=True
        )
        assert len(frame) == rows, table
        assert frame["lineage_source_key"].str.startswith(f"{table}/").all()
        partitions = wr.catalog.get_partitions(database=db, table=table)
        column = default_registry().get(table).partitions[0].name  # event_date, rate_day (fx_rates)
        assert sorted(v[0] for v in partitions.values()) == sorted(frame[column].astype(str).unique())
    types = wr.catalog.get_table_types(database=db, table="transactions")
    assert types["amount"] == "decimal(18,4)" and types["event_time"] == "timestamp"


def test_rejected_rows_are_in_quarantine_with_reasons(stack: OfflineStack, day_run: dict[str, Any]) -> None:
    s3 = stack.client("s3")
    staged = [e["detail"] for e in day_run["events"] if e["detail-type"] == "DatasetStaged"]
    some = next(s for s in staged if s["counts"]["rows_rejected"])
    body = s3.get_object(Bucket=some["rejects"]["bucket"], Key=some["rejects"]["key"])["Body"].read()
    lines = [json.loads(x) for x in body.splitlines()]
    assert len(lines) == some["counts"]["rows_rejected"]
    for line in lines:
        assert line["source_key"] == some["source"]["key"] and line["source_row"] >= 2
        assert line["rule"] and line["message"] and line["errors"]


def test_operators_hear_of_every_quarantine(day_run: dict[str, Any]) -> None:
    about_quarantine = [a for a in day_run["ops"] if "quarantined" in a["Subject"]]
    quarantines = sum(1 for e in day_run["events"] if e["detail-type"] == "DatasetQuarantined")
    assert len(about_quarantine) == quarantines
    assert {a["MessageAttributes"]["severity"]["Value"] for a in about_quarantine} == {"HIGH"}


def test_movements_for_unknown_items_are_reported_not_dropped(day_run: dict[str, Any]) -> None:
    applied = [e["detail"] for e in day_run["events"] if e["detail-type"] == "InventoryMovementsApplied"]
    assert sum(a["unknown"] for a in applied) == 2  # datagen lists two products no store carries
    assert all(a["movements"] == a["applied"] + a["duplicates"] + a["unknown"] for a in applied)
    assert [a for a in day_run["ops"] if "unknown items" in a["Subject"]]


def test_the_same_file_uploaded_again_does_not_duplicate_rows(
    stack: OfflineStack, day_run: dict[str, Any]
) -> None:
    f = next(f for f in day_run["files"] if f.expect == "publish" and f.key.startswith("transactions/"))
    path = f"s3://{stack.outputs['CuratedBucketName']}/curated/transactions/"
    before = len(wr.s3.read_parquet(path, dataset=True))
    sfn = stack.client("stepfunctions")
    machine = stack.outputs["PipelineStateMachineArn"]
    known = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    stack.client("s3").put_object(Bucket=stack.outputs["RawBucketName"], Key=f.key, Body=f.body)
    stack.wait_idle(300)
    # the same object again (same key, same bytes: the same run) is processed again to the end...
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    (again,) = [e for e in executions if e["executionArn"] not in known]
    assert sfn.describe_execution(executionArn=again["executionArn"])["status"] == "SUCCEEDED"
    assert state_path(again["executionArn"], stack)[-1] == "Published"
    assert len(wr.s3.read_parquet(path, dataset=True)) == before  # ...and its rows are there once


def test_ingest_infrastructure_failure_lands_in_the_dead_letter_queue(stack: OfflineStack) -> None:
    # GIVEN an S3 event for an object that is gone by the time ingest reads it
    dlq = stack.outputs["IngestDeadLetterQueueUrl"]
    drain(stack, dlq)
    stack.client("events").put_events(
        Entries=[
            {
                "Source": "aws.s3",
                "DetailType": "Object Created",
                "Detail": json.dumps(
                    {
                        "version": "0",
                        "bucket": {"name": stack.outputs["RawBucketName"]},
                        "object": {"key": "transactions/gone.csv", "size": 10, "etag": "0" * 32},
                        "request-id": "X",
                        "requester": "123456789012",
                        "reason": "PutObject",
                    }
                ),
            }
        ]
    )
    stack.wait_idle(60)
    # THEN after the async retries the event is in the DLQ with the error, not lost
    (record,) = drain(stack, dlq)
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"]["detail"]["object"]["key"] == "transactions/gone.csv"
    # ...parked by the function the event was for, in the queue its on-failure destination names
    assert record["requestContext"]["functionArn"].startswith(stack.function_arn("IngestFunction"))
    invoke_config = stack.translated["Resources"]["IngestFunctionEventInvokeConfig"]["Properties"]
    destination = invoke_config["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination == {"Fn::GetAtt": ["IngestDeadLetterQueue", "Arn"]}
    assert record["responseContext"]["functionError"] and "NoSuchKey" in json.dumps(record["responsePayload"])


def test_end_of_day_closes_the_day_and_the_daily_report_counts_it_by_business_date(
    stack: OfflineStack, day_run: dict[str, Any]
) -> None:

    today = datetime.now(UTC).date()
    q = observe_bus(stack, "e2e-reports")
    ops = observe_topic(stack, stack.outputs["OpsTopicArn"], "e2e-eod-ops")
    stack.schedules.fire_on("DailyReportFunctionDaily", today)  # 01:00: end of day has not run yet
    # midnight: 8 of the calendar's 60 stores delivered, so the day waits; the cut-off closes it
    stack.schedules.fire_on("EndOfDayFunctionEndOfDay", today)
    stack.schedules.fire(
        "EndOfDayFunctionEndOfDay", datetime(today.year, today.month, today.day, 6, tzinfo=UTC)
    )
    stack.wait_idle()
    events = drain(stack, q)
    (blocked,) = [e["detail"] for e in events if e["detail-type"] == "EndOfDayBlocked"]
    assert blocked["business_date"] == DAY.isoformat() and blocked["final"] is False
    (closed,) = [e["detail"] for e in events if e["detail-type"] == "EndOfDayClosed"]
    assert closed["business_date"] == DAY.isoformat() and closed["reconciliation"]["status"] == "OK"
    assert "S009" in closed["waived"][0]["sources"] and "S001" not in closed["waived"][0]["sources"]
    severities = Counter(
        a["MessageAttributes"]["severity"]["Value"]
        for a in drain(stack, ops)
        if "] end of day" in a["Subject"]
    )
    assert severities == {"HIGH": 2}  # blocked at midnight, closed without some sources at the cut-off
    (report,) = [e["detail"] for e in events if e["detail-type"] == "DailyReportReady"]
    assert report["period"] == DAY.isoformat()
    # the day's published transactions, by their own time (the 6-day-old re-send is not the day's)
    frame = wr.s3.read_parquet(
        f"s3://{stack.outputs['CuratedBucketName']}/curated/transactions/", dataset=True
    )
    days = frame["event_time"].dt.date  # UTC: the stack's business time zone
    of_day = frame[days == DAY]
    assert report["transactions"] == len(of_day) == closed["transactions"] + closed["unposted_transactions"]
    assert report["transactions"] < len(frame)
    by_currency = of_day.groupby("currency")["amount"].sum()
    assert report["amount_by_currency"] == {c: format(v, "f") for c, v in sorted(by_currency.items())}
    cases = Counter(
        e["detail"]["severity"] for e in day_run["events"] if e["detail-type"] == "FraudCaseOpened"
    )
    assert sum(report["fraud_cases_by_severity"].values()) <= sum(cases.values())
    accounts = set(of_day["account_id"])
    assert closed["accounts"] == 20_000 and len(accounts) > 100  # every account of the master closed


def _sunday_after(day: date) -> date:
    """The first Sunday after ``day``: the weekly schedule fires on Sundays only."""
    return day + timedelta(days=7 - day.isoweekday() % 7)


def test_weekly_report_is_refused_without_its_seven_dailies(
    stack: OfflineStack, day_run: dict[str, Any]
) -> None:
    from datetime import timedelta as td

    q = observe_bus(stack, "e2e-weekly")
    later = _sunday_after(datetime.now(UTC).date() + td(days=14))  # a week no daily exists for
    stack.schedules.fire_on("WeeklyReportFunctionWeekly", later)
    (blocked,) = [e["detail"] for e in drain(stack, q) if e["detail-type"] == "WeeklyReportBlocked"]
    assert len(blocked["missing"]) == 7 and blocked["period"] == (later - td(days=1)).isoformat()


def raw_ids(files: list[RawFile]) -> set[str]:
    """Every card, account and customer id in the day's raw files (readable rows)."""
    ids: set[str] = set()
    for f in files:
        try:
            text = (gzip.decompress(f.body) if f.key.endswith(".gz") else f.body).decode("utf-8", "replace")
        except (OSError, EOFError):  # the truncated upload: unreadable, quarantined whole
            continue
        if f.key.endswith((".jsonl", ".jsonl.gz")):
            rows: list[dict[str, Any]] = []
            for line in text.splitlines():
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                rows.extend([value] if isinstance(value, dict) else [])
        else:
            rows = list(csv.DictReader(io.StringIO(text)))
        for row in rows:
            ids.update(str(row[c]) for c in ("account_id", "card_id", "customer_id") if row.get(c))
    return {i for i in ids if len(i) >= 5}


def cloudwatch_lines(stack: OfflineStack) -> list[str]:
    """Every log line the functions wrote, as CloudWatch Logs (moto) holds them."""
    logs = stack.client("logs")
    lines: list[str] = []
    for group in logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/")["logGroups"]:
        kwargs: dict[str, Any] = {"logGroupName": group["logGroupName"]}
        while True:
            page = logs.filter_log_events(**kwargs)
            lines.extend(e["message"] for e in page["events"])
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    return lines


def test_no_raw_card_account_or_customer_id_in_any_log_line_or_alert(
    stack: OfflineStack, day_run: dict[str, Any]
) -> None:
    """Ids are alphanumeric (ACC000123...): each text is cut into its alphanumeric runs and those
    are looked up among the input's ids (a substring scan of every id over every line would be
    quadratic); a masked id (*****0123) leaves only its last four characters."""
    ids = raw_ids(day_run["files"])
    lines = cloudwatch_lines(stack)
    alerts = [json.dumps(a) for a in day_run["ops"]] + [json.dumps(a) for a in day_run["fraud"]]
    ran = stack.lambdas.invocations
    assert len(ids) > 1000 and len(lines) >= 3 * len(ran) > 300  # START, END, REPORT at least, per run
    assert len(day_run["fraud"]) > 0 and len(day_run["ops"]) > 0  # there were alerts to leak into
    # the curated data keeps the ids (masking is for what people read, not for the data)
    frame = wr.s3.read_parquet(
        f"s3://{stack.outputs['CuratedBucketName']}/curated/transactions/", dataset=True
    )
    assert set(frame["account_id"]) <= ids and len(set(frame["account_id"])) > 100
    leaked = {token for text in lines + alerts for token in re.findall(r"[A-Za-z0-9]+", text) if token in ids}
    assert leaked == set()
