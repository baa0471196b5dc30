"""Typed settings from environment variables, read in one place.

Each function declares its own settings class (``IngestSettings``, ``FraudRealtimeSettings``...)
with only the variables it reads, and builds it at import time (cold start) from its template
environment. ``Settings`` is the ingest service's all-optional view, kept for ``IngestDeps``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator


class MissingSetting(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    stage: str = "dev"
    raw_bucket: str = ""
    curated_bucket: str = ""
    quarantine_bucket: str = ""
    event_bus_name: str = ""
    ops_topic_arn: str = ""
    glue_database: str = ""
    athena_workgroup: str = ""
    event_source: str = "retail.datapipe"
    inventory_table: str = ""
    movement_ledger_table: str = ""
    purchase_orders_table: str = ""
    fraud_alerts_table: str = ""
    fraud_cases_table: str = ""
    card_activity_table: str = ""
    account_profiles_table: str = ""
    fraud_topic_arn: str = ""
    critical_severity_threshold: float = 0.9
    high_severity_threshold: float = 0.7
    medium_severity_threshold: float = 0.5
    fraud_alert_min_severity: str = "MEDIUM"

    ENV: ClassVar[dict[str, str]] = {
        "stage": "STAGE",
        "raw_bucket": "RAW_BUCKET",
        "curated_bucket": "CURATED_BUCKET",
        "quarantine_bucket": "QUARANTINE_BUCKET",
        "event_bus_name": "EVENT_BUS_NAME",
        "ops_topic_arn": "OPS_TOPIC_ARN",
        "glue_database": "GLUE_DATABASE",
        "athena_workgroup": "ATHENA_WORKGROUP",
        "event_source": "EVENT_SOURCE",
        "inventory_table": "INVENTORY_TABLE",
        "movement_ledger_table": "MOVEMENT_LEDGER_TABLE",
        "purchase_orders_table": "PURCHASE_ORDERS_TABLE",
        "fraud_alerts_table": "FRAUD_ALERTS_TABLE",
        "fraud_cases_table": "FRAUD_CASES_TABLE",
        "card_activity_table": "CARD_ACTIVITY_TABLE",
        "account_profiles_table": "ACCOUNT_PROFILES_TABLE",
        "fraud_topic_arn": "FRAUD_TOPIC_ARN",
        "critical_severity_threshold": "CRITICAL_SEVERITY_THRESHOLD",
        "high_severity_threshold": "HIGH_SEVERITY_THRESHOLD",
        "medium_severity_threshold": "MEDIUM_SEVERITY_THRESHOLD",
        "fraud_alert_min_severity": "FRAUD_ALERT_MIN_SEVERITY",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            name = cls.ENV[f.name]
            if env.get(name, "") != "":  # an empty variable is an unset one
                try:
                    values[f.name] = float(env[name]) if f.type in (float, "float") else env[name]
                except ValueError:
                    raise MissingSetting(
                        f"environment variable {name} must be a number, got {env[name]!r}"
                    ) from None
        return cls(**values)  # type: ignore[arg-type]

    def require(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise MissingSetting(f"environment variable {self.ENV[name]} is not set")
        return str(value)


# --------------------------------------------------------------------------- per-function settings
# Each function declares the variables it reads, typed; ``from_env()`` runs at import (cold start),
# so a missing or malformed variable fails the init with every offending variable named, instead
# of the first invocation that happens to need it. Variables a function does not declare are
# ignored (the template's Globals give every function all of them).


class InvalidSettings(MissingSetting):
    """The environment does not give a function what it declares: each variable and why."""

    def __init__(self, settings: str, problems: list[tuple[str, str]]) -> None:
        self.settings = settings
        self.problems = problems
        self.variables = [name for name, _ in problems]
        super().__init__(
            f"{settings}: " + "; ".join(f"environment variable {n} {why}" for n, why in problems)
        )


def _env_name(loc: tuple[Any, ...]) -> str:
    return str(loc[0]) if loc else "?"


def _why(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "is not set"
    got = error.get("input")
    shown = f", got {got!r}" if isinstance(got, (str, int, float)) else ""
    if kind == "string_pattern_mismatch":
        expected = (error.get("ctx") or {}).get("pattern", "")
        return f"is malformed (expected {_PATTERN_NAMES.get(expected, expected)}){shown}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number{shown}"
    if kind in ("greater_than_equal", "less_than_equal"):
        return f"must be between 0 and 1{shown}"
    if kind == "literal_error":
        return f"must be one of {(error.get('ctx') or {}).get('expected', '')}{shown}"
    return f"is invalid: {error['msg']}{shown}"


_BUCKET = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
_TABLE = r"^[A-Za-z0-9_.-]{3,255}$"
_SNS_TOPIC_ARN = r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
_BUS = r"^[A-Za-z0-9._/-]{1,256}$"
_EVENT_SOURCE = r"^(?!aws\.)[A-Za-z0-9._/-]{1,256}$"
_NAME = r"^\S{1,255}$"
_PATTERN_NAMES = {
    _BUCKET: "an S3 bucket name",
    _TABLE: "a DynamoDB table name",
    _SNS_TOPIC_ARN: "an SNS topic ARN",
    _BUS: "an EventBridge bus name",
    _EVENT_SOURCE: "an event source that does not start with 'aws.'",
    _NAME: "a name without spaces",
}


Stage = Annotated[str, StringConstraints(pattern=_NAME), Field(alias="STAGE")]
CuratedBucket = Annotated[str, StringConstraints(pattern=_BUCKET), Field(alias="CURATED_BUCKET")]
QuarantineBucket = Annotated[str, StringConstraints(pattern=_BUCKET), Field(alias="QUARANTINE_BUCKET")]
EventBusName = Annotated[str, StringConstraints(pattern=_BUS), Field(alias="EVENT_BUS_NAME")]
EventSource = Annotated[str, StringConstraints(pattern=_EVENT_SOURCE), Field(alias="EVENT_SOURCE")]
OpsTopicArn = Annotated[str, StringConstraints(pattern=_SNS_TOPIC_ARN), Field(alias="OPS_TOPIC_ARN")]
FraudTopicArn = Annotated[str, StringConstraints(pattern=_SNS_TOPIC_ARN), Field(alias="FRAUD_TOPIC_ARN")]
GlueDatabase = Annotated[str, StringConstraints(pattern=_NAME), Field(alias="GLUE_DATABASE")]
AthenaWorkgroup = Annotated[str, StringConstraints(pattern=_NAME), Field(alias="ATHENA_WORKGROUP")]
InventoryTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="INVENTORY_TABLE")]
MovementLedgerTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="MOVEMENT_LEDGER_TABLE")]
PurchaseOrdersTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="PURCHASE_ORDERS_TABLE")]
FraudAlertsTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="FRAUD_ALERTS_TABLE")]
FraudCasesTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="FRAUD_CASES_TABLE")]
CardActivityTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="CARD_ACTIVITY_TABLE")]
AccountProfilesTable = Annotated[
    str, StringConstraints(pattern=_TABLE), Field(alias="ACCOUNT_PROFILES_TABLE")
]
RecordIdsTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="RECORD_IDS_TABLE")]
FraudProfilesTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="FRAUD_PROFILES_TABLE")]
DeliveryTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="DELIVERY_TABLE")]
Severity = Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]


class FunctionSettings(BaseModel):
    """Base of every function's settings: frozen, read by environment-variable name."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        str_strip_whitespace=True,
        regex_engine="python-re",
        defer_build=True,  # each function builds the validator of its own class only
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        source = os.environ if env is None else env
        values = {k: v for k, v in source.items() if v.strip() != ""}  # empty = unset, as in Lambda
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise InvalidSettings(
                cls.__name__, [(_env_name(e["loc"]), _why(e)) for e in exc.errors()]
            ) from None


