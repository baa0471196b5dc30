"""Every path of the quality-gate state machine, driven by realistic files through the real wiring."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import ClientError

from offline_runtime.emulator.session import drain, observe_topic, run_state_machine, state_path
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario import datagen
from offline_runtime.scenario.project import observe_bus

# "Today" is the latest day already over: a file of the calendar day's rows, uploaded before that
# day ends, holds rows after its arrival (refused as future-dated), and the suite runs at any hour.
TODAY = datetime.now(UTC).date() - timedelta(days=1)
YESTERDAY = TODAY - timedelta(days=1)
ACCOUNTS = datagen._accounts(random.Random(1), 500)


@pytest.fixture(scope="module")
def observed(stack: OfflineStack) -> dict[str, str]:
    return {
        "bus": observe_bus(stack, "sm-observer"),
        "ops": observe_topic(stack, stack.outputs["OpsTopicArn"], "sm-ops"),
    }


def upload(stack: OfflineStack, key: str, body: bytes) -> dict[str, Any]:
    """Drop a raw file, wait for the pipeline, return the execution it started (or None)."""
    sfn = stack.client("stepfunctions")
    arn = stack.outputs["PipelineStateMachineArn"]
    before = {e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]}
    stack.client("s3").put_object(Bucket=stack.outputs["RawBucketName"], Key=key, Body=body)
    stack.wait_idle(120)
    new = [
        e for e in sfn.list_executions(stateMachineArn=arn)["executions"] if e["executionArn"] not in before
    ]
    assert len(new) == 1, f"expected one execution for {key}, got {len(new)}"
    desc = sfn.describe_execution(executionArn=new[0]["executionArn"])
    desc["states"] = state_path(desc["executionArn"], stack)
    return desc


def tx_file(store: str, day: Any, n: int, bad_rate: float, seed: int, **kw: Any) -> bytes:
    body, _ = datagen.transactions_csv(store, "CA", day, n, ACCOUNTS, random.Random(seed), bad_rate, **kw)
    return body


def test_good_file_is_published(stack: OfflineStack, observed: dict[str, str]) -> None:
    desc = upload(stack, f"transactions/{YESTERDAY}/pos-S101.csv", tx_file("S101", YESTERDAY, 600, 0.01, 1))
    assert desc["status"] == "SUCCEEDED"
    assert "EnhancedValidation" not in desc["states"]
    assert desc["states"][-3:] == ["PublishDataset", "EmitPublished", "Published"]
    out = json.loads(desc["output"])
    assert out["final"]["assessment"]["score"] >= 0.9
    (published,) = [
        e
        for e in drain(stack, observed["bus"])
        if e["detail-type"] == "DatasetPublished" and e["detail"]["run_id"] == out["staged"]["run_id"]
    ]
    assert published["detail"]["rows_published"] == out["staged"]["counts"]["rows_valid"]


def test_stale_file_goes_through_enhanced_validation_and_is_published(stack: OfflineStack) -> None:
    # GIVEN S102 delivered a normal day before (its history), and now a late but complete older day
    upload(stack, f"transactions/{YESTERDAY}/pos-S102.csv", tx_file("S102", YESTERDAY, 600, 0.0, 20))
    old = TODAY - timedelta(days=6)
    desc = upload(stack, f"transactions/{YESTERDAY}/pos-S102-resend.csv", tx_file("S102", old, 600, 0.0, 2))
    assert desc["status"] == "SUCCEEDED"
    assert [
        s
        for s in desc["states"]
        if s in ("QualityGate", "EnhancedValidation", "EnhancedGate", "PublishDataset")
    ] == ["QualityGate", "EnhancedValidation", "EnhancedGate", "PublishDataset"]
    out = json.loads(desc["output"])
    checks = {c["name"]: c for c in out["final"]["assessment"]["checks"]}
    assert checks["freshness"]["score"] == 0.0 and checks["freshness"]["passed"]  # informational
    (s102,) = checks["volume"]["details"]["sources"]
    assert s102["source"] == "S102" and s102["baseline_rows"] == 600  # its own history
    assert out["final"]["assessment"]["all_passed"]
    assert 0.75 <= out["final"]["assessment"]["score"] < 0.9
    assert out["enhanced"]["history"]["enhanced"]["passed"]


def test_file_far_from_its_sources_history_is_quarantined_below_minimum(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    # GIVEN S103's usual day of 600 rows, then a day of 4,000 (a doubled or merged export); both
    # days are over (a file dated today holds events later than now early in the UTC day, rejected)
    before = YESTERDAY - timedelta(days=1)
    upload(stack, f"transactions/{before}/pos-S103.csv", tx_file("S103", before, 600, 0.0, 30))
    drain(stack, observed["bus"])
    desc = upload(stack, f"transactions/{YESTERDAY}/pos-S103.csv", tx_file("S103", YESTERDAY, 4000, 0.0, 3))
    assert desc["status"] == "SUCCEEDED"
    assert "CheckBelowMinimum" in desc["states"] and "EnhancedValidation" not in desc["states"]
    assert desc["states"][-4:] == ["QuarantineDataset", "NotifyQuarantine", "EmitQuarantined", "Quarantined"]
    (event,) = [e for e in drain(stack, observed["bus"]) if e["detail-type"] == "DatasetQuarantined"]
    assert event["detail"]["reason_code"] == "CHECK_BELOW_MINIMUM"
    assert "volume" in event["detail"]["reason"]
    s3 = stack.client("s3")
    staged = json.loads(desc["input"])["detail"]["staged"]
    with pytest.raises(ClientError):
        s3.head_object(Bucket=staged["bucket"], Key=staged["key"])  # moved out of staging
    s3.head_object(Bucket=event["detail"]["quarantine"]["bucket"], Key=event["detail"]["quarantine"]["key"])


def test_late_resend_of_a_delivered_day_is_quarantined_as_a_cross_file_duplicate(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    # GIVEN S107's day was published; the same day (the same transaction ids) comes again under a
    # new name, days later
    old = TODAY - timedelta(days=5)
    upload(stack, f"transactions/{old}/pos-S107.csv", tx_file("S107", old, 500, 0.0, 40))
    drain(stack, observed["bus"])
    desc = upload(stack, f"transactions/{TODAY}/pos-S107-resend.csv", tx_file("S107", old, 500, 0.0, 41))
    # THEN the id registry finds every id published already: below the check's minimum, quarantined
    assert "CheckBelowMinimum" in desc["states"] and desc["states"][-1] == "Quarantined"
    checks = {c["name"]: c for c in json.loads(desc["output"])["final"]["assessment"]["checks"]}
    assert checks["cross_file_uniqueness"]["score"] == 0.0 and not checks["cross_file_uniqueness"]["passed"]
    (event,) = [e for e in drain(stack, observed["bus"]) if e["detail-type"] == "DatasetQuarantined"]
    assert event["detail"]["reason_code"] == "CHECK_BELOW_MINIMUM"
    assert "cross_file_uniqueness" in event["detail"]["reason"]


def test_systematically_broken_file_is_vetoed(stack: OfflineStack, observed: dict[str, str]) -> None:
    drain(stack, observed["ops"])
    body = tx_file("S104", YESTERDAY, 800, 0.3, 4, bad_kinds=(8,))
    desc = upload(stack, f"transactions/{YESTERDAY}/pos-S104.csv", body)
    assert "CriticalCheckFailed" in desc["states"] and desc["states"][-1] == "Quarantined"
    assessment = json.loads(desc["output"])["final"]["assessment"]
    assert "validity" in assessment["vetoes"]
    alerts = drain(stack, observed["ops"])
    (alert,) = alerts
    assert alert["MessageAttributes"]["severity"]["Value"] == "HIGH"
    assert "below critical limit 0.8" in json.loads(alert["Message"])["reason"]


@pytest.mark.parametrize("store_id, manifest", [("S105", "counted"), ("S115", "older")])
def test_schema_mismatch_quarantines_before_other_checks(
    stack: OfflineStack, store_id: str, manifest: str
) -> None:
    # GIVEN a staged dataset whose Parquet no longer matches the contract (amount became text), and
    # a manifest whose counted schema says so ("counted"), or one from before ingest counted the
    # staged rows ("older": the schema validator reads the Parquet itself)
    key = f"transactions/{YESTERDAY}/pos-{store_id}.csv"
    desc = upload(stack, key, tx_file(store_id, YESTERDAY, 100, 0.0, 5))
    event = json.loads(desc["input"])
    staged = event["detail"]["staged"]
    s3 = stack.client("s3")
    s3.copy_object(
        CopySource={"Bucket": staged["bucket"], "Key": staged["key"]},
        Bucket=staged["bucket"],
        Key=staged["key"] + ".bak",
    )  # publish leaves staging intact
    table = pq.read_table(
        io.BytesIO(s3.get_object(Bucket=staged["bucket"], Key=staged["key"])["Body"].read())
    )
    broken = table.set_column(
        table.schema.get_field_index("amount"), "amount", table.column("amount").cast(pa.string())
    )
    buf = io.BytesIO()
    pq.write_table(broken, buf)
    s3.put_object(Bucket=staged["bucket"], Key=staged["key"], Body=buf.getvalue())
    loc = event["detail"]["manifest"]
    man = json.loads(s3.get_object(Bucket=loc["bucket"], Key=loc["key"])["Body"].read())
    if manifest == "older":
        del man["quality_inputs"]
    else:
        man["quality_inputs"]["schema"] = [[f.name, str(f.type)] for f in broken.schema]
    s3.put_object(Bucket=loc["bucket"], Key=loc["key"], Body=json.dumps(man).encode())
    # WHEN the state machine runs on it
    result = run_state_machine(stack, "PipelineStateMachine", event)
    # THEN schema validation stops it and nothing else runs
    states = state_path(result["executionArn"], stack)
    assert "SchemaRejected" in states and "ParallelChecks" not in states
    out = json.loads(result["output"])
    assert out["decision"]["reason_code"] == "SCHEMA_MISMATCH"
    assert any("amount" in p for p in out["decision"]["quality"]["checks"][0]["details"]["problems"])


def test_publish_failure_takes_the_failure_path(stack: OfflineStack, observed: dict[str, str]) -> None:
    # GIVEN the curated inventory table already types quantity_change as text
    glue = stack.client("glue")
    glue.create_table(
        DatabaseName=stack.outputs["GlueDatabaseName"],
        TableInput={
            "Name": "inventory_movements",
            "TableType": "EXTERNAL_TABLE",
            "StorageDescriptor": {
                "Columns": [
                    {"Name": "movement_id", "Type": "string"},
                    {"Name": "quantity_change", "Type": "string"},
                ],
                "Location": "s3://elsewhere/",
            },
            "PartitionKeys": [{"Name": "event_date", "Type": "string"}],
        },
    )
    drain(stack, observed["ops"])
    drain(stack, observed["bus"])
    body, _ = datagen.inventory_csv("S101", YESTERDAY, 200, random.Random(6), 0.0)
    desc = upload(stack, f"inventory_movements/{YESTERDAY}/S101.csv", body)
    # THEN publish fails (no retry of a non-transient error), staged data is quarantined, ops alerted
    assert desc["status"] == "FAILED" and desc["error"] == "PipelineFailed"
    assert desc["states"][-4:] == [
        "HandleFailure",
        "AlertOpsQuarantined",
        "EmitFailureQuarantined",
        "PipelineFailed",
    ]
    assert desc["states"].count("PublishDataset") == 1
    alerts = drain(stack, observed["ops"])
    assert [a["MessageAttributes"]["severity"]["Value"] for a in alerts] == ["CRITICAL"]
    assert "SchemaEvolutionError" in alerts[0]["Message"]
    assert "quantity_change: string in" in alerts[0]["Message"]
    (q,) = [e for e in drain(stack, observed["bus"]) if e["detail-type"] == "DatasetQuarantined"]
    assert q["detail"]["stage"] == "failure" and q["detail"]["reason_code"] == "PIPELINE_ERROR"


def test_transient_errors_are_retried(stack: OfflineStack, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN S3 throttles the first read of the manifest (the schema validator's: it checks the
    # schema ingest recorded there)
    from datapipe.aws import S3ObjectStore

    real = S3ObjectStore.get
    throttled: list[str] = []

    def flaky(self: S3ObjectStore, bucket: str, key: str, version_id: str | None = None) -> Any:
        if key.startswith("manifests/transactions/") and not throttled:
            throttled.append(key)
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate"}}, "GetObject"
            )
        return real(self, bucket, key, version_id)

    monkeypatch.setattr(S3ObjectStore, "get", flaky)
    desc = upload(stack, f"transactions/{YESTERDAY}/pos-S106.csv", tx_file("S106", YESTERDAY, 100, 0.0, 7))
    # THEN the task is retried and the dataset published
    assert desc["status"] == "SUCCEEDED" and desc["states"][-1] == "Published"
    history = stack.client("stepfunctions").get_execution_history(executionArn=desc["executionArn"])["events"]
    scheduled = [
        e
        for e in history
        if e["type"] == "TaskScheduled"
        and stack.physical["SchemaValidatorFunction"] in e["taskScheduledEventDetails"]["parameters"]
    ]
    assert len(scheduled) == 2 and len(throttled) == 1
