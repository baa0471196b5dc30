"""What the fault-matrix tests share: small files, the pipeline's outcomes read back, redrives.

Files are small (40 transactions + one that alerts, 30 stock movements) and every scenario has
its own store id, so scenarios on one stack never see each other's rows.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow.parquet as pq

from datapipe import layout
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.fixtures import s3_object_created_event

TX_HEADER = (
    "transaction_id,transaction_type,original_transaction_id,account_id,card_id,customer_id,store_id,"
    "merchant,merchant_category,amount,currency,channel,location_country,location_state,home_country,"
    "home_state,account_type,event_time"
)
MV_HEADER = "movement_id,store_id,product_id,quantity_change,reason,reference_id,event_time"
DAY = datetime.now(UTC).date() - timedelta(days=1)
PRODUCTS = ("P0001", "P0002", "P0003")
ON_HAND, THRESHOLD, SOLD = 40, 25, 20  # 40 - 20 = 20 < 25: every product crosses once


def alert_id(tag: str) -> str:
    return f"T{tag}ALERT"


def transactions(tag: str, n: int = 40, amount_shift: int = 0, alerts: int = 1) -> bytes:
    """``n`` plain purchases (one card each: no velocity) and ``alerts`` out-of-state 2,750 USD
    purchases (HIGH), the first with id ``alert_id(tag)``."""
    rows = [TX_HEADER]
    for i in range(n):
        at = datetime(DAY.year, DAY.month, DAY.day, 10, tzinfo=UTC) + timedelta(minutes=i)
        rows.append(
            f"T{tag}{i:04d},PURCHASE,,A{tag}{i:04d},C{tag}{i:04d},U{tag}{i:04d},F{tag},Corner Shop,"
            f"RESTAURANT,{12 + i + amount_shift}.50,USD,POS,US,CA,US,CA,checking,{at:%Y-%m-%dT%H:%M:%SZ}"
        )
    for k in range(alerts):
        rows.append(
            f"{alert_id(tag)}{'' if k == 0 else k},PURCHASE,,A{tag}X{k},C{tag}X{k},U{tag}X{k},F{tag},"
            f"Bistro 21,RESTAURANT,2750.00,USD,POS,US,NV,US,CA,credit,{DAY:%Y-%m-%d}T2{k}:00:00Z"
        )
    return ("\n".join(rows) + "\n").encode()


def movements(tag: str, n: int = 30) -> bytes:
    rows = [MV_HEADER]
    for i in range(n):
        at = datetime(DAY.year, DAY.month, DAY.day, 9, tzinfo=UTC) + timedelta(minutes=i)
        rows.append(f"M{tag}{i:04d},F{tag},{PRODUCTS[i % 3]},-2,SALE,,{at:%Y-%m-%dT%H:%M:%SZ}")
    return ("\n".join(rows) + "\n").encode()


def seed_items(stack: OfflineStack, tag: str) -> None:
    """The stock records of the scenario's store (a fixed reorder point: demand does not move it)."""
    db = stack.client("dynamodb")
    for product in PRODUCTS:
        db.put_item(
            TableName=stack.physical["InventoryTable"],
            Item={
                "store_id": {"S": f"F{tag}"},
                "product_id": {"S": product},
                "on_hand": {"N": str(ON_HAND)},
                "reorder_threshold": {"N": str(THRESHOLD)},
                "reorder_point_fixed": {"BOOL": True},
                "avg_daily_sales": {"N": "10"},
                "lead_time_days": {"N": "2"},
                "review_days": {"N": "1"},
                "safety_stock": {"N": "5"},
                "case_pack": {"N": "6"},
                "min_order_qty": {"N": "1"},
            },
        )
    stack.wait_idle(120)


def raw_key(dataset: str, tag: str) -> str:
    if dataset == "transactions":
        return f"transactions/{DAY}/pos-F{tag}.csv"
    return f"inventory_movements/{DAY}/store-F{tag}.csv"


def body_of(dataset: str, tag: str) -> bytes:
    return transactions(tag) if dataset == "transactions" else movements(tag)


