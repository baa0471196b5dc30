"""Puts in place what this project's sample events refer to (``make invoke`` runs this hook).

S3 objects named by an event are uploaded by the invoke command itself (``--data-dir events/data``).
Inputs that carry a staged dataset (the state machine's input, the validators', publish's) need the
staged Parquet and manifest: they are produced by running the real ingest on the source object first
(run ids are deterministic per key and content, so the keys in the event match). A fraud alert
notification gets its stored alert record (``events/data/fraud-alert-<transaction id>.json``) put
into the FraudAlerts table, where case management reads the ids the message does not carry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.project import DATA


def sample_body(key: str, data_dir: Path = DATA) -> bytes:
    path = data_dir / key.rsplit("/", 1)[-1]
    if not path.exists():
        raise FileNotFoundError(f"no sample object for {key}: expected {path} (or pass --data FILE)")
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


def ensure_object(stack: OfflineStack, bucket: str, key: str, data: Path | None = None) -> str:
    s3 = stack.client("s3")
    if data is None:
        try:
            return str(s3.head_object(Bucket=bucket, Key=key)["ETag"]).strip('"')
        except s3.exceptions.ClientError:
            pass
    body = data.read_bytes() if data is not None else sample_body(key)
    return str(s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]).strip('"')


def _staged_detail(event: Any) -> dict[str, Any] | None:
    if not isinstance(event, dict):
        return None
    if isinstance(event.get("staged"), dict) and isinstance(event["staged"].get("source"), dict):
        staged: dict[str, Any] = event["staged"]
        return staged
    detail = event.get("detail")
    if (
        isinstance(detail, dict)
        and isinstance(detail.get("staged"), dict)
        and isinstance(detail.get("source"), dict)
    ):
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


def prepare_event(stack: OfflineStack, event: Any) -> None:
    """What `make invoke` does for a sample event: its S3 objects from events/data, then ``prepare``."""
    from offline_runtime.emulator.session import put_event_objects

    put_event_objects(stack, event, None, DATA, lambda _: None)
    prepare(stack, event)


def prepare(stack: OfflineStack, event: Any, data: Path | None = None) -> None:
    """A staged-dataset input: run the real ingest on its source object so its staged keys exist;
    a fraud alert notification: its stored alert record."""
    if isinstance(event, dict):
        seed_alerts(stack, event)
    staged = _staged_detail(event)
    if staged is None:
        return
    src = staged["source"]
    etag = ensure_object(stack, src["bucket"], src["key"], data)
    body = stack.client("s3").get_object(Bucket=src["bucket"], Key=src["key"])["Body"].read()
    report, errored, logs = stack.invoke(
        "IngestFunction", s3_object_created_event(src["bucket"], src["key"], body, etag)
    )
    if errored or not isinstance(report, dict) or report.get("run_id") != staged.get("run_id"):
        raise RuntimeError(
            f"ingest of {src['key']} gave run {_run_id(report)!r}, the event expects "
            f"{staged.get('run_id')!r}: the event's staged keys will not resolve (different data? regenerate "
            f"the samples with offline_runtime.cli.capture_events)\n{json.dumps(report)}\n{logs}"
        )
    if event.get("detail-type") == "DatasetPublished":
        _published(stack, event, report)


def _published(stack: OfflineStack, event: dict[str, Any], report: dict[str, Any]) -> None:
    """A DatasetPublished sample: the run published too (its curated files and published record
    are what the consumers read), from the manifest ingest just wrote."""
    loc = report["manifest"]
    manifest = json.loads(stack.client("s3").get_object(Bucket=loc["bucket"], Key=loc["key"])["Body"].read())
    parts = manifest["staged_parts"]
    staged = {
        **{k: manifest[k] for k in ("dataset", "schema_version", "run_id", "format", "compression")},
        "source": manifest["source"],
        "staged": {
            "bucket": parts[0]["bucket"],
            "key": parts[0]["key"],
            "parts": [{k: p[k] for k in ("key", "rows", "bytes")} for p in parts],
        },
        "manifest": loc,
        "counts": manifest["counts"],
    }
    result, errored, logs = stack.invoke(
        "PublishFunction", {"staged": staged, "quality_score": event["detail"].get("quality_score")}
    )
    if errored:
        raise RuntimeError(f"publish of {staged['run_id']} failed: {json.dumps(result)}\n{logs}")


def _run_id(report: Any) -> Any:
    return report.get("run_id") if isinstance(report, dict) else None


prepare.needs = ["IngestFunction", "PublishFunction", "FraudAlertsTable"]  # type: ignore[attr-defined]
