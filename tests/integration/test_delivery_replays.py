"""Replays and the measured delivery defects of issue 8, through the real wiring.

Each test reproduces one measured defect (they failed before the delivery guarantees) or one
replay of the matrix: redelivered 3x, a new version of the same bytes, multipart, a new key,
SSE-KMS, a correction (same key, other bytes) and a republish while Glue is down.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from offline_runtime.emulator.session import drain, observe_topic
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.project import observe_bus
from tests.integration import faultkit as kit

DATASET = "transactions"


@pytest.fixture(scope="module")
def observed(stack: OfflineStack) -> dict[str, str]:
    return {
        "bus": observe_bus(stack, "replay-bus"),
        "ops": observe_topic(stack, stack.outputs["OpsTopicArn"], "replay-ops"),
        "fraud": observe_topic(stack, stack.outputs["FraudAlertsTopicArn"], "replay-fraud"),
    }


def deliver(stack: OfflineStack, tag: str, body: bytes | None = None, **put: Any) -> dict[str, Any]:
    event = kit.put_raw(stack, kit.raw_key(DATASET, tag), body or kit.transactions(tag), **put)
    stack.wait_idle(300)
    return event


def alerts_for(stack: OfflineStack, url: str, prefix: str) -> list[dict[str, Any]]:
    return [
        json.loads(m["Message"])
        for m in drain(stack, url)
        if json.loads(m["Message"])["transaction_id"].startswith(prefix)
    ]


def quarantined(stack: OfflineStack, url: str) -> list[dict[str, Any]]:
    return [e["detail"] for e in drain(stack, url) if e["detail-type"] == "DatasetQuarantined"]


def test_a_redelivered_event_publishes_once_and_alerts_once(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    tag, body = "501", kit.transactions("501")
    event = deliver(stack, tag, body)
    for _ in range(3):  # EventBridge / Lambda redeliver the same S3 event
        kit.invoke_async(stack, "IngestFunction", event)
    stack.wait_idle(300)
    counts = kit.curated_counts(stack, DATASET, kit.ids_in(body))
    assert len(counts) == len(kit.ids_in(body)) and set(counts.values()) == {1}
    assert len(alerts_for(stack, observed["fraud"], kit.alert_id(tag))) == 1
    record = kit.published_record(stack, DATASET, kit.run_of(event, DATASET))
    assert record is not None and record["status"] == "PUBLISHED"


@pytest.mark.parametrize(
    ("how", "put"),
    [
        ("multipart, same key", {"multipart": True}),
        ("new key", {}),
        ("new key, SSE-KMS", {"kms": True}),
        ("new key, multipart", {"multipart": True}),
    ],
)
def test_identical_bytes_again_are_a_duplicate_of_the_first_run(
    stack: OfflineStack, observed: dict[str, str], how: str, put: dict[str, Any]
) -> None:
    """Measured: the same bytes by multipart -> 2 copies; under a new key -> 3 copies."""
    tag = {"multipart, same key": "511", "new key": "512", "new key, SSE-KMS": "513"}.get(how, "514")
    body = kit.transactions(tag)
    first = deliver(stack, tag, body)
    drain(stack, observed["bus"])
    key = (
        kit.raw_key(DATASET, tag)
        if how == "multipart, same key"
        else f"transactions/{kit.DAY}/again-{tag}.csv"
    )
    again = kit.put_raw(stack, key, body, **put)
    stack.wait_idle(300)
    assert kit.run_of(again, DATASET) != kit.run_of(first, DATASET)  # another ETag: another run
    dups = quarantined(stack, observed["bus"])
    assert dups  # (offline, one multipart upload gives two Object Created events: two answers)
    for dup in dups:
        assert dup["reason_code"] == "DUPLICATE" and dup["stage"] == "ingest"
        assert dup["duplicate_of"]["run_id"] == kit.run_of(first, DATASET)
        assert dup["duplicate_of"]["source_key"] == kit.raw_key(DATASET, tag)
    counts = kit.curated_counts(stack, DATASET, kit.ids_in(body))
    assert len(counts) == len(kit.ids_in(body)) and set(counts.values()) == {1}
    assert not kit.staged_keys(stack, DATASET, kit.run_of(again, DATASET))


def test_the_same_bytes_as_a_new_version_of_the_key_change_nothing(stack: OfflineStack) -> None:
    tag, body = "521", kit.transactions("521")
    first = deliver(stack, tag, body)
    again = deliver(stack, tag, body)  # a new version id, the same ETag: the same run
    assert kit.run_of(again, DATASET) == kit.run_of(first, DATASET)
    counts = kit.curated_counts(stack, DATASET, kit.ids_in(body))
    assert len(counts) == len(kit.ids_in(body)) and set(counts.values()) == {1}


def test_a_correction_replaces_the_rows_of_its_key(stack: OfflineStack) -> None:
    """Same key, other bytes: the new file's rows replace the old file's (same ids, new amounts)."""
    tag = "531"
    old = deliver(stack, tag, kit.transactions(tag))
    corrected = kit.transactions(tag, amount_shift=100)
    new = deliver(stack, tag, corrected)
    counts = kit.curated_counts(stack, DATASET, kit.ids_in(corrected))
    assert len(counts) == len(kit.ids_in(corrected)) and set(counts.values()) == {1}
    replaced = kit.published_record(stack, DATASET, kit.run_of(old, DATASET))
    live = kit.published_record(stack, DATASET, kit.run_of(new, DATASET))
    assert replaced is not None and replaced["status"] == "SUPERSEDED"
    assert live is not None and live["replaces"] == kit.run_of(old, DATASET)
    assert live["rows_published"] == len(kit.ids_in(corrected)) and live["duplicates"]["rows"] == 0


def test_a_replayed_run_keeps_its_rows_while_glue_is_down(stack: OfflineStack) -> None:
    """Measured: replaying a published file while Glue fails for good took its rows to 0."""
    tag, body = "541", kit.transactions("541", n=295)
    event = deliver(stack, tag, body)
    ids = kit.ids_in(body)
    assert sum(kit.curated_counts(stack, DATASET, ids).values()) == 296
    sfn = stack.client("stepfunctions")
    arn = stack.outputs["PipelineStateMachineArn"]
    (execution,) = [
        e
        for e in (
            sfn.describe_execution(executionArn=x["executionArn"])
            for x in sfn.list_executions(stateMachineArn=arn, maxResults=1000)["executions"]
        )
        if json.loads(e["input"])["detail"]["run_id"] == kit.run_of(event, DATASET)
    ]
    stack.faults.fail("glue", "*", "InternalServiceException", times=None, function="PublishFunction")
    try:
        stack.start_execution("PipelineStateMachine", json.loads(execution["input"]))
        stack.wait_idle(300)
    finally:
        stack.faults.heal()
    counts = kit.curated_counts(stack, DATASET, ids)
    assert sum(counts.values()) == 296 and set(counts.values()) == {1}


def test_a_correction_that_fails_to_publish_leaves_the_previous_version_visible(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    """The new files are written first and removed again when the switch cannot happen."""
    tag = "542"
    old_body = kit.transactions(tag)
    deliver(stack, tag, old_body)
    drain(stack, observed["bus"])
    rule = stack.faults.fail(
        "s3",
        "PutObject",
        "InternalError",
        times=None,
        match={"Key": "published/*"},
        function="PublishFunction",
    )
    try:
        new = deliver(stack, tag, kit.transactions(tag, amount_shift=100))
    finally:
        stack.faults.heal()
    assert rule.injected >= 1
    (failed,) = quarantined(stack, observed["bus"])
    assert failed["stage"] == "failure" and failed["run_id"] == kit.run_of(new, DATASET)
    counts = kit.curated_counts(stack, DATASET, kit.ids_in(old_body))
    assert len(counts) == len(kit.ids_in(old_body)) and set(counts.values()) == {1}
    files = stack.client("s3").list_objects_v2(
        Bucket=stack.outputs["CuratedBucketName"], Prefix=f"curated/{DATASET}/"
    )["Contents"]
    assert not [f for f in files if kit.run_of(new, DATASET) in f["Key"]], (
        "the failed attempt's files are gone"
    )


def test_alerts_refused_by_sns_are_sent_by_the_redelivery(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    """Measured: PublishBatch failing in fraud scoring; after the fault healed and the event was
    redelivered, 0 of 3 alerts were sent (claimed before publishing, never released)."""
    tag, body = "551", kit.transactions("551", alerts=3)
    drain(stack, observed["fraud"])
    rule = stack.faults.fail(
        "sns", "PublishBatch", "InternalError", times=None, function="FraudScoringFunction"
    )
    try:
        deliver(stack, tag, body)
    finally:
        stack.faults.heal()
    assert rule.injected == 3  # the invocation and Lambda's two retries
    assert not alerts_for(stack, observed["fraud"], kit.alert_id(tag))
    parked = [f for f in stack.invoker.log.failures if f.logical_id == "FraudScoringFunction"]
    assert parked
    for failure in parked:
        stack.invoker.log.failures.remove(failure)
        kit.invoke_async(stack, "FraudScoringFunction", failure.request)  # the redrive
    stack.wait_idle(300)
    sent = alerts_for(stack, observed["fraud"], kit.alert_id(tag))
    assert sorted(a["transaction_id"] for a in sent) == sorted(
        [kit.alert_id(tag), kit.alert_id(tag) + "1", kit.alert_id(tag) + "2"]
    )


@pytest.mark.parametrize("key", ["manifests/*", "staging/*"])
def test_a_file_that_cannot_be_announced_leaves_nothing_staged_and_is_said(
    stack: OfflineStack, observed: dict[str, str], key: str
) -> None:
    """Measured: the manifest PutObject or PutEvents(DatasetStaged) failing for good -> staged
    Parquet and rejects left behind, no alert."""
    tag = "561" if key == "manifests/*" else "562"
    drain(stack, observed["ops"])
    stack.faults.fail(
        "s3", "PutObject", "InternalError", times=None, match={"Key": key}, function="IngestFunction"
    )
    try:
        event = deliver(stack, tag)
    finally:
        stack.faults.heal()
    run = kit.run_of(event, DATASET)
    assert not kit.staged_keys(stack, DATASET, run)
    alerts = [json.loads(m["Message"]) for m in drain(stack, observed["ops"])]
    if key == "manifests/*":  # staged first, then the manifest failed: undone and said, each attempt
        said = [a for a in alerts if a.get("run_id") == run]
        assert len(said) == 3 and all("Lambda retries the event" in a["next"] for a in said)
    parked = [
        m
        for m in kit.messages(stack, stack.outputs["IngestDeadLetterQueueUrl"])
        if run in json.dumps(m) or kit.raw_key(DATASET, tag) in json.dumps(m)
    ]
    assert len(parked) == 1  # and the event is parked in the ingest DLQ


def test_the_put_events_of_a_staged_file_failing_for_good_is_said(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    tag = "563"
    drain(stack, observed["ops"])
    stack.faults.fail(
        "events",
        "PutEvents",
        "InternalError",
        times=None,
        match={"Entries": lambda e: any(x.get("DetailType") == "DatasetStaged" for x in e or [])},
    )
    try:
        event = deliver(stack, tag)
    finally:
        stack.faults.heal()
    run = kit.run_of(event, DATASET)
    assert not kit.staged_keys(stack, DATASET, run)
    said = [json.loads(m["Message"]) for m in drain(stack, observed["ops"])]
    assert len([a for a in said if a.get("run_id") == run]) == 3
    assert [
        m
        for m in kit.messages(stack, stack.outputs["IngestDeadLetterQueueUrl"])
        if kit.raw_key(DATASET, tag) in json.dumps(m)
    ]
