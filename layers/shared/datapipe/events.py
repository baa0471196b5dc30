"""Shapes of the events this pipeline puts on its bus (the ``detail`` of each EventBridge event)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, model_validator

DATASET_STAGED = "DatasetStaged"
DATASET_PUBLISHED = "DatasetPublished"
DATASET_QUARANTINED = "DatasetQuarantined"


class S3Location(BaseModel):
    bucket: str
    key: str


class StagedPart(BaseModel):
    key: str
    rows: int
    bytes: int


class StagedLocation(S3Location):
    """The staged data: ``key`` is its first Parquet part; ``parts`` lists every part, in row
    order (a large file is staged as several). Readers read ``part_keys()``, all of them."""

    parts: list[StagedPart] = []

    def part_keys(self) -> list[str]:
        return [p.key for p in self.parts] or [self.key]


class SourceObject(BaseModel):
    bucket: str
    key: str
    version_id: str | None = None
    etag: str = ""
    size: int = 0
    arrived_at: datetime


class RowCounts(BaseModel):
    rows_in: int
    rows_valid: int
    rows_rejected: int

    @model_validator(mode="after")
    def rows_add_up(self) -> RowCounts:
        if self.rows_in != self.rows_valid + self.rows_rejected:
            raise ValueError(
                f"rows_in ({self.rows_in}) != rows_valid ({self.rows_valid}) + "
                f"rows_rejected ({self.rows_rejected})"
            )
        return self


class RejectReason(BaseModel):
    reason: str
    rows: int


class DatasetStagedDetail(BaseModel):
    dataset: str
    schema_version: str
    run_id: str
    format: str
    compression: str
    source: SourceObject
    staged: StagedLocation
    manifest: S3Location
    rejects: S3Location | None = None
    counts: RowCounts
    top_reject_reasons: list[RejectReason] = []


class DuplicateOf(BaseModel):
    """The run that first staged the same bytes (content identity: SHA-256 of the source)."""

    run_id: str
    source_key: str
    claimed_at: str
    source_sha256: str


class DatasetQuarantinedDetail(BaseModel):
    dataset: str
    run_id: str
    stage: Literal["ingest", "quality_gate", "failure"]
    reason_code: str
    reason: str
    source: SourceObject | None = None
    quarantine: S3Location
    counts: RowCounts | None = None
    quality: dict[str, Any] | None = None
    reason_object: S3Location | None = None  # the whole reason when ``reason`` had to be shortened
    duplicate_of: DuplicateOf | None = None  # reason_code DUPLICATE: the run that has these bytes


class DatasetPublishedDetail(BaseModel):
    dataset: str
    run_id: str
    staged: StagedLocation
    source: SourceObject
    database: str
    table: str
    partitions: list[str]
    rows_published: int
    counts: RowCounts
    quality_score: float | None = None
    decision: str = "publish"


LOW_STOCK_DETECTED = "LowStockDetected"
PURCHASE_ORDER_CREATED = "PurchaseOrderCreated"
INVENTORY_MOVEMENTS_APPLIED = "InventoryMovementsApplied"
FRAUD_CASE_OPENED = "FraudCaseOpened"
DAILY_REPORT_READY = "DailyReportReady"
DAILY_REPORT_NO_DATA = "DailyReportNoData"  # a day (or a fresh stack) without data: said, not failed
WEEKLY_REPORT_READY = "WeeklyReportReady"
WEEKLY_REPORT_NO_DATA = "WeeklyReportNoData"
WEEKLY_REPORT_BLOCKED = "WeeklyReportBlocked"
TRANSACTION_RECEIVED = "TransactionReceived"
