"""The stack's CloudWatch alarms evaluated on the metric data of an offline run.

moto stores alarms and metric data but does not evaluate alarms. This reads each alarm as deployed
(``describe_alarms``), fetches its queries' data from moto's CloudWatch over a window, and applies
the alarm's own rule: the expression per period (``MAX([...])``, ``a / b``, ``DIFF(x)``, or the single
metric), the comparison with the threshold, and "DatapointsToAlarm of EvaluationPeriods" breaching.
Alarms on AWS service metrics (AWS/Lambda, AWS/SQS, AWS/States, AWS/Billing) have no data offline:
those are reported as such, never as OK.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from offline_runtime.emulator.stack import OfflineStack

ALARM, OK, NO_DATA, NOT_EVALUATED = "ALARM", "OK", "NO_DATA", "NOT_EVALUATED"
_COMPARE = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}


@dataclass(frozen=True)
class AlarmVerdict:
    name: str
    severity: str
    state: str
    value: float | None  # the worst value seen (None: no data)
    threshold: float
    description: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def severity_of(description: str) -> str:
    head = description.split(":", 1)[0].strip()
    return head if head.isupper() and head.isalpha() else "-"


def as_stored(stack: OfflineStack, metric: dict[str, Any]) -> dict[str, Any]:
    """The metric with its dimensions in the order moto stored them. moto 5's ``Dimension.__lt__``
    is broken (it compares a value with a name), so its get_metric_data matches dimension lists
    in order, where CloudWatch ignores order; list_metrics matches as sets and gives the stored order."""
    wanted = {(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])}
    found = stack.client("cloudwatch").list_metrics(
        Namespace=metric["Namespace"],
        MetricName=metric["MetricName"],
        Dimensions=metric.get("Dimensions", []),
    )["Metrics"]
    for candidate in found:
        if {(d["Name"], d["Value"]) for d in candidate.get("Dimensions", [])} == wanted:
            return {**metric, "Dimensions": candidate["Dimensions"]}
    return metric


def _series(
    stack: OfflineStack, queries: list[dict[str, Any]], start: datetime, end: datetime
) -> dict[str, dict[datetime, float]]:
    cw = stack.client("cloudwatch")
    if not queries:
        return {}
    result = cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
    return {
        r["Id"]: dict(zip(r["Timestamps"], r["Values"], strict=True)) for r in result["MetricDataResults"]
    }


def _evaluate_expression(
    expression: str, values: dict[str, float | None], previous: dict[str, float | None]
) -> float | None:
    text = expression.strip()
    listed = re.fullmatch(r"MAX\(\[(.*)\]\)", text)
    if listed:
        parts = [_evaluate_expression(p, values, previous) for p in listed.group(1).split(",")]
        present = [p for p in parts if p is not None]
        return max(present) if present else None
    ratio = re.fullmatch(r"(\w+)\s*/\s*(\w+)", text)
    if ratio:
        top, bottom = values.get(ratio.group(1)), values.get(ratio.group(2))
        return None if top is None or not bottom else top / bottom
    diff = re.fullmatch(r"DIFF\((\w+)\)", text)
    if diff:
        now, before = values.get(diff.group(1)), previous.get(diff.group(1))
        return None if now is None or before is None else now - before
    if re.fullmatch(r"\w+", text):
        return values.get(text)
    raise ValueError(f"expression not understood offline: {expression}")


def evaluate_alarm(
    stack: OfflineStack, alarm: dict[str, Any], start: datetime, end: datetime
) -> AlarmVerdict:
    description = alarm.get("AlarmDescription", "")
    threshold = float(alarm["Threshold"])
    compare = _COMPARE.get(alarm["ComparisonOperator"])
    base = dict(
        name=alarm["AlarmName"],
        severity=severity_of(description),
        threshold=threshold,
        description=description,
    )
    if compare is None:
        return AlarmVerdict(state=NOT_EVALUATED, value=None, **base)
    if alarm.get("Metrics"):
        stats = [q for q in alarm["Metrics"] if "MetricStat" in q]
        (returned,) = [q for q in alarm["Metrics"] if q.get("ReturnData", True)]
        expression = returned.get("Expression", returned["Id"])
    else:
        metric = {
            "Namespace": alarm["Namespace"],
            "MetricName": alarm["MetricName"],
            "Dimensions": alarm.get("Dimensions", []),
        }
        stat = alarm.get("Statistic") or alarm.get("ExtendedStatistic")
        stats = [{"Id": "m", "MetricStat": {"Metric": metric, "Period": alarm["Period"], "Stat": stat}}]
        expression = "m"
    if any(q["MetricStat"]["Metric"]["Namespace"].startswith("AWS/") for q in stats):
        return AlarmVerdict(state=NO_DATA, value=None, **base)  # AWS service metrics: none offline
    queries = [
        {
            "Id": q["Id"],
            "MetricStat": {**q["MetricStat"], "Metric": as_stored(stack, q["MetricStat"]["Metric"])},
            "ReturnData": True,
        }
        for q in stats
    ]
    series = _series(stack, queries, start, end)
    moments = sorted({t for s in series.values() for t in s})
    if not moments:
        return AlarmVerdict(state=NO_DATA, value=None, **base)
    evaluated: list[float | None] = []
    previous: dict[str, float | None] = {}
    for moment in moments:
        values = {k: s.get(moment) for k, s in series.items()}
        evaluated.append(_evaluate_expression(expression, values, previous))
        previous = values
    present = [v for v in evaluated if v is not None]
    if not present:
        return AlarmVerdict(state=NO_DATA, value=None, **base)
    periods = int(alarm.get("EvaluationPeriods", 1))
    needed = int(alarm.get("DatapointsToAlarm") or periods)
    breaching = [v is not None and compare(v, threshold) for v in evaluated]
    fired = any(
        sum(breaching[i : i + periods]) >= needed for i in range(max(1, len(breaching) - periods + 1))
    )
    worst = max(present) if "Greater" in alarm["ComparisonOperator"] else min(present)
    return AlarmVerdict(state=ALARM if fired else OK, value=worst, **base)


def evaluate_alarms(stack: OfflineStack, start: datetime, end: datetime) -> list[AlarmVerdict]:
    """Every metric alarm of the stack, evaluated over [start, end]."""
    cw = stack.client("cloudwatch")
    alarms = [a for page in cw.get_paginator("describe_alarms").paginate() for a in page["MetricAlarms"]]
    return sorted((evaluate_alarm(stack, a, start, end) for a in alarms), key=lambda v: v.name)
