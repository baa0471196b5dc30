"""functions/inventory_monitor/app.py imported directly: stream records in, partial batch out."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from tests.handlers.direct import DirectHandler, direct_handler, sample


@pytest.fixture(scope="module")
def monitor(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "InventoryMonitorFunction") as handler:
        yield handler


def fraud_alert_record(sequence: str) -> dict[str, Any]:
    """A stream record of another table (the FraudAlerts table's shape)."""
    return {
        "eventID": f"foreign-{sequence}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795305601,
            "Keys": {"transaction_id": {"S": "T1"}},
            "NewImage": {"transaction_id": {"S": "T1"}, "severity": {"S": "HIGH"}},
            "SequenceNumber": sequence,
            "SizeBytes": 60,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/FraudAlerts/stream/2026-11-22",
    }


def side_record(monitor: DirectHandler, sequence: str) -> dict[str, Any]:
    bucket = monitor.stack.outputs["QuarantineBucketName"]
    key = f"failed-records/inventory-monitor/{sequence}.json"
    return json.loads(monitor.stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_only_the_crossing_is_announced(monitor: DirectHandler) -> None:
    assert monitor(sample(monitor.stack, "inventory_monitor_stream_records.json")) == {
        "batchItemFailures": []
    }
    (low,) = monitor.logged("low stock")
    assert (low["on_hand"], low["reorder_threshold"], low["product_id"]) == (17, 20, "P0001")


def test_a_batch_of_foreign_records_is_answered_record_by_record(monitor: DirectHandler) -> None:
    # GIVEN a batch in which every record is of another table's shape
    event = {
        "Records": [fraud_alert_record("900000000000000000001"), fraud_alert_record("900000000000000000002")]
    }
    # WHEN the monitor gets it
    response = monitor(event)
    # THEN it answers batchItemFailures for both (no BatchProcessingError for the whole batch)...
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": "900000000000000000001"},
            {"itemIdentifier": "900000000000000000002"},
        ]
    }
    # ...logs each record's id and why...
    failed = monitor.logged("record failed")
    assert [f["record_id"] for f in failed] == ["900000000000000000001", "900000000000000000002"]
    assert all("store_id" in f["reason"] and f["field"] == "dynamodb" for f in failed)
    # ...and keeps the reason beside the sequence number the on-failure record will name
    parked = side_record(monitor, "900000000000000000002")
    assert parked["event_id"] == "foreign-900000000000000000002" and "on_hand" in parked["reason"]


def test_one_malformed_record_fails_alone(monitor: DirectHandler) -> None:
    event = copy.deepcopy(sample(monitor.stack, "inventory_monitor_stream_records.json", prepare=False))
    records = event["Records"]
    records[0]["dynamodb"]["NewImage"]["on_hand"] = {"S": "forty-eight"}
    response = monitor(event)
    assert response == {"batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}
    (failed,) = monitor.logged("record failed")
    assert "on_hand" in failed["reason"] and failed["error_type"] == "InvalidEvent"


@pytest.mark.parametrize("event", [{}, {"Records": "none"}, {"detail": {}}])
def test_an_event_that_is_not_a_batch_names_records(monitor: DirectHandler, event: Any) -> None:
    with pytest.raises(InvalidEvent) as err:
        monitor(event)
    assert err.value.field == "Records"
