"""Alerts and events within the 256 KB limits: truncated with a pointer to the full payload."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from datapipe.aws import Alert, EventBridgeBus, S3ObjectStore, SnsBatchPublisher, SnsNotifier
from datapipe.payloads import (
    BUDGET_BYTES,
    PayloadOffload,
    PayloadTooLarge,
    compact_json,
    fit,
    shrink,
    utf8_size,
)

POINTER = {"bucket": "b", "key": "oversize/x.json", "bytes": 1, "sha256": "0" * 64}
LIMIT = 262_144


def random_json(rng: random.Random, depth: int = 0) -> Any:
    """A JSON value of up to a few hundred KB: long strings, wide lists and dicts, nesting."""
    kinds = ["str", "int", "float", "bool", "none", "list", "dict"] if depth < 3 else ["str", "int", "none"]
    kind = rng.choice(kinds)
    if kind == "str":
        sizes = [0, 5, 300, 5000] + ([150_000] if depth == 0 else [])
        return "".join(rng.choices(string.printable + "éü€😀", k=rng.choice(sizes)))
    if kind == "int":
        return rng.randint(-(10**12), 10**12)
    if kind == "float":
        return rng.random()
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "none":
        return None
    if kind == "list":
        return [random_json(rng, depth + 1) for _ in range(rng.choice([0, 3, 30]))]
    return {f"k{i}_{rng.randint(0, 99)}": random_json(rng, depth + 1) for i in range(rng.choice([1, 4, 30]))}


@pytest.mark.parametrize("seed", range(100))
def test_shrunk_payloads_fit_their_budget_and_account_for_every_field(seed: int) -> None:
    rng = random.Random(seed)
    payload = {f"field{i}": random_json(rng) for i in range(rng.randint(1, 12))}
    budget = rng.choice([2_000, 20_000, BUDGET_BYTES])
    out = shrink(payload, budget, POINTER)
    assert utf8_size(compact_json(out)) <= budget
    assert out["truncated"] is True and out["full_payload"] == POINTER
    for key, value in payload.items():
        assert key in out or key in out.get("omitted_fields", []), key
        if key in out and (isinstance(value, (int, float, bool)) or value is None):
            assert out[key] == value, key


def test_short_fields_survive_and_long_ones_are_cut() -> None:
    payload = {
        "dataset": "transactions",
        "reason_code": "MISSING_COLUMNS",
        "rows": 3,
        "reason": "h" * 400_000,
    }
    out = shrink(payload, BUDGET_BYTES, POINTER)
    assert {k: out[k] for k in ("dataset", "reason_code", "rows")} == {
        "dataset": "transactions",
        "reason_code": "MISSING_COLUMNS",
        "rows": 3,
    }
    assert out["reason"].startswith("hhh") and out["reason"].endswith("[400000 characters]")


def test_a_payload_within_budget_is_sent_as_is_and_nothing_is_offloaded() -> None:
    payload = {"a": 1}
    assert fit(payload, 100, "kind", None) == (payload, '{"a":1}')


def test_an_oversize_payload_without_a_bucket_is_refused_before_sending() -> None:
    with pytest.raises(PayloadTooLarge, match="no bucket to offload to"):
        fit({"a": "x" * 300}, 100, "sns/ops", None)


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="quarantine")
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="ops")["TopicArn"]
        queue = sqs.create_queue(QueueName="ops-observer")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        events = boto3.client("events", region_name="us-east-1")
        events.create_event_bus(Name="bus")
        events.put_rule(
            Name="all", EventBusName="bus", EventPattern=json.dumps({"source": ["retail.datapipe"]})
        )
        bus_queue = sqs.create_queue(QueueName="bus-observer")["QueueUrl"]
        bus_arn = sqs.get_queue_attributes(QueueUrl=bus_queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_targets(Rule="all", EventBusName="bus", Targets=[{"Id": "q", "Arn": bus_arn}])
        store = S3ObjectStore(s3)
        yield {
            "s3": s3,
            "sqs": sqs,
            "topic": topic,
            "queue": queue,
            "bus_queue": bus_queue,
            "offload": PayloadOffload(store, "quarantine"),
        }


def received(aws: dict[str, Any], queue: str) -> list[str]:
    out: list[str] = []
    while msgs := aws["sqs"].receive_message(QueueUrl=aws[queue], MaxNumberOfMessages=10).get("Messages", []):
        for m in msgs:
            out.append(m["Body"])
            aws["sqs"].delete_message(QueueUrl=aws[queue], ReceiptHandle=m["ReceiptHandle"])
    return out


def full_payload(aws: dict[str, Any], pointer: dict[str, Any]) -> Any:
    return json.loads(aws["s3"].get_object(Bucket=pointer["bucket"], Key=pointer["key"])["Body"].read())


def test_an_ops_alert_over_the_limit_arrives_truncated_with_its_full_version_in_s3(
    aws: dict[str, Any],
) -> None:
    message = {"dataset": "transactions", "reason": "columns: " + ",".join(f"c{i}" for i in range(60_000))}
    assert utf8_size(json.dumps(message, indent=2)) > LIMIT
    SnsNotifier(aws["topic"], aws["offload"]).notify("[dev] file quarantined\n(header)", message, "HIGH")
    (body,) = received(aws, "queue")
    assert utf8_size(body) <= BUDGET_BYTES
    sent = json.loads(body)
    assert sent["truncated"] is True and sent["dataset"] == "transactions"
    assert sent["full_payload"]["key"].startswith("oversize/sns/ops/")
    assert full_payload(aws, sent["full_payload"]) == message


def test_an_alert_within_the_limit_is_sent_whole(aws: dict[str, Any]) -> None:
    SnsNotifier(aws["topic"], aws["offload"]).notify("subject", {"a": 1}, "LOW")
    assert [json.loads(b) for b in received(aws, "queue")] == [{"a": 1}]
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket="quarantine")


def test_an_event_over_the_limit_is_truncated_with_a_pointer(aws: dict[str, Any]) -> None:
    detail = {"run_id": "r1", "problems": [f"row {i}: value out of range" for i in range(20_000)]}
    EventBridgeBus("bus", "retail.datapipe", aws["offload"]).put("DatasetQuarantined", detail)
    (body,) = received(aws, "bus_queue")
    event = json.loads(body)
    assert utf8_size(json.dumps(event["detail"])) <= BUDGET_BYTES
    assert event["detail"]["run_id"] == "r1" and event["detail"]["truncated"] is True
    assert len(event["detail"]["problems"]) == 21  # 20 shown, then "… 19980 more items"
    assert full_payload(aws, event["detail"]["full_payload"]) == detail


def test_publish_batch_chunks_by_count_and_by_aggregate_size(aws: dict[str, Any]) -> None:
    # 25 alerts of ~30 KB: ten per call would be ~300 KB, over PublishBatch's 256 KB per request
    alerts = [
        Alert(
            f"T{i}",
            {"transaction_id": f"T{i}", "note": "n" * 30_000},
            {"severity": {"DataType": "String", "StringValue": "HIGH"}},
        )
        for i in range(25)
    ]
    calls: list[int] = []
    client = boto3.client("sns", region_name="us-east-1")
    original = client.publish_batch

    def counting(**kwargs: Any) -> Any:
        entries = kwargs["PublishBatchRequestEntries"]
        calls.append(sum(utf8_size(e["Message"]) for e in entries))
        assert len(entries) <= 10
        return original(**kwargs)

    client.publish_batch = counting  # type: ignore[method-assign]
    assert SnsBatchPublisher(aws["topic"], aws["offload"], client).publish(alerts) == []
    assert all(size <= LIMIT for size in calls) and len(calls) >= 3
    assert sorted(json.loads(b)["transaction_id"] for b in received(aws, "queue")) == sorted(
        f"T{i}" for i in range(25)
    )
