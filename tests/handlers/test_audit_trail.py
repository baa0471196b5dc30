"""functions/audit_trail/app.py imported directly: any business event -> one line in the trail."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from tests.handlers.direct import DirectHandler, direct_handler, sample


@pytest.fixture(scope="module")
def audit(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "AuditTrailFunction") as handler:
        yield handler


def test_event_becomes_one_json_line_in_its_partition(audit: DirectHandler) -> None:
    event = sample(audit.stack, "audit_trail_low_stock_event.json")
    r = audit(event)
    assert r["key"] == f"audit/detail_type=LowStockDetected/event_date=2026-11-22/{event['id']}.json"
    body = audit.stack.client("s3").get_object(Bucket=audit.stack.outputs["CuratedBucketName"], Key=r["key"])[
        "Body"
    ]
    (line,) = body.read().splitlines()
    assert json.loads(json.loads(line)["detail"])["crossing_id"] == "3f2a9c1e5b7d4a6f8e0c1b2a"
    partitions = audit.stack.client("glue").get_partitions(
        DatabaseName=audit.stack.outputs["GlueDatabaseName"], TableName="pipeline_events"
    )["Partitions"]
    assert ["LowStockDetected", "2026-11-22"] in [p["Values"] for p in partitions]


@pytest.mark.parametrize("missing", ["id", "time", "detail-type", "detail"])
def test_an_event_missing_an_envelope_field_names_it(audit: DirectHandler, missing: str) -> None:
    event = sample(audit.stack, "audit_trail_low_stock_event.json", prepare=False)
    del event[missing]
    with pytest.raises(InvalidEvent) as err:
        audit(event)
    assert err.value.field == missing


def test_an_sns_event_is_not_an_eventbridge_event(audit: DirectHandler) -> None:
    event = sample(audit.stack, "case_management_fraud_alert_sns.json", prepare=False)
    with pytest.raises(InvalidEvent) as err:
        audit(event)
    assert "detail-type" in err.value.problems_dict()
