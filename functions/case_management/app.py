"""Case management: every published fraud alert (SNS) -> the case of its card (or account), and
FraudCaseOpened when that alert opened it.

The message names the transaction; the ids a case needs are read from the stored alert record
(FraudAlerts table, keyed by transaction id), never from the message, which carries masked ids
only. The severity is read from the SNS message attribute, as the subscriptions' filter policies
see it. A burst on one card opens ONE case that accumulates its alerts (``DynamoCaseBook``); a
redelivered alert is already in its case and is not counted twice.

FraudCaseOpened is finished by any retry: the case is stored with ``announced = false`` in the
transaction that opens it, the event is put, then the flag is set. A PutEvents failure after the
case is stored fails the invocation; its retry (or the next alert of the case) finds the case
unannounced and emits the event (at least once: consumers key on ``case_id``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import EventBridgeBus, FraudAlerts, S3ObjectStore, alert_from_record
from datapipe.envelopes import FraudAlertRecord, FraudAlertSnsEvent, InvalidEvent, parse
from datapipe.events import FRAUD_CASE_OPENED
from datapipe.fraud.alerts import DynamoCaseBook
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
    cases: DynamoCaseBook
    bus: EventBridgeBus


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    offload = PayloadOffload(S3ObjectStore(), settings.quarantine_bucket)
    return Adapters(
        alerts=FraudAlerts(settings.fraud_alerts_table),
        cases=DynamoCaseBook(settings.fraud_cases_table),
        bus=EventBridgeBus(settings.event_bus_name, settings.event_source, offload),
    )


def announce(a: Adapters, case_id: str, account_id: str | None, score: str) -> bool:
    """Emit FraudCaseOpened if the case has not been announced yet; True when it was emitted now."""
    pending = a.cases.unannounced(case_id)
    if pending is None:
        return False
    a.bus.put(
        FRAUD_CASE_OPENED,
        {
            "case_id": case_id,
            "transaction_id": pending["opened_by"],
            "severity": pending["severity"],
            "score": score,
            "rules": pending["rules"],
            "opened_at": pending["opened_at"],
            "account_id_masked": mask_id(account_id),
        },
    )
    a.cases.mark_announced(case_id)
    metrics.add_metric(name="FraudCasesOpened", unit=MetricUnit.Count, value=1)
    return True


def handle(record: FraudAlertRecord, index: int, a: Adapters) -> tuple[str, bool]:
    sns = record.Sns
    severity = sns.MessageAttributes.get("severity")
    if severity is None:
        raise InvalidEvent(WHAT, [(f"Records[{index}].Sns.MessageAttributes.severity", "missing")])
    transaction_id = sns.Message.transaction_id
    stored = a.alerts.get(transaction_id)
    if stored is None:
        raise AlertNotFound(f"no stored alert for transaction {transaction_id} (message {sns.MessageId})")
    alert = alert_from_record(stored, transaction_id, severity.Value)
    update = a.cases.add(alert, datetime.now(UTC))
    if not update.added:
        logger.info("alert already in its case", extra={"case_id": update.case_id})
        metrics.add_metric(name="FraudAlertsRedelivered", unit=MetricUnit.Count, value=1)
    announced = announce(a, update.case_id, stored.get("account_id"), str(stored.get("score")))
    return update.case_id, announced


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    notification = parse(FraudAlertSnsEvent, event, WHAT)
    a = adapters()
    opened: list[str] = []
    cases: list[str] = []
    for index, record in enumerate(notification.Records):
        case_id, announced = handle(record, index, a)
        cases.append(case_id)
        if announced:
            opened.append(case_id)
    return {"opened": opened, "cases": cases}