class _Bus(FunctionSettings):
    event_bus_name: EventBusName
    event_source: EventSource


class _Oversize(FunctionSettings):
    """Functions that send alerts or events: payloads over the limits go to this bucket (oversize/)."""

    quarantine_bucket: QuarantineBucket


class _FraudPolicy(FunctionSettings):
    critical_severity_threshold: Annotated[
        float, Field(alias="CRITICAL_SEVERITY_THRESHOLD", ge=0.0, le=1.0, allow_inf_nan=False)
    ]
    high_severity_threshold: Annotated[
        float, Field(alias="HIGH_SEVERITY_THRESHOLD", ge=0.0, le=1.0, allow_inf_nan=False)
    ]
    medium_severity_threshold: Annotated[
        float, Field(alias="MEDIUM_SEVERITY_THRESHOLD", ge=0.0, le=1.0, allow_inf_nan=False)
    ]
    fraud_alert_min_severity: Severity = Field(alias="FRAUD_ALERT_MIN_SEVERITY")

    @model_validator(mode="after")
    def thresholds_ascend(self) -> Self:
        order = [
            ("MEDIUM_SEVERITY_THRESHOLD", self.medium_severity_threshold),
            ("HIGH_SEVERITY_THRESHOLD", self.high_severity_threshold),
            ("CRITICAL_SEVERITY_THRESHOLD", self.critical_severity_threshold),
        ]
        for (low_name, low), (high_name, high) in itertools.pairwise(order):
            if not low < high:
                raise InvalidSettings(
                    type(self).__name__, [(low_name, f"({low}) must be below {high_name} ({high})")]
                )
        return self


