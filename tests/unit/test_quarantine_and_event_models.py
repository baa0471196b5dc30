"""Quarantining a staged dataset through the ObjectStore port, and the event models' invariants."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from datapipe import layout
from datapipe.events import DatasetStagedDetail, RowCounts
from datapipe.quarantine import describe_quality, quarantine_staged

CURATED, QUARANTINE = "curated-bkt", "quarantine-bkt"
RUN = "transactions-0123456789abcdef"


def staged_detail() -> DatasetStagedDetail:
    return DatasetStagedDetail.model_validate(
        {
            "dataset": "transactions",
            "schema_version": "transactions/v1",
            "run_id": RUN,
            "format": "csv",
            "compression": "none",
            "source": {
                "bucket": "raw",
                "key": "transactions/a.csv",
                "etag": "e",
                "arrived_at": "2024-01-03T12:00:00Z",
            },
            "staged": {"bucket": CURATED, "key": layout.staged_key("transactions", RUN)},
            "manifest": {"bucket": CURATED, "key": layout.manifest_key("transactions", RUN)},
            "rejects": {"bucket": QUARANTINE, "key": "rows/transactions/x.jsonl"},
            "counts": {"rows_in": 10, "rows_valid": 8, "rows_rejected": 2},
        }
    )


# --- RowCounts --------------------------------------------------------------------------------


def test_row_counts_that_add_up_are_accepted():
    counts = RowCounts(rows_in=10, rows_valid=7, rows_rejected=3)
    assert counts.model_dump() == {"rows_in": 10, "rows_valid": 7, "rows_rejected": 3}


@pytest.mark.parametrize(("valid", "rejected"), [(7, 2), (8, 3), (0, 0)])
def test_row_counts_that_do_not_add_up_are_refused(valid: int, rejected: int):
    with pytest.raises(ValidationError, match=r"rows_in \(10\) != rows_valid"):
        RowCounts(rows_in=10, rows_valid=valid, rows_rejected=rejected)


def test_staged_detail_round_trips_through_json():
    detail = staged_detail()
    again = DatasetStagedDetail.model_validate(json.loads(json.dumps(detail.model_dump(mode="json"))))
    assert again == detail
    assert again.source.arrived_at == datetime(2024, 1, 3, 12, tzinfo=UTC)


# --- quarantine_staged ------------------------------------------------------------------------


def test_quarantine_staged_moves_data_and_manifest_beside_a_decision(store):
    # GIVEN a staged dataset and its manifest
    detail = staged_detail()
    store.put(CURATED, detail.staged.key, b"PAR1...parquet", "application/vnd.apache.parquet")
    store.put(CURATED, detail.manifest.key, b'{"run_id": "x"}', "application/json")
    quality = {"score": 0.6, "vetoes": ["validity"]}
    # WHEN the gate quarantines it
    out = quarantine_staged(
        detail, store, QUARANTINE, "quality_gate", "QUALITY_GATE", "validity too low", quality
    )
    # THEN data and manifest are copied under the run's prefix with a decision file
    prefix = layout.quarantined_dataset_prefix("transactions", RUN)
    assert store.body(QUARANTINE, prefix + "data.parquet") == b"PAR1...parquet"
    assert store.body(QUARANTINE, prefix + "manifest.json") == b'{"run_id": "x"}'
    decision = json.loads(store.body(QUARANTINE, prefix + "decision.json"))
    assert decision["reason_code"] == "QUALITY_GATE"
    assert decision["stage"] == "quality_gate"
    assert decision["quality"] == quality
    assert decision["counts"] == {"rows_in": 10, "rows_valid": 8, "rows_rejected": 2}
    assert decision["rejected_rows"] == {"bucket": QUARANTINE, "key": "rows/transactions/x.jsonl"}
    # AND the staged copy is gone, the manifest stays
    assert store.list_keys(CURATED, detail.staged.key) == []
    assert store.list_keys(CURATED, detail.manifest.key) == [detail.manifest.key]
    # AND the returned event points at the quarantined data
    assert out.stage == "quality_gate"
    assert out.quarantine.bucket == QUARANTINE
    assert out.quarantine.key == prefix + "data.parquet"
    assert out.counts == detail.counts


def test_quarantine_staged_is_idempotent(store):
    detail = staged_detail()
    store.put(CURATED, detail.staged.key, b"PAR1 data", "application/vnd.apache.parquet")
    store.put(CURATED, detail.manifest.key, b"{}", "application/json")
    quarantine_staged(detail, store, QUARANTINE, "quality_gate", "QUALITY_GATE", "r")
    # WHEN called again (a retried state machine step)
    quarantine_staged(detail, store, QUARANTINE, "quality_gate", "QUALITY_GATE", "r")
    # THEN the quarantined data is still there
    prefix = layout.quarantined_dataset_prefix("transactions", RUN)
    assert store.body(QUARANTINE, prefix + "data.parquet") == b"PAR1 data"


def test_quarantine_staged_unknown_stage_is_reported_as_failure(store):
    detail = staged_detail()
    store.put(CURATED, detail.manifest.key, b"{}", "application/json")
    out = quarantine_staged(detail, store, QUARANTINE, "publish", "PUBLISH_FAILED", "boom")
    assert out.stage == "failure"


def test_describe_quality_names_vetoes_and_failures():
    quality = {
        "score": 0.8123,
        "vetoes": ["validity"],
        "failed_checks": ["validity", "freshness"],
        "checks": [
            {"name": "validity", "score": 0.7, "threshold": 0.95, "floor": 0.8},
            {"name": "freshness", "score": 0.5, "threshold": 0.95, "floor": None},
        ],
    }
    text = describe_quality(quality)
    assert text.startswith("quality score 0.812; ")
    assert "validity 0.700 below critical limit 0.8" in text
    assert "freshness 0.500 < 0.95" in text
    assert describe_quality({"score": 1.0}) == "quality score 1.000; no failed checks"
