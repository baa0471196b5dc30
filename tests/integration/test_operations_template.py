"""The operations view in template.yaml, read as a document: every alarm's wiring, the dashboards'
references, the freshness checker's schedule (what the offline day proves is in tests/e2e)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

from datapipe.contracts import default_registry

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
PARAMETERS: dict[str, Any] = TEMPLATE["Parameters"]
NAMESPACE = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
SEVERITIES = ("CRITICAL", "HIGH", "WARNING")

# alarm -> (severity, threshold, period seconds x evaluation periods, parameter its threshold is)
OPERATIONS_ALARMS = {
    "DataQualityBreachAlarm": ("HIGH", {"Ref": "QuarantineRateThreshold"}, 900, 1),
    "FreshnessAlarm": ("HIGH", 0, 3600, 1),
    "PublishSlaAlarm": ("HIGH", {"Ref": "PublishSlaSeconds"}, 900, 1),
    "IngestDurationP95Alarm": ("WARNING", {"Ref": "IngestP95DurationMs"}, 300, 3),
    "DailyCostAlarm": ("WARNING", {"Ref": "DailyCostThresholdUsd"}, 86400, 1),
}


def service_of(function: str) -> str:
    return RESOURCES[function]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]


def sub_text(value: Any) -> str:
    """The text of a !Sub (string form)."""
    assert isinstance(value, dict) and "Fn::Sub" in value, value
    text = value["Fn::Sub"]
    assert isinstance(text, str)
    return text


def metric_stats(props: dict[str, Any]) -> list[dict[str, Any]]:
    return [q["MetricStat"] for q in props.get("Metrics", []) if "MetricStat" in q]


@pytest.mark.parametrize("logical_id", sorted(OPERATIONS_ALARMS))
def test_every_operations_alarm_has_its_severity_threshold_window_and_the_ops_topic(logical_id: str) -> None:
    severity, threshold, period, evaluations = OPERATIONS_ALARMS[logical_id]
    resource = RESOURCES[logical_id]
    assert resource["Type"] == "AWS::CloudWatch::Alarm"
    props = resource["Properties"]
    assert sub_text(props["AlarmDescription"]).startswith(f"{severity}: ")
    assert sub_text(props["AlarmName"]).startswith("${AWS::StackName}-")
    assert props["AlarmActions"] == [{"Ref": "OpsTopic"}] and props["OKActions"] == [{"Ref": "OpsTopic"}]
    assert props["Threshold"] == threshold
    if isinstance(threshold, dict):
        assert threshold["Ref"] in PARAMETERS and PARAMETERS[threshold["Ref"]]["Type"] == "Number"
    assert props["ComparisonOperator"] == "GreaterThanThreshold"
    assert props["TreatMissingData"] == "notBreaching"  # no data is not a breach: quiet days stay OK
    assert props["EvaluationPeriods"] == evaluations
    periods = [s["Period"] for s in metric_stats(props)] or [props["Period"]]
    assert set(periods) == {period}
    returned = [q for q in props.get("Metrics", []) if q.get("ReturnData", True)]
    assert len(returned) == (1 if props.get("Metrics") else 0)  # a math alarm returns its one expression


def dataset_dimensions(props: dict[str, Any], metric: str) -> dict[str, str]:
    """dataset -> service of the alarm's queries of ``metric`` in this namespace."""
    out = {}
    for stat in metric_stats(props):
        m = stat["Metric"]
        if m["MetricName"] == metric:
            assert m["Namespace"] == NAMESPACE
            dims = {d["Name"]: d["Value"] for d in m["Dimensions"]}
            assert set(dims) == {"service", "dataset"}
            out[dims["dataset"]] = dims["service"]
    return out


