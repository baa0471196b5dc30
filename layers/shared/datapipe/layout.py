"""Where every artefact lives in the buckets: one module so stages never disagree on a key."""

from __future__ import annotations

import hashlib
from datetime import datetime


def run_id(dataset: str, key: str, content_tag: str) -> str:
    """Deterministic per (key, content): a redelivered S3 event, or the same bytes uploaded again,
    overwrite the same staged/curated objects instead of doubling rows. ``content_tag`` is the
    ETag (or the version id when no ETag is known)."""
    digest = hashlib.sha256(f"{key}@{content_tag}".encode()).hexdigest()[:16]
    return f"{dataset}-{digest}"


def staged_key(dataset: str, run: str) -> str:
    return f"staging/{dataset}/{run}.parquet"


def staged_part_key(dataset: str, run: str, part: int) -> str:
    """Part 0 is the historic single staged file; a large file adds .part-00001 and so on."""
    return staged_key(dataset, run) if part == 0 else f"staging/{dataset}/{run}.part-{part:05d}.parquet"


def manifest_key(dataset: str, run: str) -> str:
    return f"manifests/{dataset}/{run}.json"


def rejected_rows_key(dataset: str, day: datetime, run: str) -> str:
    return f"rows/{dataset}/ingest_date={day:%Y-%m-%d}/{run}.jsonl"


def quarantined_file_prefix(dataset: str, day: datetime, run: str) -> str:
    return f"files/{dataset}/ingest_date={day:%Y-%m-%d}/{run}/"


def quarantined_dataset_prefix(dataset: str, run: str) -> str:
    return f"datasets/{dataset}/{run}/"


def curated_prefix(dataset: str) -> str:
    return f"curated/{dataset}/"


def published_record_key(dataset: str, run: str) -> str:
    return f"published/{dataset}/{run}.json"


def published_record_prefix(dataset: str) -> str:
    return f"published/{dataset}/"


def publish_file_prefix(run: str) -> str:
    """awswrangler filename prefix that ties every curated file to the run that wrote it."""
    return f"{run}_"
