"""What each handler receives, as Powertools parser models, and one ``parse`` that names the field.

A handler never indexes into a raw event: it parses it into the model of its source (EventBridge,
SNS, SQS body, Step Functions task input). An event of the right source with foreign or
malformed content fails with ``InvalidEvent``, whose message says which field and why
("detail.staged: Field required", "body: Invalid JSON"), never a KeyError or JSONDecodeError.
Messages name fields and pydantic's reason only, never the offending value (it may be an id).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from aws_lambda_powertools.utilities.parser import parse as powertools_parse
from aws_lambda_powertools.utilities.parser.models import (
    EventBridgeModel,
    S3EventNotificationEventBridgeModel,
    SnsNotificationModel,
    SnsRecordModel,
)
from pydantic import BaseModel, ConfigDict, Field, Json, StringConstraints, ValidationError, field_validator

from datapipe.events import DatasetPublishedDetail, DatasetStagedDetail
from datapipe.inventory.stock import LowStockDetected

if TYPE_CHECKING:
    from datapipe.contracts import DatasetContract

M = TypeVar("M", bound=BaseModel)
LAZY = ConfigDict(defer_build=True)  # a model's validator is built when its handler first parses
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class InvalidEvent(ValueError):
    """An event (or one record of a batch) that does not fit what the handler reads.

    ``problems``: (field path, why) pairs; ``field`` is the first path, for one-line logs."""

    def __init__(self, what: str, problems: list[tuple[str, str]]) -> None:
        self.what = what
        self.problems = problems or [("(event)", "not readable")]
        self.field = self.problems[0][0]
        super().__init__(f"{what}: " + "; ".join(f"{path}: {why}" for path, why in self.problems))

    def problems_dict(self) -> dict[str, str]:
        return dict(self.problems)


def field_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    """("Records", 0, "Sns", "Message") -> "Records[0].Sns.Message"."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(event)"


def _problems(exc: ValidationError, prefix: str) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(p for p in error["loc"] if p not in ("function-after", "json-or-python"))
        problems.append((field_path(loc, prefix), str(error["msg"])))
    return problems


def parse(model: type[M], data: Any, what: str | None = None, prefix: str = "") -> M:
    """``data`` validated into ``model`` (Powertools' parser), or ``InvalidEvent`` naming fields."""
    if not isinstance(data, dict):
        raise InvalidEvent(
            what or model.__name__, [(prefix or "(event)", f"expected an object, got {_kind(data)}")]
        )
    try:
        return powertools_parse(event=data, model=model)
    except ValidationError as exc:
        raise InvalidEvent(what or model.__name__, _problems(exc, prefix)) from None


def parse_json(model: type[M], text: Any, what: str | None = None, prefix: str = "") -> M:
    """A JSON document (an SQS body, an SNS message) validated into ``model``."""
    try:
        return model.model_validate_json(text if isinstance(text, (str, bytes)) else "")
    except ValidationError as exc:
        raise InvalidEvent(what or model.__name__, _problems(exc, prefix)) from None


def expect(what: str, field: str, actual: Any, expected: str) -> None:
    """Routing a template's rule already guarantees; checked so a misrouted event says so."""
    if actual != expected:
        raise InvalidEvent(what, [(field, f"expected {expected!r}, got {str(actual)[:100]!r}")])


def contract_of(dataset: str, what: str, field: str = "staged.dataset") -> DatasetContract:
    """The contract of a dataset an event names; an unknown dataset is an invalid event.
    (The registry loads on first use: the functions that never read a contract skip it.)"""
    from datapipe.contracts import ContractError, default_registry

    try:
        return default_registry().get(dataset)
    except ContractError as exc:
        raise InvalidEvent(what, [(field, str(exc))]) from None


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# ---------------------------------------------------------------------------- EventBridge
class AnyEventBridgeEvent(EventBridgeModel):  # type: ignore[misc]
    """Any EventBridge event: the envelope only (detail kept as a dict)."""

    model_config = LAZY

    detail: dict[str, Any]  # type: ignore[assignment]


