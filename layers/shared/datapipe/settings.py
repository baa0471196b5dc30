"""Typed settings from environment variables, read in one place.

Each handler builds one ``Settings`` at import time from its own template environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar


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
