"""SNS deliveries moto does not make as AWS does: Lambda (real attributes, async), e-mail, SMS, HTTP.

moto hands an SNS-subscribed function fixed placeholder MessageAttributes ("Test",
"TestBinary"); on AWS the published attributes arrive (a handler may read ``severity``). moto drops
e-mail, SMS and HTTP deliveries; offline they land in an outbox (the inbox / phone / endpoint of
this machine) so tests and the demo can see who was told what. Filter policies stay moto's: only the
delivery of a matched message is replaced. Lambda subscribers are invoked asynchronously (Lambda's
retries and destinations apply). A delivery SNS itself cannot make (the function is gone) goes to
the subscription's ``RedrivePolicy`` dead-letter queue when it has one.
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.awslambda.utils import get_backend as lambda_backend
from moto.sns.models import Subscription
from moto.utilities.arns import parse_arn

from offline_runtime.emulator.clock import Clock
from offline_runtime.emulator.invoker import AsyncInvoker, send_to_destination
from offline_runtime.emulator.patches import AttributePatch, Patch

OUTBOX_PROTOCOLS = ("email", "email-json", "sms", "http", "https")


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
    now: float,
) -> dict[str, Any]:
    return {
        "Records": [
            {
                "EventVersion": "1.0",
                "EventSubscriptionArn": sub.arn,
                "EventSource": "aws:sns",
                "Sns": {
                    "SignatureVersion": "1",
                    "Timestamp": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
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


@dataclass
class SnsLog:
    delivered: int = 0
    redriven: int = 0
    undeliverable: list[str] = field(default_factory=list)


class SnsDelivery:
    def __init__(self, invoker: AsyncInvoker, clock: Clock, region: str) -> None:
        self.invoker = invoker
        self.clock = clock
        self.region = region
        self.outbox: list[OutboxMessage] = []
        self.log = SnsLog()
        self._lock = threading.Lock()

    def patches(self) -> list[Patch]:
        delivery = self
        original = Subscription.publish

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
            if sub.protocol not in ("lambda", *OUTBOX_PROTOCOLS):
                return original(  # type: ignore[no-any-return]
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
            delivery.deliver(sub, message, message_id, subject, message_attributes)
            return None

        return [
            AttributePatch(
                Subscription,
                "publish",
                publish,
                "moto sends placeholder attributes to Lambda and drops e-mail/SMS/HTTP deliveries",
            )
        ]

    def deliver(
        self,
        sub: Subscription,
        message: str,
        message_id: str,
        subject: str | None,
        message_attributes: dict[str, Any] | None,
    ) -> None:
        if sub.protocol in OUTBOX_PROTOCOLS:
            with self._lock:
                self.outbox.append(
                    OutboxMessage(
                        sub.protocol,
                        sub.endpoint,
                        sub.topic.arn,
                        subject,
                        message,
                        _attributes(message_attributes),
                    )
                )
                self.log.delivered += 1
            return
        event = sns_event(sub, message, message_id, subject, message_attributes, self.clock.now())
        arn = parse_arn(sub.endpoint)
        try:
            fn = lambda_backend(arn.account, arn.region).get_function(sub.endpoint)
        except Exception as exc:
            self._redrive(sub, message, message_attributes, f"function {sub.endpoint} not found: {exc}")
            return
        self.invoker.invoke_async(fn, event)
        with self._lock:
            self.log.delivered += 1

    def _redrive(
        self, sub: Subscription, message: str, message_attributes: dict[str, Any] | None, reason: str
    ) -> None:
        policy = sub.attributes.get("RedrivePolicy") if hasattr(sub, "attributes") else None
        dlq = json.loads(policy).get("deadLetterTargetArn") if policy else None
        with self._lock:
            self.log.undeliverable.append(f"{sub.arn}: {reason}")
        if dlq:
            send_to_destination(self.region, dlq, message)
            with self._lock:
                self.log.redriven += 1
