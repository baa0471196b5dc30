"""functions/daily_report/app.py imported directly: a day with data, and a catalog without any."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from offline_runtime.emulator.session import drain
from offline_runtime.scenario.project import observe_bus
from tests.handlers.direct import DirectHandler, direct_handler, eventbridge, sample


@pytest.fixture(scope="module")
def daily(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "DailyReportFunction") as handler:
        yield handler


@pytest.fixture(scope="module")
def fresh_daily(handlers_stack: Any) -> Iterator[DirectHandler]:
    """The function on a catalog as a fresh deployment has it: the template's pipeline_events table
    (empty), no curated table yet (the first nights after a deploy)."""
    glue = handlers_stack.client("glue")
    template_db = handlers_stack.outputs["GlueDatabaseName"]
    fresh = f"fresh_{uuid.uuid4().hex[:8]}"
    glue.create_database(DatabaseInput={"Name": fresh})
    audit = glue.get_table(DatabaseName=template_db, Name="pipeline_events")["Table"]
    storage = {
        **audit["StorageDescriptor"],
        "Location": f"s3://{handlers_stack.outputs['CuratedBucketName']}/{fresh}/audit/",
    }
    glue.create_table(
        DatabaseName=fresh,
        TableInput={
            "Name": "pipeline_events",
            "TableType": audit.get("TableType", "EXTERNAL_TABLE"),
            "Parameters": audit.get("Parameters", {}),
            "PartitionKeys": audit["PartitionKeys"],
            "StorageDescriptor": storage,
        },
    )
    with direct_handler(handlers_stack, "DailyReportFunction", {"GLUE_DATABASE": fresh}) as handler:
        yield handler


def test_a_day_with_a_low_stock_crossing(daily: DirectHandler) -> None:
    # GIVEN the audit trail holds one event of 2026-11-22: a low-stock crossing
    with direct_handler(daily.stack, "AuditTrailFunction") as audit:
        audit(sample(daily.stack, "audit_trail_low_stock_event.json"))
    bus = observe_bus(daily.stack, "direct-daily")
    # WHEN the schedule fires on 2026-11-23
    r = daily(sample(daily.stack, "daily_report_schedule.json"))
    # THEN the report counts it, is stored, and DailyReportReady says so
    assert (r["report_date"], r["status"], r["low_stock_crossings"], r["stock_outs"]) == (
        "2026-11-22",
        "READY",
        1,
        0,
    )
    (ready,) = [e for e in drain(daily.stack, bus) if e["detail-type"] == "DailyReportReady"]
    assert ready["detail"]["low_stock_crossings"] == 1


def test_a_fresh_catalog_gives_an_explicit_no_data_report(fresh_daily: DirectHandler) -> None:
    bus = observe_bus(fresh_daily.stack, "direct-daily-fresh")
    r = fresh_daily(sample(fresh_daily.stack, "daily_report_schedule.json"))
    assert r["status"] == "NO_DATA" and r["missing_tables"] == ["transactions"]
    assert "transactions" in r["reason"] and r["transactions"] == 0 and r["sales"] == "0"
    (event,) = [e for e in drain(fresh_daily.stack, bus) if e["detail-type"].startswith("DailyReport")]
    assert event["detail-type"] == "DailyReportNoData" and event["detail"]["status"] == "NO_DATA"
    s3 = fresh_daily.stack.client("s3")
    summary = s3.get_object(Bucket=r["location"]["bucket"], Key=r["location"]["prefix"] + "summary.json")
    assert json.loads(summary["Body"].read())["status"] == "NO_DATA"  # the weekly report sees the day


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (eventbridge("DatasetPublished", "retail.datapipe", {}), "detail-type"),
        ({"time": "2026-11-23T01:00:00Z"}, "id"),
        (eventbridge("Scheduled Event", "aws.events", {}, time="tomorrow"), "time"),
    ],
)
def test_an_event_that_is_not_a_schedule_names_the_field(
    daily: DirectHandler, event: Any, field: str
) -> None:
    with pytest.raises(InvalidEvent) as err:
        daily(event)
    assert field in err.value.problems_dict()