class ObjectCreatedEvent(S3EventNotificationEventBridgeModel):  # type: ignore[misc]
    model_config = LAZY

    detail_type: Literal["Object Created"] = Field(alias="detail-type")  # type: ignore[assignment]


class DatasetPublishedEvent(EventBridgeModel):  # type: ignore[misc]
    """The EventBridge envelope of DatasetPublished."""

    model_config = LAZY

    detail_type: Literal["DatasetPublished"] = Field(alias="detail-type")  # type: ignore[assignment]
    detail: DatasetPublishedDetail  # type: ignore[assignment]


class ScheduledEvent(EventBridgeModel):  # type: ignore[misc]
    """What a scheduled rule sends its targets; ``time`` is the scheduled time."""

    model_config = LAZY

    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")  # type: ignore[assignment]
    detail: dict[str, Any]  # type: ignore[assignment]


class RealtimeTransaction(BaseModel):
    """A card authorisation (TransactionReceived): the fields the real-time scorer relies on are
    required and typed; the rest pass through to the rules as they came."""

    model_config = ConfigDict(extra="allow", defer_build=True)

    transaction_id: NonEmpty
    account_id: NonEmpty
    card_id: str | None = None
    event_time: datetime
    amount: str | float | int | None = None

    @field_validator("event_time")
    @classmethod
    def aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("event_time needs a UTC offset or Z")
        return value


class TransactionReceivedEvent(EventBridgeModel):  # type: ignore[misc]
    model_config = LAZY

    detail_type: Literal["TransactionReceived"] = Field(alias="detail-type")  # type: ignore[assignment]
    detail: RealtimeTransaction  # type: ignore[assignment]


class LowStockEvent(BaseModel):
    """A LowStockDetected event as the reorder queue receives it (the rule sends the whole event).
    Only what the order is made of is required: the envelope's other fields are not read."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)

    id: str | None = None
    detail_type: Literal["LowStockDetected"] = Field(alias="detail-type")
    detail: LowStockDetected


# ---------------------------------------------------------------------------- SNS
class AlertReference(BaseModel):
    """What case management reads from a fraud alert message: which transaction. Everything else
    (the ids a case needs) comes from the stored alert record, not from the message."""

    model_config = LAZY

    transaction_id: NonEmpty


class SnsAttribute(BaseModel):
    model_config = LAZY

    Type: str
    Value: str


class FraudAlertNotification(SnsNotificationModel):  # type: ignore[misc]
    """SNS notification carrying a fraud alert. The sample events SAM generates (and AWS test
    invokes) carry ``UnsubscribeUrl: "EXAMPLE"``: not parsed as URLs, they are never used."""

    model_config = LAZY

    UnsubscribeUrl: str  # type: ignore[assignment]
    SigningCertUrl: str | None = None  # type: ignore[assignment]
    Message: Json[AlertReference]  # type: ignore[assignment]
    MessageAttributes: dict[str, SnsAttribute] = Field(default_factory=dict)  # type: ignore[assignment]


class FraudAlertRecord(SnsRecordModel):  # type: ignore[misc]
    model_config = LAZY

    Sns: FraudAlertNotification  # type: ignore[assignment]


class FraudAlertSnsEvent(BaseModel):
    model_config = LAZY

    Records: list[FraudAlertRecord] = Field(min_length=1)


# ---------------------------------------------------------------------------- Step Functions tasks
class SuiteInput(BaseModel):
    model_config = LAZY

    staged: DatasetStagedDetail


class FinalInput(BaseModel):
    model_config = LAZY

    staged: DatasetStagedDetail
    schema_result: dict[str, Any]
    parallel: list[dict[str, Any]]


class PublishInput(BaseModel):
    model_config = LAZY

    staged: DatasetStagedDetail
    quality_score: float | None = None


class QuarantineInput(BaseModel):
    model_config = LAZY

    staged: DatasetStagedDetail
    stage: str = "quality_gate"
    reason_code: NonEmpty
    reason: str | None = None
    quality: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
