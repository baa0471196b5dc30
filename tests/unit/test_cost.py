"""The cost arithmetic (offline_runtime.bench.cost) and the meter's unit rules, on fixed inputs.

Prices here are a fixed table with round figures, so every expected dollar is computed by hand in
the comments; the shipped table is checked for the same keys, a date and a source per price."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from offline_runtime.bench import cost
from offline_runtime.emulator import metering

PRICES: dict[str, Any] = {
    "region": "us-east-1",
    "as_of": "test",
    "prices": {
        k: {"usd": v}
        for k, v in {
            "lambda.gb_second.arm64": 0.00001,
            "lambda.gb_second.x86_64": 0.00002,
            "lambda.request": 0.0000002,
            "sfn.standard.transition": 0.000025,
            "sfn.express.request": 0.000001,
            "sfn.express.gb_second": 0.00001,
            "s3.tier1": 0.000005,
            "s3.tier2": 0.0000004,
            "s3.free": 0.0,
            "ddb.wru": 0.000001,
            "ddb.rru": 0.0000002,
            "sns.publish_chunk": 0.0000005,
            "sns.delivery.lambda": 0.0,
            "sns.delivery.sqs": 0.0,
            "sns.delivery.email": 0.00002,
            "sns.delivery.sms": 0.01,
            "sns.delivery.https": 0.0000006,
            "sqs.request": 0.0000004,
            "events.custom_event": 0.000001,
            "logs.ingested_gb": 0.5,
            "cloudwatch.request": 0.00001,
            "glue.catalog_request": 0.000001,
            "athena.tb_scanned": 5.0,
            "kms.request": 0.000003,
            "glue_dq.dpu_hour": 0.6,
        }.items()
    },
    "billing": {
        k: {"value": v}
        for k, v in {
            "athena.min_mb_per_query": 10.0,
            "glue_dq.min_dpus": 2.0,
            "glue_dq.min_minutes": 1.0,
            "sfn.express.memory_chunk_mb": 64,
            "sfn.express.step_ms": 100,
        }.items()
    },
}

USAGE: dict[str, Any] = {
    "lambda": {
        "ingest": {"logical_id": "Ingest", "memory_mb": 2048, "architecture": "arm64", "invocations": 10,
                   "billed_ms": 5_000, "log_bytes": 1024**3},
        "checks": {"logical_id": "Checks", "memory_mb": 512, "architecture": "arm64", "invocations": 30,
                   "billed_ms": 3_000, "log_bytes": 0},
        "legacy": {"logical_id": "Legacy", "memory_mb": 1024, "architecture": "x86_64", "invocations": 10,
                   "billed_ms": 1_000, "log_bytes": 0},
    },
    "units": {
        "s3.tier1": 1_000,
        "s3.tier2": 10_000,
        "s3.free": 50,
        "ddb.wru": 2_000_000,
        "ddb.rru": 1_000_000,
        "sns.publish_chunks": 2_000_000,
        "sqs.requests": 1_000_000,
        "events.custom_chunks": 1_000_000,
        "cloudwatch.requests": 1_000,
        "glue.catalog_requests": 1_000_000,
        "athena.queries": 1_048_576,  # x 10 MB minimum = 10 TB
        "kms.requests": 0,
    },
    "step_functions": {
        "Gate": {"type": "STANDARD", "executions": 10, "transitions": 200, "durations_ms": [1001.0] * 10,
                 "max_duration_ms": 1001.0},
    },
    "sns_deliveries": {"email": 100_000, "lambda": 5},
}  # fmt: skip

# by hand, per line:
LAMBDA = (2 * 5 + 0.5 * 3) * 0.00001 + 1 * 1 * 0.00002 + 50 * 0.0000002  # GB-s arm64, x86, requests
SFN_STANDARD = 200 * 0.000025  # 0.005
S3 = 1_000 * 0.000005 + 10_000 * 0.0000004  # 0.005 + 0.004; DELETEs free
DYNAMODB = 2 * 1.0 + 1 * 0.2
SNS = 2 * 0.5 + 100_000 * 0.00002  # publishes 1.0 + e-mail 2.0 (Lambda deliveries free)
SQS = 0.4
EVENTBRIDGE = 1.0
CLOUDWATCH = 0.5 + 1_000 * 0.00001  # 1 GB of logs + API requests
GLUE = 1.0
ATHENA = 10 * 5.0
TOTAL = LAMBDA + SFN_STANDARD + S3 + DYNAMODB + SNS + SQS + EVENTBRIDGE + CLOUDWATCH + GLUE + ATHENA
# Express: 10 requests + 10 x 1.1 s (1001 ms rounded up to 100 ms) x 64 MB
EXPRESS = 10 * 0.000001 + 10 * 1.1 * (64 / 1024) * 0.00001


def test_the_bill_of_a_fixed_usage_record_is_the_hand_computed_one() -> None:
    bill = cost.report(copy.deepcopy(USAGE), rows=2_000_000, files=10, prices=PRICES)
    by_service = {k: v["usd"] for k, v in bill["by_service"].items()}
    assert by_service["Lambda"] == pytest.approx(LAMBDA)
    assert by_service["Step Functions"] == pytest.approx(SFN_STANDARD)
    assert by_service["S3"] == pytest.approx(S3)
    assert by_service["DynamoDB"] == pytest.approx(DYNAMODB)
    assert by_service["SNS"] == pytest.approx(SNS)
    assert by_service["SQS"] == pytest.approx(SQS)
    assert by_service["EventBridge"] == pytest.approx(EVENTBRIDGE)
    assert by_service["CloudWatch"] == pytest.approx(CLOUDWATCH)
    assert by_service["Glue"] == pytest.approx(GLUE)
    assert by_service["Athena"] == pytest.approx(ATHENA)
    assert bill["total_usd"] == pytest.approx(TOTAL)
    assert bill["usd_per_million_rows"] == pytest.approx(TOTAL / 2)
    assert sum(line["usd"] for line in bill["lines"]) == pytest.approx(TOTAL)


def test_glue_data_quality_is_one_minimum_run_per_file() -> None:
    bill = cost.report(copy.deepcopy(USAGE), rows=2_000_000, files=10, prices=PRICES)
    glue = bill["glue_data_quality"]
    assert glue["usd_per_run"] == pytest.approx(2 * (1 / 60) * 0.6)  # 2 DPU x 1 minute = $0.02
    assert glue["usd"] == pytest.approx(0.2)
    assert glue["usd_per_million_rows"] == pytest.approx(0.1)


def test_the_gate_is_priced_as_standard_and_as_express_from_the_same_counts() -> None:
    gate = cost.report(copy.deepcopy(USAGE), rows=1, files=1, prices=PRICES)["state_machines"]["Gate"]
    assert gate["standard_usd"] == pytest.approx(SFN_STANDARD)
    assert gate["express_usd"] == pytest.approx(EXPRESS)
    assert gate["day_total_if_express_usd"] == pytest.approx(TOTAL - SFN_STANDARD + EXPRESS)
    assert gate["day_total_if_standard_usd"] == pytest.approx(TOTAL)


def test_an_express_machine_is_billed_as_express() -> None:
    usage = copy.deepcopy(USAGE)
    usage["step_functions"]["Gate"]["type"] = "EXPRESS"
    bill = cost.report(usage, rows=1, files=1, prices=PRICES)
    assert bill["by_service"]["Step Functions"]["usd"] == pytest.approx(EXPRESS)
    assert bill["total_usd"] == pytest.approx(TOTAL - SFN_STANDARD + EXPRESS)


def test_the_console_prints_the_target_beside_the_figure() -> None:
    bill = cost.report(copy.deepcopy(USAGE), rows=2_000_000, files=10, prices=PRICES)
    text = "\n".join(cost.console_lines(bill))
    assert "per million rows, target <= $0.10" in text
    assert "ABOVE the target" in text  # $37.x per million rows
    assert "Glue Data Quality: 10 runs" in text


def test_the_shipped_price_table_is_dated_sourced_and_complete() -> None:
    shipped = cost.load_prices()
    assert shipped["region"] == "us-east-1" and shipped["as_of"]
    assert set(PRICES["prices"]) <= set(shipped["prices"])
    assert set(PRICES["billing"]) <= set(shipped["billing"])
    for entry in [*shipped["prices"].values(), *shipped["billing"].values()]:
        assert entry["source"].startswith("https://aws.amazon.com/")
    bill = cost.report(copy.deepcopy(USAGE), rows=1_000_000, files=1, prices=shipped)
    assert bill["total_usd"] > 0


# -- the meter's unit rules -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("operation", "cls"),
    [
        ("PutObject", "tier1"),
        ("CopyObject", "tier1"),
        ("ListObjectsV2", "tier1"),
        ("CompleteMultipartUpload", "tier1"),
        ("GetObject", "tier2"),
        ("HeadObject", "tier2"),
        ("GetObjectTagging", "tier2"),
        ("DeleteObject", "free"),
        ("DeleteObjects", "free"),
        ("AbortMultipartUpload", "free"),
    ],
)
def test_s3_request_classes(operation: str, cls: str) -> None:
    assert metering.s3_class(operation) == cls


@given(st.integers(min_value=0, max_value=10 * 1024 * 1024))
def test_a_payload_is_billed_per_started_64kb_chunk(size: int) -> None:
    chunks = metering.chunks_64kb(size)
    assert chunks >= 1
    assert (chunks - 1) * 64 * 1024 < max(size, 1) <= chunks * 64 * 1024


def test_dynamodb_units_from_item_sizes() -> None:
    item = {"pk": {"S": "a" * 998}, "n": {"N": "12"}}  # 2 + 998 + 1 + 3 = 1004 bytes: one WRU
    assert metering.item_size(item) == 1004
    assert metering.write_units(metering.item_size(item)) == 1
    assert metering.write_units(1025) == 2
    assert metering.read_units(4096, consistent=True) == 1
    assert metering.read_units(4097, consistent=True) == 2
    assert metering.read_units(4097, consistent=False) == 1  # eventually consistent: half
    assert metering.read_units(10, consistent=False) == 0.5
    body = {"TransactItems": [{"Put": {"Item": item}}, {"Update": {"Key": {"pk": {"S": "b"}}}}]}
    assert metering.request_units("dynamodb", "TransactWriteItems", {"body": _json(body)}) == {"ddb.wru": 4}


def test_eventbridge_and_sns_batches_count_per_entry() -> None:
    entries = [{"Detail": "x" * 70_000}, {"Detail": "{}"}]  # 2 chunks + 1 chunk
    assert metering.request_units("events", "PutEvents", {"body": _json({"Entries": entries})}) == {
        "events.custom_chunks": 3
    }
    form = {  # SNS speaks the query protocol: form fields per entry
        "Action": "PublishBatch",
        "PublishBatchRequestEntries.member.1.Message": "a" * 100,
        "PublishBatchRequestEntries.member.1.Id": "1",
        "PublishBatchRequestEntries.member.2.Message": "b" * (65 * 1024),
        "PublishBatchRequestEntries.member.2.Id": "2",
    }
    assert metering.request_units("sns", "PublishBatch", {"body": form}) == {"sns.publish_chunks": 3}


def test_lambda_duration_is_billed_per_started_millisecond() -> None:
    use = metering.LambdaUse("F", 1536, "arm64", durations_ms=[0.2, 10.0, 10.01])
    assert use.billed_ms == 1 + 10 + 11
    assert math.isclose(use.gb_seconds, 1.5 * 22 / 1000)


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()


def test_our_checks_are_priced_from_the_named_functions_and_machines() -> None:
    checks = (("Ingest",), ("Gate",))
    glue = cost.report(copy.deepcopy(USAGE), rows=1_000_000, files=10, prices=PRICES, checks=checks)[
        "glue_data_quality"
    ]
    # Ingest 2 GB x 5 s x $0.00001 + 10 requests x $0.0000002 + the gate's 200 transitions
    assert glue["ours_usd"] == pytest.approx(10 * 0.00001 + 10 * 0.0000002 + SFN_STANDARD)
    assert glue["ours_usd_per_million_rows"] == pytest.approx(glue["ours_usd"])


def test_dynamodb_is_priced_per_table_and_the_tables_add_up() -> None:
    usage = copy.deepcopy(USAGE)
    usage["dynamodb_by_table"] = {
        "retail-datapipe-FraudProfilesTable-X1": {"requests": 10, "wru": 1_500_000, "rru": 400_000},
        "retail-datapipe-IdRegistryTable-Y2": {"requests": 5, "wru": 500_000, "rru": 600_000},
    }
    bill = cost.report(usage, rows=2_000_000, files=10, prices=PRICES)
    tables = bill["dynamodb_by_table"]
    profiles = tables["retail-datapipe-FraudProfilesTable-X1"]
    assert profiles["usd"] == pytest.approx(1.5 * 1.0 + 0.4 * 0.2)
    assert profiles["usd_per_million_rows"] == pytest.approx((1.5 + 0.08) / 2)
    assert sum(t["usd"] for t in tables.values()) == pytest.approx(DYNAMODB)
    line = next(x for x in cost.console_lines(bill) if "DynamoDB by table" in x)
    assert line.index("FraudProfilesTable") < line.index("IdRegistryTable")  # the dearest first
    assert "1,500,000 WRU, 400,000 RRU, 10 requests" in line


def test_notifications_to_people_are_priced_per_delivery_beside_the_rest_per_row() -> None:
    bill = cost.report(copy.deepcopy(USAGE), rows=2_000_000, files=10, prices=PRICES)
    notices = bill["notifications"]
    assert notices["deliveries"] == 100_000  # the e-mails; the Lambda deliveries are not people's
    assert notices["usd"] == pytest.approx(100_000 * 0.00002)
    assert notices["usd_per_delivery"] == pytest.approx(0.00002)
    assert notices["rest_usd_per_million_rows"] == pytest.approx((TOTAL - 2.0) / 2)
    line = next(x for x in cost.console_lines(bill) if "notifications to people" in x)
    assert "100,000 deliveries" in line