class IngestSettings(_Bus, _Oversize):
    stage: Stage
    curated_bucket: CuratedBucket
    ops_topic_arn: OpsTopicArn
    delivery_table: DeliveryTable  # content identity: the same bytes are staged once

    def service_settings(self) -> Settings:
        """The ingest service's view (``IngestDeps.settings``)."""
        return Settings(
            stage=self.stage,
            curated_bucket=self.curated_bucket,
            quarantine_bucket=self.quarantine_bucket,
            event_bus_name=self.event_bus_name,
            event_source=self.event_source,
            ops_topic_arn=self.ops_topic_arn,
        )


class ValidatorSettings(FunctionSettings):
    """One module serves the five validator functions; the enhanced suite reads published history
    from the curated bucket, so the module declares it for all five."""

    curated_bucket: CuratedBucket
    record_ids_table: RecordIdsTable  # the history suite looks up ids earlier runs published
    delivery_table: DeliveryTable  # a correction's ids are its own (the run it replaces)


class PublishSettings(FunctionSettings):
    curated_bucket: CuratedBucket
    glue_database: GlueDatabase
    record_ids_table: RecordIdsTable
    delivery_table: DeliveryTable


class QuarantineSettings(FunctionSettings):
    """A refused or failed run gives back its claims (ids, content) so a fixed replay can claim them."""

    quarantine_bucket: QuarantineBucket
    curated_bucket: CuratedBucket
    record_ids_table: RecordIdsTable
    delivery_table: DeliveryTable


class ApplyMovementsSettings(_Bus, _Oversize):
    stage: Stage
    inventory_table: InventoryTable
    movement_ledger_table: MovementLedgerTable
    ops_topic_arn: OpsTopicArn
    purchase_orders_table: PurchaseOrdersTable  # deliveries close their orders


class InventoryMonitorSettings(_Bus, _Oversize):
    """The quarantine bucket also takes the failed-record side records (failed-records/)."""


class PurchaseOrderSettings(_Bus, _Oversize):
    """The quarantine bucket also takes the failed-record side records (failed-records/)."""

    purchase_orders_table: PurchaseOrdersTable
    inventory_table: InventoryTable  # an order adds to the item's on_order in one transaction


class AuditTrailSettings(FunctionSettings):
    curated_bucket: CuratedBucket
    glue_database: GlueDatabase


class FraudScoringSettings(_FraudPolicy, _Oversize):
    fraud_alerts_table: FraudAlertsTable
    fraud_profiles_table: FraudProfilesTable
    fraud_topic_arn: FraudTopicArn
    curated_bucket: CuratedBucket  # published fx_rates


class FraudRealtimeSettings(_FraudPolicy, _Oversize):
    fraud_profiles_table: FraudProfilesTable
    fraud_alerts_table: FraudAlertsTable
    fraud_topic_arn: FraudTopicArn
    curated_bucket: CuratedBucket  # published fx_rates


class CaseManagementSettings(_Bus, _Oversize):
    fraud_cases_table: FraudCasesTable
    fraud_alerts_table: FraudAlertsTable


# The banking functions (end of day, the regulatory reports): datapipe.banking.settings


class FreshnessCheckSettings(_Bus, _Oversize):
    """The published history (curated bucket) says which sources delivered which day."""

    curated_bucket: CuratedBucket
