"""functions/ingest/app.py imported directly, on its events/ files and on foreign S3 events."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from offline_runtime.emulator.session import drain, observe_topic
from offline_runtime.scenario.project import observe_bus
from tests.handlers.direct import EVENTS, DirectHandler, direct_handler, eventbridge, raw_sample, sample


@pytest.fixture(scope="module")
def ingest(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "IngestFunction") as handler:
        yield handler


def test_sample_file_is_staged_and_every_row_accounted_for(ingest: DirectHandler) -> None:
    r = ingest(sample(ingest.stack, "ingest_transactions_csv.json"))
    lines = (EVENTS / "data" / "pos-S001.csv").read_bytes().count(b"\n") - 1  # data lines under the header
    captured = raw_sample("statemachine_dataset_staged.json")["detail"]["counts"]
    assert r["status"] == "STAGED" and r["rows_in"] == lines == captured["rows_in"]
    assert (
        r["rows_in"] == r["rows_valid"] + r["rows_rejected"]
        and r["rows_rejected"] == captured["rows_rejected"]
    )
    s3 = ingest.stack.client("s3")
    s3.head_object(Bucket=r["staged"]["bucket"], Key=r["staged"]["key"])
    (staged,) = ingest.logged("file staged")
    key = raw_sample("ingest_transactions_csv.json")["detail"]["object"]["key"]
    assert staged["source_key"] == key and staged["rows_valid"] == captured["rows_valid"]


def test_broken_gzip_is_quarantined_not_raised(ingest: DirectHandler) -> None:
    r = ingest(sample(ingest.stack, "ingest_broken_gzip.json"))
    assert (r["status"], r["reason_code"]) == ("FILE_QUARANTINED", "MALFORMED_GZIP")


@pytest.mark.parametrize("detail_type", ["Object Deleted", "Object Restore Completed", "Object Tags Added"])
def test_other_s3_events_are_ignored_logged_and_counted(
    ingest: DirectHandler, detail_type: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an S3 event of another kind for an object of a dataset prefix (no etag, as AWS sends it)
    event = sample(ingest.stack, "ingest_transactions_csv.json", prepare=False)
    event["detail-type"] = detail_type
    event["detail"]["object"] = {"key": "transactions/2026-11-21/deleted.csv", "sequencer": "0061"}
    event["detail"]["reason"] = "DeleteObject"
    # WHEN it reaches ingest
    r = ingest(event)
    # THEN nothing is staged: it is ignored, with a log line and the EventsIgnored metric
    assert r["status"] == "IGNORED" and detail_type in r["reason"]
    assert r["key"] == "transactions/2026-11-21/deleted.csv"
    (line,) = ingest.logged("event ignored")
    assert line["level"] == "WARNING" and line["detail_type"] == detail_type
    assert '"EventsIgnored":[1.0]' in capsys.readouterr().out  # the EMF line Powertools prints
    curated = ingest.stack.outputs["CuratedBucketName"]
    keys = [o["Key"] for o in ingest.stack.client("s3").list_objects_v2(Bucket=curated).get("Contents", [])]
    assert not [k for k in keys if "deleted" in k]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e["detail"]["object"].pop("key"), "detail.object.key"),
        (lambda e: e["detail"].pop("bucket"), "detail.bucket"),
        (lambda e: e["detail"]["object"].update(etag=None), "detail.object.etag"),
        (lambda e: e.pop("detail"), "detail"),
        (lambda e: e.update(time="yesterday"), "time"),
    ],
)
def test_malformed_object_created_names_the_field(ingest: DirectHandler, mutate: Any, field: str) -> None:
    event = copy.deepcopy(sample(ingest.stack, "ingest_transactions_csv.json", prepare=False))
    mutate(event)
    with pytest.raises(InvalidEvent) as err:
        ingest(event)
    assert err.value.field == field and field in str(err.value)
    (line,) = ingest.logged("invalid event")
    assert line["level"] == "ERROR" and line["field"] == field


def test_an_s3_notification_not_via_eventbridge_names_what_is_missing(ingest: DirectHandler) -> None:
    # the S3 -> Lambda notification shape ({"Records": [...]}) is another source's event
    event = {"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": "transactions/x.csv"}}}]}
    with pytest.raises(InvalidEvent) as err:
        ingest(event)
    assert {"detail-type", "detail", "source"} <= set(err.value.problems_dict())


def test_an_eventbridge_event_of_another_source_is_ignored(ingest: DirectHandler) -> None:
    r = ingest(eventbridge("DatasetStaged", "retail.datapipe", {"dataset": "transactions"}))
    assert r["status"] == "IGNORED" and "retail.datapipe" in r["reason"]


def test_an_alert_over_the_sns_limit_is_truncated_with_a_pointer_to_the_full_one(
    ingest: DirectHandler,
) -> None:
    # GIVEN a raw file whose ~200 KB header lacks the required columns (the alert was once ~310 KB:
    # now the reason lists the first found columns and counts the rest; the alert stays small)
    stack = ingest.stack
    raw, key = stack.outputs["RawBucketName"], "transactions/2026-11-21/wide-header.csv"
    header = ",".join(f"column_{i:06d}_{'x' * 12}" for i in range(10_000))
    s3 = stack.client("s3")
    etag = s3.put_object(Bucket=raw, Key=key, Body=(header + "\n" + "1," * 9_999 + "1\n").encode())["ETag"]
    ops = observe_topic(stack, stack.outputs["OpsTopicArn"], "direct-ingest-ops")
    bus = observe_bus(stack, "direct-ingest-bus")
    event = sample(stack, "ingest_transactions_csv.json", prepare=False)
    event["detail"]["object"].update(key=key, etag=etag.strip('"'), size=len(header))
    # WHEN ingest quarantines it
    r = ingest(event)
    stack.wait_idle(60)
    # THEN the operators get an alert within SNS's limit, pointing at the whole reason in S3
    assert r["status"] == "FILE_QUARANTINED" and r["reason"].endswith("(truncated)")
    (alert,) = drain(stack, ops)
    assert len(alert["Message"].encode()) <= 262_144
    body = json.loads(alert["Message"])
    assert body["reason_code"] == r["reason_code"] == "MISSING_REQUIRED_COLUMNS"
    pointer = body["reason_object"]
    assert pointer["bucket"] == stack.outputs["QuarantineBucketName"] and pointer["key"].endswith(
        "/reason.json"
    )
    full = json.loads(s3.get_object(Bucket=pointer["bucket"], Key=pointer["key"])["Body"].read())
    assert full["reason"].startswith(r["reason"][:900]) and "... and 9970 more" in full["reason"]
    # AND so does the DatasetQuarantined event on the bus (EventBridge's 256 KB entry limit)
    (event,) = [e for e in drain(stack, bus) if e["detail-type"] == "DatasetQuarantined"]
    assert len(json.dumps(event["detail"]).encode()) <= 262_144
    assert event["detail"]["run_id"] == r["run_id"] and event["detail"]["reason_object"] == pointer
    # AND the log line stays within a CloudWatch log event
    (logged,) = ingest.logged("file quarantined")
    assert len(json.dumps(logged).encode()) < 65_536 and logged["reason"] == r["reason"]
