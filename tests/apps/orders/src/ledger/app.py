"""DynamoDB stream consumer: every change of an order's status goes to the ledger queue.

An item whose pk starts with "poison" cannot be recorded: it is reported alone
(ReportBatchItemFailures), retried, then parked by the mapping's on-failure destination.
"""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

sqs = boto3.client("sqs")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        keys = record["dynamodb"]["Keys"]
        pk = keys["pk"]["S"]
        if pk.startswith("poison"):
            failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
            continue
        new = record["dynamodb"].get("NewImage", {})
        change = {"pk": pk, "event": record["eventName"], "status": new.get("status", {}).get("S")}
        sqs.send_message(QueueUrl=os.environ["LEDGER_QUEUE_URL"], MessageBody=json.dumps(change))
    return {"batchItemFailures": failures}
