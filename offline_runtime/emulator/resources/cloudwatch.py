"""AWS::CloudWatch::Alarm, CompositeAlarm and Dashboard."""

from __future__ import annotations

from typing import Any

from offline_runtime.emulator.cloudformation import (
    Created,
    Provider,
    Resource,
    Stack,
    physical_name,
    provider,
)
from offline_runtime.emulator.resources.base import client, tags_list

_ALARM_KEYS = (
    "AlarmDescription",
    "ActionsEnabled",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
    "MetricName",
    "Namespace",
    "Statistic",
    "ExtendedStatistic",
    "Dimensions",
    "Period",
    "Unit",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "EvaluateLowSampleCountPercentile",
    "Metrics",
    "ThresholdMetricId",
)
_INTS = ("Period", "EvaluationPeriods", "DatapointsToAlarm")


@provider("AWS::CloudWatch::Alarm")
class Alarm(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        name = props.get("AlarmName") or physical_name(stack.name, resource.logical_id, 255)
        kwargs: dict[str, Any] = {"AlarmName": name, **{k: props[k] for k in _ALARM_KEYS if k in props}}
        for key in _INTS:
            if key in kwargs:
                kwargs[key] = int(kwargs[key])
        if "Threshold" in kwargs:
            kwargs["Threshold"] = float(kwargs["Threshold"])
        if "ActionsEnabled" in kwargs:
            kwargs["ActionsEnabled"] = str(kwargs["ActionsEnabled"]).lower() == "true"
        for query in kwargs.get("Metrics") or []:
            if "MetricStat" in query and "Period" in query["MetricStat"]:
                query["MetricStat"]["Period"] = int(query["MetricStat"]["Period"])
            if "ReturnData" in query:
                query["ReturnData"] = str(query["ReturnData"]).lower() == "true"
        if props.get("Tags"):
            kwargs["Tags"] = tags_list(props["Tags"])
        cw = client(stack, "cloudwatch")
        cw.put_metric_alarm(**kwargs)
        arn = cw.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["AlarmArn"]
        return Created(name, {"Arn": arn})


@provider("AWS::CloudWatch::CompositeAlarm")
class CompositeAlarm(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        name = props.get("AlarmName") or physical_name(stack.name, resource.logical_id, 255)
        kwargs = {"AlarmName": name, "AlarmRule": props["AlarmRule"]}
        for key in ("AlarmDescription", "AlarmActions", "OKActions", "InsufficientDataActions"):
            if key in props:
                kwargs[key] = props[key]
        client(stack, "cloudwatch").put_composite_alarm(**kwargs)
        return Created(name, {"Arn": f"arn:aws:cloudwatch:{stack.region}:{stack.account}:alarm:{name}"})


@provider("AWS::CloudWatch::Dashboard")
class Dashboard(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        name = props.get("DashboardName") or physical_name(stack.name, resource.logical_id, 255)
        client(stack, "cloudwatch").put_dashboard(DashboardName=name, DashboardBody=props["DashboardBody"])
        return Created(name)
