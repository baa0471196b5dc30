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
from offline_runtime.scenario.alarms import as_stored
from offline_runtime.scenario.datagen import business_day
from offline_runtime.scenario.day import realtime_burst, seed_inventory
from offline_runtime.scenario.project import observe_bus

DAY = datetime.now(UTC).date() - timedelta(days=1)
WITHHELD = f"transactions/{DAY:%Y-%m-%d}/pos-S007.csv"
NAMESPACE = "RetailDataPipeline"
SEARCH = re.compile(r"SEARCH\('\{([^}]+)\}(?: service=\"([^\"]+)\")? MetricName=\"([^\"]+)\"'")


@pytest.fixture(scope="module")
def day_run(stack: OfflineStack) -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(hours=1)
    bus_q = observe_bus(stack, "ops-day-observer")
    stores = [f"S{i:03d}" for i in range(1, 61)]
    seed_inventory(stack, stores)
    files = business_day(DAY, stores=60, tx_per_store=150, online_rows=200, movements_per_store=40)
    s3 = stack.client("s3")
    sent = [f for f in files if f.key != WITHHELD]
    assert len(sent) == len(files) - 1
    for f in sent:
        s3.put_object(Bucket=stack.outputs["RawBucketName"], Key=f.key, Body=f.body)
    stack.wait_idle(900)
    realtime_burst(stack, datetime.now(UTC) - timedelta(minutes=30))  # the card authorisations path
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


def unpublished_stores(day_run: dict[str, Any]) -> set[str]:
    """Stores whose one POS export of the day was sent but not published (quarantined): late too."""
    published = {e["detail"]["run_id"] for e in day_run["events"] if e["detail-type"] == "DatasetPublished"}
    stores = set()
    for e in day_run["events"]:
        d = e["detail"]
        match = re.search(r"/pos-(S\d{3})\.csv$", (d.get("source") or {}).get("key", ""))
        if e["detail-type"] == "DatasetStaged" and match and d["run_id"] not in published:
            stores.add(match.group(1))
    return stores


def test_one_withheld_store_file_gives_exactly_one_dataset_late(day_run: dict[str, Any]) -> None:
    late = [e["detail"] for e in day_run["events"] if e["detail-type"] == "DatasetLate"]
    expected = sorted({"S007"} | unpublished_stores(day_run))
    assert [(d["dataset"], d["business_day"]) for d in late] == [("transactions", DAY.isoformat())]
    assert late[0]["late"] == [
        {"source": store, "reason": "not delivered", "rows": 0, "min_rows": 20} for store in expected
    ]
    assert late[0]["sources_late"] == len(expected) and late[0]["sources_expected"] == 61


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
            metric = as_stored(stack, q["MetricStat"]["Metric"])  # moto matches dimensions in order
            stat = {**q["MetricStat"], "Metric": metric, "Period": 86400 * 3}
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
    late = len({"S007"} | unpublished_stores(day_run))
    assert sorted(values.values()) == [0.0, float(late)]  # inventory on time, transactions late
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


@pytest.fixture(scope="module")
def day_summary(
    stack: OfflineStack, day_run: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The demo's closing summary of this day (the demo's own collection of outcomes)."""
    from offline_runtime.cli import demo
    from offline_runtime.scenario.operations_view import day_summary as make

    outcomes = demo._collect(stack, day_run["files"], day_run["events"], demo._executions(stack))
    fraud = demo._fraud_matrix(stack, day_run["events"])
    out_dir = tmp_path_factory.mktemp("ops-demo")
    return make(stack, DAY, 60, outcomes, day_run["events"], fraud, [], [WITHHELD], [], 60.0, out_dir)


def test_the_summary_adds_up_and_fits_one_screen(day_summary: dict[str, Any]) -> None:
    from offline_runtime.scenario.summary import MAX_CONSOLE_LINES, console_lines

    t = day_summary["totals"]
    assert t["adds_up"] and t["rows_in"] == t["published"] + t["quarantined"] > 0
    # 73 files a 60-store day (the account master and the rates feed included), one withheld
    assert len(day_summary["files"]) == t["files"] == 72
    lines = console_lines(day_summary)
    assert len(lines) <= MAX_CONSOLE_LINES
    text = "\n".join(lines)
    assert "pos-S041-terminal-7.csv: quarantined by the quality gate" in text
    assert "pos-S013-upload.csv.gz: refused at ingest" in text
    assert "late transactions" in text and "S007 (not delivered)" in text
    not_plain = [f for f in day_summary["files"] if f["decision"] != "publish"]
    assert 3 <= len(not_plain) <= 8  # the day's resend, terminal-7 and cut upload, at least
    shown = [line for line in lines if "transactions/pos-" in line or "inventory_movements/region-" in line]
    assert len(shown) == len(not_plain)  # only those files, one line each
    fired = [a["name"] for a in day_summary["alarms"] if a["state"] == "ALARM"]
    assert len(fired) == 1 and fired[0].endswith("-Freshness-DatasetLate")  # a normal day but one late store


def test_the_report_opens_in_a_real_browser_with_every_chart_drawn(day_summary: dict[str, Any]) -> None:
    """Debian's Chromium, headless, driven by Playwright: no console error, no request leaving the
    page, every chart an SVG with drawn content, and a screenshot in out/demo/."""
    import tempfile

    from playwright.sync_api import sync_playwright

    from offline_runtime.scenario import report
    from offline_runtime.scenario.project import ROOT

    out = ROOT / "out" / "demo"
    page_path = report.write(day_summary, out / "browser-check" / "report.html")
    html = page_path.read_text()
    assert re.findall(r"(?:src|href)=\"([^\"#][^\"]*)\"", html) == [] and "<script" not in html
    problems: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p, tempfile.TemporaryDirectory() as profile:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            charts = page.evaluate(
                """() => [...document.querySelectorAll('.chart')].map(c => {
                    const svg = c.querySelector('svg');
                    if (!svg) return {id: c.id, drawn: 0, width: 0};
                    const box = svg.getBoundingClientRect();
                    const drawn = [...svg.querySelectorAll('path, rect, text, use')]
                        .filter(e => {
                            const b = e.getBoundingClientRect();
                            return b.width > 0 || b.height > 0;
                        }).length;
                    return {id: c.id, drawn, width: box.width, height: box.height};
                })"""
            )
            page.screenshot(path=str(out / "report-screenshot.png"), full_page=True)
        finally:
            context.close()
    assert problems == []
    assert requests == [page_path.as_uri()]  # self-contained: nothing else fetched
    assert [c["id"] for c in charts] == [
        "chart-decisions",
        "chart-rejects",
        "chart-conservation",
        "chart-fraud",
        "chart-low-stock",
    ]
    for chart in charts:
        assert chart["width"] > 100 and chart["height"] > 50 and chart["drawn"] > 20, chart
    assert (out / "report-screenshot.png").stat().st_size > 10_000


CHROMIUM = "/usr/bin/chromium"  # Debian's package (make test installs it when missing)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
