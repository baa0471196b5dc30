"""The operations view on an offline business day: what the dashboards and alarms would show.

A small 60-store day (the contracts' calendars expect 60 stores) with one store's POS file
withheld goes through the deployed template; then the freshness checker's schedule fires the
morning after. The handlers' EMF lines are CloudWatch metric data offline (``stack.lambdas.metrics``
and moto's CloudWatch), so the dashboards' widgets and the alarms' queries are checked against
what was really emitted, and the alarms' own queries are evaluated on moto's metric data.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from datapipe.contracts import default_registry
from offline_runtime.emulator.session import drain
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.datagen import business_day
from offline_runtime.scenario.day import seed_inventory
from offline_runtime.scenario.project import observe_bus

DAY = datetime.now(UTC).date() - timedelta(days=1)
WITHHELD = f"transactions/{DAY:%Y-%m-%d}/pos-S007.csv"
NAMESPACE = "RetailDataPipeline"
SEARCH = re.compile(r"SEARCH\('\{([^}]+)\}(?: service=\"([^\"]+)\")? MetricName=\"([^\"]+)\"'")


@pytest.fixture(scope="module")
def day_run(stack: OfflineStack) -> dict[str, Any]:
    bus_q = observe_bus(stack, "ops-day-observer")
    stores = [f"S{i:03d}" for i in range(1, 61)]
    seed_inventory(stack, stores)
    files = business_day(DAY, stores=60, tx_per_store=180, online_rows=200, movements_per_store=10)
    s3 = stack.client("s3")
    sent = [f for f in files if f.key != WITHHELD]
    assert len(sent) == len(files) - 1
    for f in sent:
        s3.put_object(Bucket=stack.outputs["RawBucketName"], Key=f.key, Body=f.body)
    stack.wait_idle(900)
    started = datetime.now(UTC) - timedelta(hours=1)
    stack.schedules.fire_on("FreshnessCheckFunctionAfterDueTime", DAY + timedelta(days=1))
    assert stack.lambdas is not None
    return {
        "files": sent,
        "events": drain(stack, bus_q),
        "metrics": list(stack.lambdas.metrics),
        "window": (started, datetime.now(UTC) + timedelta(days=2)),  # the clock moved to the morning after
    }


def emitted(day_run: dict[str, Any]) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    return {(p.namespace, p.name, frozenset(p.dimensions.items())) for p in day_run["metrics"]}


def dashboard(stack: OfflineStack, logical_id: str) -> dict[str, Any]:
    body = stack.client("cloudwatch").get_dashboard(DashboardName=stack.physical[logical_id])["DashboardBody"]
    return json.loads(body)


def deployed_names(stack: OfflineStack) -> set[str]:
    """Physical names and ARNs of the stack's resources (what an AWS metric's dimension names)."""
    names = set(stack.physical.values())
    names |= {v for v in stack.outputs.values() if isinstance(v, str)}
    sqs = stack.client("sqs")
    for url in sqs.list_queues().get("QueueUrls", []):
        names.add(url.rsplit("/", 1)[1])
    return names


@pytest.mark.parametrize("logical_id", ["ExecutiveDashboard", "OperationalDashboard"])
def test_every_metric_a_widget_names_is_emitted_by_the_day(
    stack: OfflineStack, day_run: dict[str, Any], logical_id: str
) -> None:
    seen = emitted(day_run)
    names = deployed_names(stack)
    checked = 0
    for widget in dashboard(stack, logical_id)["widgets"]:
        ids = set()
        for row in widget["properties"]["metrics"]:
            if isinstance(row[0], dict):  # an expression
                expression = row[0]["expression"]
                for keys, service, metric in SEARCH.findall(expression):
                    namespace, *dims = keys.split(",")
                    hits = [
                        d
                        for ns, name, d in seen
                        if ns == namespace
                        and name == metric
                        and {k for k, _ in d} == set(dims)
                        and (not service or ("service", service) in d)
                    ]
                    assert hits, f"{widget['properties']['title']}: nothing emitted matches {expression}"
                    checked += 1
                if "SEARCH" not in expression:
                    referenced = set(re.findall(r"[a-z]\w*", expression)) - {"diff", "sum"}
                    later = {
                        r[-1].get("id") for r in widget["properties"]["metrics"] if isinstance(r[-1], dict)
                    }
                    assert referenced <= later, f"{expression} names {referenced - later}"
                continue
            options = row[-1] if isinstance(row[-1], dict) else {}
            ids.add(options.get("id"))
            namespace, metric, *flat = [c for c in row if not isinstance(c, dict)]
            dims = dict(zip(flat[::2], flat[1::2], strict=True))
            if namespace == NAMESPACE:
                assert (namespace, metric, frozenset(dims.items())) in seen, (
                    f"{widget['properties']['title']}: {metric} {dims} was not emitted by any handler"
                )
            elif namespace == "AWS/Billing":
                assert dims == {"Currency": "USD"}
            else:
                assert namespace in ("AWS/Lambda", "AWS/States", "AWS/SQS")
                assert set(dims.values()) <= names, f"{metric} {dims} names no deployed resource"
            checked += 1
    assert checked > 10


def test_one_withheld_store_file_gives_exactly_one_dataset_late(day_run: dict[str, Any]) -> None:
    late = [e["detail"] for e in day_run["events"] if e["detail-type"] == "DatasetLate"]
    assert [(d["dataset"], d["business_day"], d["late"]) for d in late] == [
        (
            "transactions",
            DAY.isoformat(),
            [{"source": "S007", "reason": "not delivered", "rows": 0, "min_rows": 20}],
        )
    ]


def alarm_queries(stack: OfflineStack, logical_id: str) -> dict[str, Any]:
    (alarm,) = stack.client("cloudwatch").describe_alarms(AlarmNames=[stack.physical[logical_id]])[
        "MetricAlarms"
    ]
    return alarm


def evaluate(
    stack: OfflineStack, alarm: dict[str, Any], window: tuple[datetime, datetime]
) -> dict[str, float]:
    """Each MetricStat query of the alarm over the whole window (one datum per query), from moto."""
    queries = []
    for q in alarm["Metrics"]:
        if "MetricStat" in q:
            stat = {**q["MetricStat"], "Period": 86400 * 3}
            queries.append({"Id": q["Id"], "MetricStat": stat, "ReturnData": True})
    result = stack.client("cloudwatch").get_metric_data(
        MetricDataQueries=queries, StartTime=window[0], EndTime=window[1]
    )
    return {r["Id"]: sum(r["Values"]) if r["Values"] else 0.0 for r in result["MetricDataResults"]}


def test_the_freshness_alarm_query_sees_the_late_store_and_would_fire(
    stack: OfflineStack, day_run: dict[str, Any]
) -> None:
    alarm = alarm_queries(stack, "FreshnessAlarm")
    values = evaluate(stack, alarm, day_run["window"])
    assert sorted(values.values()) == [0.0, 1.0]  # inventory on time, one transactions source late
    assert max(values.values()) > alarm["Threshold"]
    ops = stack.outputs["OpsTopicArn"]
    assert alarm["AlarmActions"] == [ops] and alarm["OKActions"] == [ops]


def test_the_quality_alarm_query_is_the_rejected_row_rate_the_files_had(
    stack: OfflineStack, day_run: dict[str, Any]
) -> None:
    alarm = alarm_queries(stack, "DataQualityBreachAlarm")
    values = evaluate(stack, alarm, day_run["window"])
    staged: dict[str, Counter[str]] = defaultdict(Counter)
    for e in day_run["events"]:
        if e["detail-type"] == "DatasetStaged":
            staged[e["detail"]["dataset"]].update(e["detail"]["counts"])
    dataset_of = {
        q["Id"]: {d["Name"]: d["Value"] for d in q["MetricStat"]["Metric"]["Dimensions"]}["dataset"]
        for q in alarm["Metrics"]
        if "MetricStat" in q
    }
    for query, dataset in dataset_of.items():
        counted = "rows_rejected" if query.startswith("rej") else "rows_in"
        assert values[query] == staged[dataset][counted], (query, dataset)
    assert staged["transactions"]["rows_rejected"] > 0
    assert alarm["Threshold"] == 0.05 and alarm["EvaluationPeriods"] == 1


def test_the_sla_metric_is_emitted_once_per_publication(day_run: dict[str, Any]) -> None:
    published = Counter(
        e["detail"]["table"] for e in day_run["events"] if e["detail-type"] == "DatasetPublished"
    )
    latencies: dict[str, list[float]] = defaultdict(list)
    for p in day_run["metrics"]:
        if p.name == "ArrivalToPublishedSeconds":
            assert (
                p.dimensions == {"service": "publish", "dataset": p.dimensions["dataset"]}
                and p.unit == "Seconds"
            )
            latencies[p.dimensions["dataset"]] += p.values
    assert {k: len(v) for k, v in latencies.items()} == dict(published)
    assert all(0 <= v < 3600 for values in latencies.values() for v in values)
    assert set(published) <= set(default_registry().names)
