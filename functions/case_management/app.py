"""Case management: every published fraud alert (SNS) -> a case record and FraudCaseOpened.

The message names the transaction; the ids a case needs (account, card, customer) are read from
the stored alert record (FraudAlerts table, keyed by transaction id), never from the message,
which carries masked ids only. The severity is read from the SNS message attribute, as the
subscriptions' filter policies see it; the case id is the transaction id, so a redelivered
alert finds its case already open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, FraudAlerts, FraudCases, S3ObjectStore
from datapipe.envelopes import FraudAlertRecord, FraudAlertSnsEvent, InvalidEvent, parse
from datapipe.events import FRAUD_CASE_OPENED
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload
from datapipe.pii import mask_id
from datapipe.settings import CaseManagementSettings

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = CaseManagementSettings.from_env()
WHAT = "fraud alert notification"


class AlertNotFound(LookupError):
    """An alert message whose transaction has no stored alert record (nothing to open a case on)."""


@dataclass(frozen=True)
class Adapters:
    alerts: FraudAlerts
    cases: FraudCases
    bus: EventBridgeBus


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    offload = PayloadOffload(S3ObjectStore(), settings.quarantine_bucket)
    return Adapters(
        alerts=FraudAlerts(settings.fraud_alerts_table),
        cases=FraudCases(settings.fraud_cases_table),
        bus=EventBridgeBus(settings.event_bus_name, settings.event_source, offload),
    )


def case_for(record: FraudAlertRecord, index: int, a: Adapters) -> dict[str, Any]:
    sns = record.Sns
    severity = sns.MessageAttributes.get("severity")
    if severity is None:
        raise InvalidEvent(WHAT, [(f"Records[{index}].Sns.MessageAttributes.severity", "missing")])
    transaction_id = sns.Message.transaction_id
    alert = a.alerts.get(transaction_id)
    if alert is None:
        raise AlertNotFound(f"no stored alert for transaction {transaction_id} (message {sns.MessageId})")
    return {
        "case_id": f"CASE-{transaction_id}",
        "transaction_id": transaction_id,
        "account_id": alert.get("account_id"),
        "severity": severity.Value,
        "score": str(alert.get("score")),
        "rules": alert.get("rules", []),
        "reasons": alert.get("reasons", []),
        "status": "OPEN",
        "opened_at": datetime.now(UTC).isoformat(),
        "alert_message_id": sns.MessageId,
    }


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notification = parse(FraudAlertSnsEvent, event, WHAT)
    a = adapters()
    opened = []
    for index, record in enumerate(notification.Records):
        case = case_for(record, index, a)
        if not a.cases.open({k: v for k, v in case.items() if v is not None}):
            logger.info("case already open", extra={"case_id": case["case_id"]})
            metrics.add_metric(name="FraudAlertsRedelivered", unit=MetricUnit.Count, value=1)
            continue
        a.bus.put(
            FRAUD_CASE_OPENED,
            {
                **{k: case[k] for k in ("case_id", "transaction_id", "severity", "score", "rules")},
                "account_id_masked": mask_id(case["account_id"]),
            },
        )
        metrics.add_metric(name="FraudCasesOpened", unit=MetricUnit.Count, value=1)
        opened.append(case["case_id"])
    return {"opened": opened}
