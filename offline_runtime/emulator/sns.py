"""SNS deliveries moto does not make as AWS does: Lambda (real attributes, async) and e-mail/SMS.

moto hands an SNS-subscribed function fixed placeholder MessageAttributes ("Test",
"TestBinary") and a placeholder subscription/topic ARN; on AWS the published attributes arrive
(a handler may read ``severity`` from them). moto drops e-mail and SMS deliveries; offline they
land in an outbox (the inbox/phone of this machine) so tests and the demo can see who was told.
Filter policies stay moto's: only the delivery of a matched message is replaced. Lambda
subscribers are invoked through the async invoker (retries, on-failure destination), as AWS does.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.sns.models import Subscription

from offline_runtime.emulator.eventbridge import Delivery, EventBridgeDelivery


def _attributes(message_attributes: dict[str, Any] | None) -> dict[str, Any]:
    out = {}
    for name, attr in (message_attributes or {}).items():
        kind = attr.get("DataType") or attr.get("Type") or "String"
        if "BinaryValue" in attr:
            value = attr["BinaryValue"]
            value = base64.b64encode(value).decode() if isinstance(value, bytes) else value
        else:
            value = attr.get("StringValue", attr.get("Value"))
        out[name] = {"Type": kind, "Value": value}
    return out


def sns_event(
    sub: Subscription,
    message: str,
    message_id: str,
    subject: str | None,
    message_attributes: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": sub.arn,
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                    "Signature": "offline",
                    "SigningCertUrl": "offline",
                    "MessageId": message_id,
                    "Message": message,
                    "MessageAttributes": _attributes(message_attributes),
                    "Type": "Notification",
                    "UnsubscribeUrl": "offline",
                    "TopicArn": sub.topic.arn,
                    "Subject": subject,
                },
            }
        ]
    }


@dataclass
class OutboxMessage:
    protocol: str
    endpoint: str
    topic_arn: str
    subject: str | None
    message: str
    attributes: dict[str, Any]


class SnsDelivery:
    def __init__(self, invoker: EventBridgeDelivery) -> None:
        self.invoker = invoker
        self.outbox: list[OutboxMessage] = []
        self._original: Any = None

    def install(self) -> None:
        original = Subscription.publish
        self._original = original
        invoker = self.invoker
        outbox = self.outbox

        def publish(
            sub: Subscription,
            message: str,
            message_id: str,
            subject: str | None = None,
            message_attributes: dict[str, Any] | None = None,
            group_id: str | None = None,
            deduplication_id: str | None = None,
            message_structure: str | None = None,
        ) -> None:
            if sub.protocol not in ("lambda", "email", "email-json", "sms"):
                return original(
                    sub,
                    message,
                    message_id,
                    subject,
                    message_attributes,
                    group_id,
                    deduplication_id,
                    message_structure,
                )
            matcher = sub._filter_policy_matcher
            if matcher is not None and not matcher.matches(message_attributes, message):
                return None
            if sub.protocol != "lambda":
                outbox.append(
                    OutboxMessage(
                        sub.protocol,
                        sub.endpoint,
                        sub.topic.arn,
                        subject,
                        message,
                        _attributes(message_attributes),
                    )
                )
                return None
            invoker.enqueue(
                Delivery(
                    f"sns:{sub.topic.arn}",
                    sub.endpoint,
                    sns_event(sub, message, message_id, subject, message_attributes),
                )
            )
            return None

        Subscription.publish = publish  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self._original is not None:
            Subscription.publish = self._original  # type: ignore[method-assign]
            self._original = None
