"""A second SAM app, written for these tests, deployed and run by the offline runtime end to end."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from offline_runtime.emulator.session import run_state_machine, state_path
from offline_runtime.emulator.stack import OfflineStack


def _item(stack: OfflineStack, pk: str) -> dict[str, Any] | None:
    table = stack.client("dynamodb")
    got = table.get_item(TableName=stack.outputs["OrdersTableName"], Key={"pk": {"S": pk}})
    return got.get("Item")


def test_every_resource_of_the_template_is_created(orders: OfflineStack) -> None:
    assert orders.cfn.unsupported == {}
    types = set(orders.resource_types.values())
    assert {
        "AWS::Lambda::LayerVersion",
        "AWS::SQS::Queue",
        "AWS::SNS::Subscription",
        "AWS::Events::Rule",
        "AWS::Scheduler::Schedule",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::StepFunctions::StateMachine",
    } <= types
    assert "ProdOnly" not in orders.outputs  # its Condition is false with the default Env
    env = orders.client("lambda").get_function_configuration(FunctionName=orders.physical["PriceFunction"])
    assert env["Environment"]["Variables"]["MAX_ITEMS"] == "10"  # Fn::FindInMap [Limits, test, MaxItems]


def test_state_machine_choice_and_service_integrations(orders: OfflineStack) -> None:
    large = run_state_machine(
        orders, "OrderFlow", {"order_id": "big-1", "items": [{"price": "60", "qty": 2}]}
    )
    small = run_state_machine(orders, "OrderFlow", {"order_id": "small-1", "items": [{"price": "5"}]})
    assert large["status"] == small["status"] == "SUCCEEDED"
    assert "RecordForReview" in state_path(large["executionArn"], orders)
    assert "RecordAccepted" in state_path(small["executionArn"], orders)
    assert json.loads(large["output"])["repriced"] == {"total": 120.0}  # the lambda:invoke task
    orders.wait_idle()
    big = _item(orders, "big-1")
    assert big is not None and big["status"]["S"] == "REVIEW" and big["processed"]["BOOL"] is True
    assert _item(orders, "small-1")["status"]["S"] == "ACCEPTED"  # type: ignore[index]
    # sns:publish -> NotifyFunction (filter policy kind=processed, attribute delivered for real)
    assert _item(orders, "notice#big-1") == {"pk": {"S": "notice#big-1"}, "kind": {"S": "processed"}}
    # events:putEvents -> rule on the custom bus -> AuditFunction
    assert _item(orders, "audit#small-1")["status"]["S"] == "ACCEPTED"  # type: ignore[index]
    # sqs:sendMessage -> ReportQueue
    reported = orders.client("sqs").receive_message(
        QueueUrl=orders.outputs["ReportQueueUrl"], MaxNumberOfMessages=10
    )
    assert sorted(m["Body"] for m in reported["Messages"]) == ["big-1", "small-1"]


def test_scheduler_schedule_fires_in_its_time_zone_with_context_attributes(orders: OfflineStack) -> None:
    summer = orders.schedules.fire_on("NightlyFunctionNightly", date(2026, 7, 1))
    winter = orders.schedules.fire_on("NightlyFunctionNightly", date(2026, 12, 1))
    assert json.loads(summer) == {"scheduled": "2026-07-01T06:30:00Z", "job": "nightly"}  # 02:30 EDT
    assert json.loads(winter)["scheduled"] == "2026-12-01T07:30:00Z"  # 02:30 EST
    assert _item(orders, "nightly#2026-07-01T06:30:00Z") is not None
    with pytest.raises(ValueError, match="does not fire"):
        orders.schedules.fire_on(
            "NightlyFunctionNightly", date(2027, 3, 14)
        )  # 02:30 does not exist that night


def test_schedule_times_are_utc_moments() -> None:
    from offline_runtime.emulator.schedules import occurrences

    start, end = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, 12, tzinfo=UTC)
    fall_back = occurrences("cron(30 1 * * ? *)", start, end, "America/New_York")
    assert [m.isoformat() for m in fall_back] == ["2026-11-01T05:30:00+00:00", "2026-11-02T06:30:00+00:00"]
    weekly = occurrences(
        "cron(0 2 ? * SUN *)", datetime(2026, 11, 23, tzinfo=UTC), datetime(2026, 12, 7, tzinfo=UTC)
    )
    assert [m.date().isoformat() for m in weekly] == ["2026-11-29", "2026-12-06"]
    last = occurrences(
        "cron(0 3 L * ? *)", datetime(2028, 2, 1, tzinfo=UTC), datetime(2028, 3, 2, tzinfo=UTC)
    )
    assert [m.date().isoformat() for m in last] == ["2028-02-29"]  # leap year


def test_embedded_metric_format_lines_become_cloudwatch_metrics(orders: OfflineStack) -> None:
    from datetime import timedelta

    for amount in ("10", "30"):
        _, errored, _ = orders.invoke("PriceFunction", {"order_id": "m", "items": [{"price": amount}]})
        assert not errored
    stats = orders.client("cloudwatch").get_metric_statistics(
        Namespace="Orders",
        MetricName="OrderValue",
        Dimensions=[{"Name": "service", "Value": "price"}],
        StartTime=datetime.now(UTC) - timedelta(hours=1),
        EndTime=datetime.now(UTC) + timedelta(minutes=5),
        Period=3600,
        Statistics=["Sum", "SampleCount", "Maximum"],
    )["Datapoints"]
    assert sum(d["Sum"] for d in stats) >= 40 and max(d["Maximum"] for d in stats) >= 30
    assert {p.name for p in orders.lambdas.metrics if p.namespace == "Orders"} == {"OrderValue"}
