"""AWS::SNS::Topic, AWS::SNS::TopicPolicy, AWS::SNS::Subscription (moto's CloudFormation skips the last)."""

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
from offline_runtime.emulator.resources.base import as_json, client, tags_list

_TOPIC_ATTRIBUTES = (
    "DisplayName",
    "KmsMasterKeyId",
    "FifoTopic",
    "ContentBasedDeduplication",
    "SignatureVersion",
    "TracingConfig",
    "ArchivePolicy",
)


@provider("AWS::SNS::Topic")
class Topic(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        sns = client(stack, "sns")
        fifo = str(props.get("FifoTopic", "false")).lower() == "true"
        name = props.get("TopicName") or physical_name(
            stack.name, resource.logical_id, 256, suffix=".fifo" if fifo else ""
        )
        attributes = {
            k: as_json(props[k]) if isinstance(props[k], dict) else str(props[k])
            for k in _TOPIC_ATTRIBUTES
            if k in props
        }
        if "FifoTopic" in attributes:
            attributes["FifoTopic"] = attributes["FifoTopic"].lower()
        kwargs: dict[str, Any] = {"Name": name, "Attributes": attributes}
        if props.get("Tags"):
            kwargs["Tags"] = tags_list(props["Tags"])
        arn = sns.create_topic(**kwargs)["TopicArn"]
        for sub in props.get("Subscription") or []:
            sns.subscribe(TopicArn=arn, Protocol=sub["Protocol"], Endpoint=sub["Endpoint"])
        return Created(arn, {"TopicArn": arn, "TopicName": name})


@provider("AWS::SNS::TopicPolicy")
class TopicPolicy(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        sns = client(stack, "sns")
        for topic in props["Topics"]:
            sns.set_topic_attributes(
                TopicArn=topic, AttributeName="Policy", AttributeValue=as_json(props["PolicyDocument"])
            )
        return Created(f"{resource.logical_id}-{stack.name}")


@provider("AWS::SNS::Subscription")
class Subscription(Provider):
    def create(self, stack: Stack, resource: Resource, props: dict[str, Any]) -> Created:
        attributes: dict[str, str] = {}
        for key in (
            "FilterPolicy",
            "FilterPolicyScope",
            "RawMessageDelivery",
            "RedrivePolicy",
            "DeliveryPolicy",
        ):
            if key in props:
                value = props[key]
                attributes[key] = (
                    as_json(value)
                    if isinstance(value, dict)
                    else str(value).lower()
                    if key == "RawMessageDelivery"
                    else str(value)
                )
        arn = client(stack, "sns").subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        return Created(arn, {"Arn": arn})
