"""End of day (EventBridge Scheduler at midnight in the bank's zone, and hourly attempts until the
cut-off): closes the business day that just ended — balances per account, interest, the customer
portal, reconciliation — or says why it cannot yet (blocked, HIGH alert, next attempt retries).

Also on the bus: a transactions file published for a day already closed restates that day (and
every closed day after it). By hand: ``{"action": "close" | "restate", "business_date": ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.aws import (
    AthenaQueries,
    EventBridgeBus,
    GlueCatalog,
    GluePartitions,
    S3ObjectStore,
    SnsNotifier,
)
from datapipe.banking.balances import TABLE as BALANCES_TABLE
from datapipe.banking.calendar import day_closed_by
from datapipe.banking.dynamo import EndOfDayControl, PortalBalances
from datapipe.banking.events import ManualRun, ScheduledRun, parse_end_of_day
from datapipe.banking.service import Config, EndOfDay, Ports
from datapipe.banking.settings import EndOfDaySettings
from datapipe.envelopes import contract_of
from datapipe.observability import instruments
from datapipe.payloads import PayloadOffload

obs = instruments()
logger, metrics = obs.logger, obs.metrics
settings = EndOfDaySettings.from_env()


@dataclass(frozen=True)
class Adapters:
    service: EndOfDay


def _metric(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


@cache
def adapters() -> Adapters:
    """Clients made once per execution environment, on first use (not at import)."""
    store = S3ObjectStore()
    offload = PayloadOffload(store, settings.quarantine_bucket)
    ports = Ports(
        queries=AthenaQueries(settings.glue_database, settings.athena_workgroup),
        catalog=GlueCatalog(settings.glue_database),
        store=store,
        partitions=GluePartitions(settings.glue_database, BALANCES_TABLE),
        control=EndOfDayControl(settings.eod_control_table),
        portal=PortalBalances(settings.account_balances_table),
        bus=EventBridgeBus(settings.event_bus_name, settings.event_source, offload),
        ops=SnsNotifier(settings.ops_topic_arn, offload),
        metric=_metric,
    )
    config = Config(
        database=settings.glue_database,
        curated_bucket=settings.curated_bucket,
        time_zone=settings.business_time_zone,
        cutoff_hour=settings.eod_cutoff_hour,
        stage=settings.stage,
    )
    return Adapters(EndOfDay(config, ports, contract_of("transactions", "end of day", "dataset")))


@obs.handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = parse_end_of_day(event)
    service = adapters().service
    if isinstance(request, ScheduledRun):
        day = day_closed_by(request.scheduled_time, settings.business_time_zone)
        trigger = f"{request.schedule} attempt at {request.scheduled_time.astimezone(UTC).isoformat()}"
        result = service.run_attempt(day, request.scheduled_time.astimezone(UTC), trigger)
    elif isinstance(request, ManualRun):
        if request.action == "close":
            result = service.run_attempt(
                request.business_date, datetime.now(UTC), f"manual: {request.reason}"
            )
        else:
            result = service.restate(request.business_date, f"manual: {request.reason}")
    else:
        d = request.detail
        if d.dataset != "transactions":
            result = {"status": "IGNORED", "dataset": d.dataset}
        else:
            result = service.on_published(d.run_id, d.partitions, d.rows_published, d.source.key)
    logger.info("end of day", extra={k: v for k, v in result.items() if k != "days"})
    return result
