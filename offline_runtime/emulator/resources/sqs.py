"""AWS::SQS::Queue and AWS::SQS::QueuePolicy."""

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
from offline_runtime.emulator.resources.base import as_json, client, tags_map

_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "FifoQueue",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
)
AWS_DEFAULT_MAX_MESSAGE = "262144"


@provider("AWS::SQS::Queue")
class Queue(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        sqs = client(stack, "sqs")
        fifo = str(props.get("FifoQueue", "false")).lower() == "true"
        name = props.get("QueueName") or physical_name(
            stack.name, resource.logical_id, 80, suffix=".fifo" if fifo else ""
        )
        attributes: dict[str, str] = {"MaximumMessageSize": AWS_DEFAULT_MAX_MESSAGE}
        for key in _ATTRIBUTES:
            if key in props:
                value = props[key]
                attributes[key] = (
                    as_json(value)
                    if isinstance(value, dict)
                    else str(value).lower()
                    if isinstance(value, bool)
                    else str(value)
                )
        kwargs: dict[str, Any] = {"QueueName": name, "Attributes": attributes}
        if props.get("Tags"):
            kwargs["tags"] = tags_map(props["Tags"])
        url = sqs.create_queue(**kwargs)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return Created(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


@provider("AWS::SQS::QueuePolicy")
class QueuePolicy(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        sqs = client(stack, "sqs")
        for url in props["Queues"]:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": as_json(props["PolicyDocument"])})
        return Created(f"{resource.logical_id}-{stack.name}")
