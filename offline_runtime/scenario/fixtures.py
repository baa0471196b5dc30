"""Puts in place what an event in events/ refers to, so the function it targets can run for real.

S3 objects named by an event are uploaded from ``events/data/<file name>``; inputs that carry a
staged dataset are produced by running the real ingest on their source object first (run ids
are deterministic per key and content, so the keys in the event match); a fraud alert
notification gets its stored alert record (``events/data/fraud-alert-<transaction id>.json``)
put into the FraudAlerts table, where case management reads the ids the message does not carry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offline_runtime.emulator.deploy import ROOT, OfflineStack
from offline_runtime.emulator.session import invoke

DATA = ROOT / "events" / "data"


def sample_body(key: str, data_dir: Path = DATA) -> bytes:
    path = data_dir / key.rsplit("/", 1)[-1]
    if not path.exists():
        raise FileNotFoundError(f"no sample object for {key}: expected {path}")
    return path.read_bytes()


def s3_object_created_event(bucket: str, key: str, body: bytes, etag: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2026-11-21T23:55:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": {"key": key, "size": len(body), "etag": etag, "sequencer": "00617F08299329D189"},
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "203.0.113.15",
            "reason": "PutObject",
        },
    }


def ensure_object(stack: OfflineStack, bucket: str, key: str) -> str:
    s3 = stack.client("s3")
    try:
        return str(s3.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')
    except s3.exceptions.ClientError:
        resp = s3.put_object(Bucket=bucket, Key=key, Body=sample_body(key))
        return str(resp["ETag"]).strip('"')


def _staged_detail(event: dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(event.get("staged"), dict):
        return event["staged"]
    detail = event.get("detail")
    if isinstance(detail, dict) and "staged" in detail and "source" in detail:
        return detail
    return None


def _alert_transactions(event: dict[str, Any]) -> list[str]:
    """Transaction ids of the SNS fraud alert messages in ``event`` (none for anything else)."""
    out: list[str] = []
    records = event.get("Records")
    for record in records if isinstance(records, list) else []:
        sns = record.get("Sns") if isinstance(record, dict) else None
        if not isinstance(sns, dict) or "FraudAlertsTopic" not in str(sns.get("TopicArn", "")):
            continue
        try:
            message = json.loads(sns.get("Message") or "")
        except ValueError:
            continue  # the handler reports a malformed message itself
        if isinstance(message, dict) and isinstance(message.get("transaction_id"), str):
            out.append(message["transaction_id"])
    return out


def seed_alerts(stack: OfflineStack, event: dict[str, Any], data_dir: Path = DATA) -> None:
    table = stack.physical.get("FraudAlertsTable")
    for transaction_id in _alert_transactions(event):
        path = data_dir / f"fraud-alert-{transaction_id}.json"
        if table and path.exists():
            record = json.loads(path.read_text())
            item = {
                k: {"L": [{"S": str(x)} for x in v]} if isinstance(v, list) else {"S": str(v)}
                for k, v in record.items()
                if v is not None
            }
            stack.client("dynamodb").put_item(TableName=table, Item=item)


def prepare(stack: OfflineStack, event: dict[str, Any]) -> None:
    seed_alerts(stack, event)
    if event.get("source") == "aws.s3" and "detail" in event:
        ensure_object(stack, event["detail"]["bucket"]["name"], event["detail"]["object"]["key"])
        return
    staged = _staged_detail(event)
    if staged is None:
        return
    src = staged["source"]
    etag = ensure_object(stack, src["bucket"], src["key"])
    body = stack.client("s3").get_object(Bucket=src["bucket"], Key=src["key"])["Body"].read()
    report, errored, logs = invoke(
        stack, "IngestFunction", s3_object_created_event(src["bucket"], src["key"], body, etag)
    )
    if errored or report.get("run_id") != staged["run_id"]:
        raise RuntimeError(
            f"preparing {src['key']}: ingest gave run {report.get('run_id')!r}, event expects "
            f"{staged['run_id']!r} (sample data changed? regenerate events)\n{json.dumps(report)}\n{logs}"
        )
