"""What the banking functions receive: EventBridge Scheduler runs, the pipeline's own events, and
manual requests (``make invoke``), parsed into models so a foreign event names its field.

A Scheduler schedule (SAM ``ScheduleV2``) sends its ``Input``, with the scheduled time filled in
by the service: ``{"schedule": "end-of-day", "scheduled_time": "<aws.scheduler.scheduled-time>",
"execution_id": "<aws.scheduler.execution-id>", "attempt": "<aws.scheduler.attempt-number>"}``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, field_validator

from datapipe.envelopes import DatasetPublishedEvent, InvalidEvent, NonEmpty, parse

LAZY = ConfigDict(defer_build=True)


class ScheduledRun(BaseModel):
    model_config = LAZY

    schedule: NonEmpty
    scheduled_time: datetime
    execution_id: str | None = None
    attempt: int = 1

    @field_validator("scheduled_time")
    @classmethod
    def aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("scheduled_time needs a UTC offset or Z")
        return value


class ManualRun(BaseModel):
    """An operator's request: close a day now (its inputs have been supplied), or restate it."""

    model_config = LAZY

    action: Literal["close", "restate"]
    business_date: date
    reason: str = Field(default="requested by an operator", max_length=500)


class DayDetail(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    business_date: date
    version: int = 1


class DayEvent(EventBridgeModel):  # type: ignore[misc]
    """EndOfDayClosed / EndOfDayRestated on the pipeline bus."""

    model_config = LAZY

    detail_type: Literal["EndOfDayClosed", "EndOfDayRestated"] = Field(alias="detail-type")  # type: ignore[assignment]
    detail: DayDetail  # type: ignore[assignment]


class ReportDetail(BaseModel):
    model_config = ConfigDict(extra="allow", defer_build=True)

    report: Literal["daily", "weekly", "monthly"]
    period: NonEmpty
    version: int = 1


class ReportEvent(EventBridgeModel):  # type: ignore[misc]
    """DailyReportReady / WeeklyReportReady on the pipeline bus."""

    model_config = LAZY

    detail_type: Literal["DailyReportReady", "WeeklyReportReady"] = Field(alias="detail-type")  # type: ignore[assignment]
    detail: ReportDetail  # type: ignore[assignment]


def parse_end_of_day(event: Any) -> ScheduledRun | ManualRun | DatasetPublishedEvent:
    if isinstance(event, dict) and "detail-type" in event:
        return parse(DatasetPublishedEvent, event, "DatasetPublished event")
    if isinstance(event, dict) and "action" in event:
        return parse(ManualRun, event, "manual end-of-day request")
    return parse(ScheduledRun, event, "scheduled run")


def parse_report_trigger(event: Any, events: tuple[type[BaseModel], ...]) -> Any:
    """A scheduled run, a manual request ({"period": ...}), or one of ``events``."""
    if isinstance(event, dict) and "detail-type" in event:
        kind = event.get("detail-type")
        for model in events:
            allowed = model.model_fields["detail_type"].annotation.__args__  # type: ignore[union-attr]
            if kind in allowed:
                return parse(model, event, f"{kind} event")
        names = [a for m in events for a in m.model_fields["detail_type"].annotation.__args__]  # type: ignore[union-attr]
        raise InvalidEvent("report trigger", [("detail-type", f"expected one of {names}")])
    if isinstance(event, dict) and "period" in event:
        return parse(ManualReport, event, "manual report request")
    return parse(ScheduledRun, event, "scheduled run")


class ManualReport(BaseModel):
    model_config = LAZY

    period: NonEmpty
