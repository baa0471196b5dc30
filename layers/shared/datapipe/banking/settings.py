"""Settings of the banking functions (end of day and the regulatory reports), read at import.

Same rules as ``datapipe.settings``: each function declares the variables it reads, typed; a
missing or malformed one fails the cold start naming it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from datapipe.settings import (
    AthenaWorkgroup,
    CuratedBucket,
    GlueDatabase,
    OpsTopicArn,
    Stage,
    _Bus,
    _Oversize,
)

_TABLE = r"^[A-Za-z0-9_.-]{3,255}$"
_ZONE = r"^[A-Za-z0-9_+/-]{1,64}$"

EndOfDayControlTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="EOD_CONTROL_TABLE")]
AccountBalancesTable = Annotated[
    str, StringConstraints(pattern=_TABLE), Field(alias="ACCOUNT_BALANCES_TABLE")
]
ReportsTable = Annotated[str, StringConstraints(pattern=_TABLE), Field(alias="REPORTS_TABLE")]
BusinessTimeZone = Annotated[str, StringConstraints(pattern=_ZONE), Field(alias="BUSINESS_TIME_ZONE")]


class _Banking(_Bus, _Oversize):
    stage: Stage
    curated_bucket: CuratedBucket
    glue_database: GlueDatabase
    athena_workgroup: AthenaWorkgroup
    ops_topic_arn: OpsTopicArn
    eod_control_table: EndOfDayControlTable
    business_time_zone: BusinessTimeZone

    @field_validator("business_time_zone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        from datapipe.banking.calendar import zone

        zone(value)  # CalendarError (a ValueError) names it
        return value


class EndOfDaySettings(_Banking):
    account_balances_table: AccountBalancesTable
    eod_cutoff_hour: int = Field(alias="EOD_CUTOFF_HOUR")

    @field_validator("eod_cutoff_hour")
    @classmethod
    def an_hour(cls, value: int) -> int:
        if not 0 <= value <= 23:
            raise ValueError("an hour of the day, 0 to 23")
        return value


class ReportSettings(_Banking):
    reports_table: ReportsTable


class WeeklyReportSettings(ReportSettings):
    large_exposure_threshold: Decimal = Field(alias="LARGE_EXPOSURE_THRESHOLD", gt=0)


class MonthlyReportSettings(ReportSettings):
    holiday_calendar: Literal["US-FRB", "GB-EAW"] = Field(alias="HOLIDAY_CALENDAR")
    monthly_deadline_business_day: int = Field(alias="MONTHLY_DEADLINE_BUSINESS_DAY")

    @field_validator("monthly_deadline_business_day")
    @classmethod
    def a_business_day(cls, value: int) -> int:
        if not 1 <= value <= 20:
            raise ValueError("a business day of the month, 1 to 20")
        return value