def ids_in(body: bytes) -> list[str]:
    return [line.split(",", 1)[0] for line in body.decode().splitlines()[1:] if line]


def put_raw(
    stack: OfflineStack, key: str, body: bytes, multipart: bool = False, kms: bool = False
) -> dict[str, Any]:
    """Upload to the raw bucket (EventBridge then starts the pipeline); the S3 event it makes."""
    s3 = stack.client("s3")
    bucket = stack.outputs["RawBucketName"]
    extra: dict[str, Any] = {"ServerSideEncryption": "aws:kms"} if kms else {}
    if multipart:
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)
        part = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=1, Body=body)
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
    else:
        s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
    etag = str(s3.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')
    return s3_object_created_event(bucket, key, body, etag)


def run_of(event: dict[str, Any], dataset: str) -> str:
    obj = event["detail"]["object"]
    return layout.run_id(dataset, obj["key"], obj["etag"])


def curated_counts(stack: OfflineStack, dataset: str, ids: list[str]) -> Counter[str]:
    """How often each id is in the curated table's files (what Athena would read)."""
    s3 = stack.client("s3")
    bucket = stack.outputs["CuratedBucketName"]
    column = "transaction_id" if dataset == "transactions" else "movement_id"
    wanted = set(ids)
    counts: Counter[str] = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"curated/{dataset}/"):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            table = pq.read_table(io.BytesIO(body), columns=[column])
            counts.update(i for i in table.column(column).to_pylist() if i in wanted)
    return counts


def published_record(stack: OfflineStack, dataset: str, run: str) -> dict[str, Any] | None:
    s3 = stack.client("s3")
    try:
        body = s3.get_object(
            Bucket=stack.outputs["CuratedBucketName"], Key=layout.published_record_key(dataset, run)
        )["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    record: dict[str, Any] = json.loads(body)
    return record


def staged_keys(stack: OfflineStack, dataset: str, run: str) -> list[str]:
    s3 = stack.client("s3")
    resp = s3.list_objects_v2(Bucket=stack.outputs["CuratedBucketName"], Prefix=f"staging/{dataset}/{run}")
    return [o["Key"] for o in resp.get("Contents", [])]


def messages(stack: OfflineStack, url: str) -> list[dict[str, Any]]:
    """Every message of an SQS queue, removed (bodies parsed)."""
    sqs = stack.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return out
        for m in got:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def invoke_async(stack: OfflineStack, logical_id: str, event: Any) -> None:
    stack.client("lambda").invoke(
        FunctionName=stack.physical[logical_id], InvocationType="Event", Payload=json.dumps(event).encode()
    )


def alert_state(stack: OfflineStack, transaction_id: str) -> dict[str, Any] | None:
    item = (
        stack.client("dynamodb")
        .get_item(
            TableName=stack.physical["FraudAlertsTable"],
            Key={"transaction_id": {"S": transaction_id}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return None if item is None else dict(item)


def cases_with(stack: OfflineStack, transaction_id: str) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName=stack.physical["FraudCasesTable"])["Items"]
    return [i for i in items if transaction_id in i.get("alert_ids", {}).get("SS", [])]


def on_hand(stack: OfflineStack, tag: str) -> dict[str, tuple[int, int]]:
    """product -> (on_hand, on_order) of the scenario's store."""
    out = {}
    for product in PRODUCTS:
        item = stack.client("dynamodb").get_item(
            TableName=stack.physical["InventoryTable"],
            Key={"store_id": {"S": f"F{tag}"}, "product_id": {"S": product}},
            ConsistentRead=True,
        )["Item"]
        out[product] = (
            int(Decimal(item["on_hand"]["N"])),
            int(Decimal(item.get("on_order", {"N": "0"})["N"])),
        )
    return out


def orders_of(stack: OfflineStack, tag: str) -> list[dict[str, Any]]:
    items = stack.client("dynamodb").scan(TableName=stack.physical["PurchaseOrdersTable"])["Items"]
    return [i for i in items if i["store_id"]["S"] == f"F{tag}"]
