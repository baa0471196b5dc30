"""Size limits of one ingest run: what bounds its memory and time, whatever the input.

Memory is bounded by the batch size (not the file size); these limits bound the rest: how much a
compressed upload may inflate to, how long one line may be, how large one staged part grows, how
much uniqueness state stays in memory before it spills to disk.
Defaults suit the Lambda function as configured; ``from_env`` lets a deployment override them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import ClassVar

MiB = 1024**2
GiB = 1024**3


@dataclass(frozen=True)
class IngestLimits:
    max_object_bytes: int = 10 * GiB
    """Raw object size (as stored); larger -> FILE_TOO_LARGE before anything is read."""
    max_inflated_bytes: int = 16 * GiB
    """Bytes after gunzip, over every concatenated member; more -> FILE_TOO_LARGE."""
    max_line_bytes: int = 1 * MiB
    """One line (one record): a longer one is rejected alone (line_too_long), never buffered."""
    batch_bytes: int = 8 * MiB
    """Input bytes validated at once: the unit of memory (about 10x this at peak)."""
    part_max_bytes: int = 256 * MiB
    """Staged Parquet part size: past it the next row group starts a new part."""
    max_reason_chars: int = 1_000
    """Longest human-readable reason (alerts and events stay far below SNS's 256 KB)."""
    unique_memory_bytes: int = 24 * MiB
    """Exact uniqueness state kept in memory (12 B a distinct key); past it keys spill to sorted
    runs on local disk (/tmp), ~1 B a key staying in memory (ingest/unique.py)."""

    ENV: ClassVar[dict[str, str]] = {
        "max_object_bytes": "INGEST_MAX_OBJECT_BYTES",
        "max_inflated_bytes": "INGEST_MAX_INFLATED_BYTES",
        "max_line_bytes": "INGEST_MAX_LINE_BYTES",
        "batch_bytes": "INGEST_BATCH_BYTES",
        "part_max_bytes": "INGEST_PART_MAX_BYTES",
        "max_reason_chars": "INGEST_MAX_REASON_CHARS",
        "unique_memory_bytes": "INGEST_UNIQUE_MEMORY_BYTES",
    }

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> IngestLimits:
        """Limits with any INGEST_* environment variable applied (positive integers)."""
        env = os.environ if env is None else env
        values: dict[str, int] = {}
        for f in fields(cls):
            raw = env.get(cls.ENV[f.name], "")
            if raw:
                value = int(raw)
                if value <= 0:
                    raise ValueError(f"{cls.ENV[f.name]} must be a positive integer, got {raw!r}")
                values[f.name] = value
        return cls(**values)
