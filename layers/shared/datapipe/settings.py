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
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        values = {f.name: env[cls.ENV[f.name]] for f in fields(cls) if cls.ENV[f.name] in env}
        return cls(**values)

    def require(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise MissingSetting(f"environment variable {self.ENV[name]} is not set")
        return str(value)
