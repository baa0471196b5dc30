"""SQS intake: each message is an order; a message that is not one is reported alone."""

from __future__ import annotations

import json
import os
from typing import Any

import boto3

sfn = boto3.client("stepfunctions")


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    failures = []
    for record in event["Records"]:
        try:
            order = json.loads(record["body"])
            if "order_id" not in order:
                raise ValueError("no order_id")
        except ValueError:
            receives = record["attributes"]["ApproximateReceiveCount"]
            print(f"poison message {record['messageId']} (receive #{receives})")
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        sfn.start_execution(
            stateMachineArn=os.environ["ORDER_FLOW_ARN"],
            name=f"order-{order['order_id']}",
            input=json.dumps(order),
        )
    return {"batchItemFailures": failures}