def test_quality_alarm_is_the_highest_rejected_row_rate_of_every_dataset_over_15_minutes() -> None:
    props = RESOURCES["DataQualityBreachAlarm"]["Properties"]
    datasets = set(default_registry().names)
    ingest = service_of("IngestFunction")
    assert dataset_dimensions(props, "RowsRejected") == dict.fromkeys(datasets, ingest)
    assert dataset_dimensions(props, "RowsIn") == dict.fromkeys(datasets, ingest)
    assert {s["Stat"] for s in metric_stats(props)} == {"Sum"}
    (expression,) = [q["Expression"] for q in props["Metrics"] if "Expression" in q]
    ids = {q["Id"]: q["MetricStat"]["Metric"] for q in props["Metrics"] if "MetricStat" in q}
    ratios = re.findall(r"(\w+) / (\w+)", expression)
    assert expression.startswith("MAX([") and len(ratios) == len(datasets)
    for rejected, rows_in in ratios:
        assert ids[rejected]["MetricName"] == "RowsRejected" and ids[rows_in]["MetricName"] == "RowsIn"
        assert ids[rejected]["Dimensions"] == ids[rows_in]["Dimensions"]  # same dataset on both sides
    assert PARAMETERS["QuarantineRateThreshold"]["MaxValue"] == 1


def test_freshness_alarm_watches_every_dataset_with_a_delivery_calendar() -> None:
    props = RESOURCES["FreshnessAlarm"]["Properties"]
    calendared = {c.name for c in default_registry() if c.quality.deliveries}
    assert dataset_dimensions(props, "DeliveriesLate") == dict.fromkeys(
        calendared, service_of("FreshnessCheckFunction")
    )
    assert {s["Stat"] for s in metric_stats(props)} == {"Maximum"}


def test_sla_alarm_watches_every_dataset_published() -> None:
    props = RESOURCES["PublishSlaAlarm"]["Properties"]
    assert dataset_dimensions(props, "ArrivalToPublishedSeconds") == dict.fromkeys(
        default_registry().names, service_of("PublishFunction")
    )


def test_ingest_p95_alarm_is_on_the_ingest_function_duration() -> None:
    props = RESOURCES["IngestDurationP95Alarm"]["Properties"]
    assert (props["Namespace"], props["MetricName"], props["ExtendedStatistic"]) == (
        "AWS/Lambda",
        "Duration",
        "p95",
    )
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "IngestFunction"}}]
    assert props["DatapointsToAlarm"] == 3  # 15 minutes sustained, not one slow file


def test_cost_alarm_is_the_daily_growth_of_estimated_charges() -> None:
    props = RESOURCES["DailyCostAlarm"]["Properties"]
    (stat,) = metric_stats(props)
    assert stat["Metric"] == {
        "Namespace": "AWS/Billing",
        "MetricName": "EstimatedCharges",
        "Dimensions": [{"Name": "Currency", "Value": "USD"}],
    }
    assert [q["Expression"] for q in props["Metrics"] if "Expression" in q] == ["DIFF(charges)"]


def test_freshness_checker_runs_on_its_schedule_after_every_due_time() -> None:
    fn = RESOURCES["FreshnessCheckFunction"]["Properties"]
    assert fn["Events"]["AfterDueTime"]["Properties"]["Schedule"] == {"Ref": "FreshnessCheckSchedule"}
    hour, minute = re.fullmatch(
        r"cron\((\d+) (\d+) \* \* \? \*\)", PARAMETERS["FreshnessCheckSchedule"]["Default"]
    ).group(2, 1)
    due = max(line.due_by_hour for c in default_registry() for line in c.quality.deliveries)
    assert (int(hour), int(minute)) > (due, 0)
    assert f"{RESOURCES['FreshnessCheckFunctionLogGroup']['Properties']['LogGroupName']['Fn::Sub']}".endswith(
        "${FreshnessCheckFunction}"
    )


@pytest.mark.parametrize("logical_id", ["ExecutiveDashboard", "OperationalDashboard"])
def test_dashboards_are_json_whose_references_exist(logical_id: str) -> None:
    props = RESOURCES[logical_id]["Properties"]
    assert sub_text(props["DashboardName"]).startswith("${AWS::StackName}-")
    body = sub_text(props["DashboardBody"])
    names = re.findall(r"\$\{([^}]+)\}", body)
    for name in names:
        base = name.split(".")[0]
        assert base in RESOURCES or base in PARAMETERS or base.startswith("AWS::"), name
    doc = json.loads(re.sub(r"\$\{[^}]+\}", "1", body))
    assert doc["widgets"]
    for widget in doc["widgets"]:
        assert (
            widget["type"] == "metric" and widget["properties"]["title"] and widget["properties"]["metrics"]
        )
