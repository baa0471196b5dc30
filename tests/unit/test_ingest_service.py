"""Ingest of one raw object through the ports: stage, quarantine, announce, stay idempotent."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from datetime import UTC, datetime

import pyarrow.parquet as pq
import pytest

from datapipe import layout
from datapipe.contracts import default_registry
from datapipe.events import DATASET_QUARANTINED, DATASET_STAGED, DatasetQuarantinedDetail, DatasetStagedDetail
from datapipe.ingest.service import IngestDeps, IngestReport, ObjectRef, ingest_object
from datapipe.settings import MissingSetting, Settings

RAW, CURATED, QUARANTINE = "raw-bkt", "curated-bkt", "quarantine-bkt"
SETTINGS = Settings(stage="test", raw_bucket=RAW, curated_bucket=CURATED, quarantine_bucket=QUARANTINE)
NOW = datetime(2024, 1, 3, 12, 30, tzinfo=UTC)
ARRIVED = datetime(2024, 1, 3, 12, 0, tzinfo=UTC)
KEY = "transactions/2024-01-02/pos-S001.csv"
HEADER = (
    "transaction_id,transaction_type,original_transaction_id,account_id,card_id,customer_id,store_id,"
    "merchant,merchant_category,amount,currency,channel,location_country,location_state,home_country,"
    "home_state,account_type,event_time"
)


def tx(tid: str, amount: str = "10.00", currency: str = "USD") -> str:
    return (
        f"{tid},PURCHASE,,ACC001,CARD1,CUS1,S001,FreshMart,GROCERY,{amount},{currency},POS,US,CA,US,CA,checking,"
        "2024-01-02T10:00:00Z"
    )


def csv(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def deps(store, bus, notifier) -> IngestDeps:
    return IngestDeps(store=store, bus=bus, notifier=notifier, settings=SETTINGS, registry=default_registry())


def run(deps: IngestDeps, key: str = KEY, version: str | None = "v1") -> IngestReport:
    return ingest_object(ObjectRef(bucket=RAW, key=key, version_id=version), deps, now=NOW)


def expected_run(store, dataset: str, key: str) -> str:
    """Run ids are derived from the key and the stored object's ETag (its content)."""
    return layout.run_id(dataset, key, store.objects[(RAW, key)].etag)


# --- happy path -------------------------------------------------------------------------------


def test_happy_path_stages_parquet_manifest_and_rejects(deps, store, bus, notifier):
    # GIVEN a raw CSV with two good rows and one bad currency
    body = csv(tx("T000001"), tx("T000002", currency="US$"), tx("T000003", amount="25.50"))
    store.add(RAW, KEY, body, version_id="v1", last_modified=ARRIVED)
    # WHEN ingested
    report = run(deps)
    run_id = expected_run(store, "transactions", KEY)
    # THEN the report counts every row
    assert report.status == "STAGED"
    assert report.run_id == run_id
    assert (report.rows_in, report.rows_valid, report.rows_rejected) == (3, 2, 1)
    assert report.reason_code is None

    # AND the valid rows are staged as parquet with lineage
    staged_key = layout.staged_key("transactions", run_id)
    assert report.staged == {"bucket": CURATED, "key": staged_key}
    table = pq.read_table(io.BytesIO(store.body(CURATED, staged_key)))
    assert table.column("transaction_id").to_pylist() == ["T000001", "T000003"]
    assert table.column("lineage_source_row").to_pylist() == [2, 4]
    assert set(table.column("lineage_source_version").to_pylist()) == {"v1"}
    assert set(table.column("lineage_ingest_run_id").to_pylist()) == {run_id}
    assert store.content_types[(CURATED, staged_key)] == "application/vnd.apache.parquet"

    # AND the rejected row is in the quarantine bucket as JSON Lines, with its reasons
    rejects_key = layout.rejected_rows_key("transactions", NOW, run_id)
    assert rejects_key.startswith("rows/transactions/ingest_date=2024-01-03/")
    lines = store.body(QUARANTINE, rejects_key).decode().splitlines()
    assert len(lines) == 1
    reject = json.loads(lines[0])
    assert reject["source_key"] == KEY
    assert reject["source_row"] == 3
    assert reject["column"] == "currency"
    assert reject["value"] == "US$"
    assert {e["rule"] for e in reject["errors"]} == {"reference"}
    assert reject["values"]["transaction_id"] == "T000002"

    # AND the manifest describes the run
    manifest_key = layout.manifest_key("transactions", run_id)
    manifest = json.loads(store.body(CURATED, manifest_key))
    assert manifest["dataset"] == "transactions"
    assert manifest["schema_version"] == "transactions/v2"
    assert manifest["run_id"] == run_id
    assert manifest["format"] == "csv"
    assert manifest["compression"] == "none"
    assert manifest["counts"] == {"rows_in": 3, "rows_valid": 2, "rows_rejected": 1}
    assert manifest["rejects_by_rule"] == {"currency:reference": 1}
    assert manifest["null_counts"]["card_id"] == 0
    assert manifest["staged"] == {"bucket": CURATED, "key": staged_key}
    assert manifest["rejects"] == {"bucket": QUARANTINE, "key": rejects_key}
    assert manifest["source"]["version_id"] == "v1"
    assert datetime.fromisoformat(manifest["source"]["arrived_at"]) == ARRIVED
    assert datetime.fromisoformat(manifest["created_at"]) == NOW

    # AND exactly one DatasetStaged event announces it, no alert is sent
    assert [t for t, _ in bus.events] == [DATASET_STAGED]
    detail = DatasetStagedDetail.model_validate(bus.events[0][1])
    assert detail.run_id == run_id
    assert detail.counts.rows_in == 3
    assert detail.counts.rows_valid == 2
    assert detail.counts.rows_rejected == 1
    assert detail.staged.key == staged_key
    assert detail.manifest.key == manifest_key
    assert detail.rejects is not None
    assert detail.rejects.key == rejects_key
    assert detail.source.arrived_at == ARRIVED
    assert {r.reason for r in detail.top_reject_reasons} == {"currency:reference"}
    assert notifier.messages == []


def test_manifest_checksums_are_sha256_of_the_stored_bytes(deps, store):
    body = csv(tx("T000001"), tx("T000002", amount="-1.00"))
    store.add(RAW, KEY, body)
    report = run(deps)
    manifest = json.loads(store.body(CURATED, report.manifest["key"]))
    checksums = manifest["checksums"]
    assert checksums["source_sha256"] == sha(body)
    assert checksums["staged_sha256"] == sha(store.body(CURATED, report.staged["key"]))
    assert checksums["rejects_sha256"] == sha(store.body(QUARANTINE, report.quarantine["key"]))
    assert len({checksums["source_sha256"], checksums["staged_sha256"], checksums["rejects_sha256"]}) == 3


def test_clean_file_writes_no_rejects_object(deps, store, bus):
    store.add(RAW, KEY, csv(tx("T000001"), tx("T000002")))
    report = run(deps)
    assert report.status == "STAGED"
    assert report.quarantine is None
    assert store.keys(QUARANTINE) == []
    manifest = json.loads(store.body(CURATED, report.manifest["key"]))
    assert manifest["rejects"] is None
    assert manifest["checksums"]["rejects_sha256"] is None
    assert DatasetStagedDetail.model_validate(bus.events[0][1]).rejects is None


def test_gzip_json_lines_source_is_reported_as_such(deps, store, bus):
    key = "transactions/2024-01-02/online.jsonl.gz"
    names = HEADER.split(",")
    records = [dict(zip(names, tx(f"T00000{i}").split(","), strict=True)) for i in (1, 2)]
    body = gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    store.add(RAW, key, body)
    report = run(deps, key=key)
    assert report.rows_valid == 2
    detail = DatasetStagedDetail.model_validate(bus.events[0][1])
    assert (detail.format, detail.compression) == ("jsonl", "gzip")
    manifest = json.loads(store.body(CURATED, report.manifest["key"]))
    assert manifest["checksums"]["source_sha256"] == sha(body)


def test_extra_columns_are_recorded_in_the_manifest(deps, store):
    body = (HEADER + ",loyalty_no\n" + tx("T000001") + ",L1\n").encode()
    store.add(RAW, KEY, body)
    report = run(deps)
    manifest = json.loads(store.body(CURATED, report.manifest["key"]))
    assert manifest["ignored_columns"] == ["loyalty_no"]


# --- whole-file rejection ---------------------------------------------------------------------


def test_whole_file_rejection_copies_the_object_to_quarantine(deps, store, bus, notifier):
    # GIVEN a truncated gzip upload
    key = "transactions/2024-01-02/pos-S013.csv.gz"
    full = gzip.compress(csv(*[tx(f"T{i:06d}") for i in range(300)]))
    body = full[: len(full) // 2]
    store.add(RAW, key, body, version_id="v7", last_modified=ARRIVED)
    # WHEN ingested
    report = run(deps, key=key, version="v7")
    run_id = expected_run(store, "transactions", key)
    # THEN the report says why
    assert report.status == "FILE_QUARANTINED"
    assert report.reason_code == "MALFORMED_GZIP"
    assert report.run_id == run_id
    assert report.rows_in == 0
    # AND the object is copied as-is beside a reason file
    prefix = layout.quarantined_file_prefix("transactions", NOW, run_id)
    assert store.keys(QUARANTINE) == sorted([prefix + "pos-S013.csv.gz", prefix + "reason.json"])
    assert store.body(QUARANTINE, prefix + "pos-S013.csv.gz") == body
    assert (RAW, key, "v7") in store.gets
    reason = json.loads(store.body(QUARANTINE, prefix + "reason.json"))
    assert reason["reason_code"] == "MALFORMED_GZIP"
    assert "truncated" in reason["reason"]
    assert reason["source_sha256"] == sha(body)
    assert reason["quarantined_object"] == {"bucket": QUARANTINE, "key": prefix + "pos-S013.csv.gz"}
    assert reason["source"]["version_id"] == "v7"
    # AND nothing is staged
    assert store.keys(CURATED) == []
    # AND ops are alerted and a DatasetQuarantined event is emitted
    assert len(notifier.messages) == 1
    subject, _, severity = notifier.messages[0]
    assert "MALFORMED_GZIP" in subject
    assert "[test]" in subject
    assert severity == "HIGH"
    assert [t for t, _ in bus.events] == [DATASET_QUARANTINED]
    detail = DatasetQuarantinedDetail.model_validate(bus.events[0][1])
    assert detail.stage == "ingest"
    assert detail.reason_code == "MALFORMED_GZIP"
    assert detail.quarantine.key == prefix + "pos-S013.csv.gz"
    assert detail.counts is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"", "EMPTY_FILE"),
        (HEADER.encode() + b"\n", "NO_DATA_ROWS"),
        (b"\xff\xfe" + HEADER.encode("utf-16-le"), "UNREADABLE_ENCODING"),
        (b"transaction_id,amount\nT1,1.00\n", "MISSING_REQUIRED_COLUMNS"),
    ],
)
def test_file_faults_are_quarantined_with_their_code(deps, store, bus, body: bytes, code: str):
    store.add(RAW, KEY, body)
    report = run(deps)
    assert report.status == "FILE_QUARANTINED"
    assert report.reason_code == code
    assert DatasetQuarantinedDetail.model_validate(bus.events[0][1]).reason_code == code


def test_unknown_prefix_is_quarantined_as_unknown_dataset(deps, store, bus, notifier):
    key = "payroll/2024-01-02/run.csv"
    store.add(RAW, key, b"a,b\n1,2\n")
    report = run(deps, key=key)
    assert report.status == "FILE_QUARANTINED"
    assert report.dataset == "unknown"
    assert report.reason_code == "UNKNOWN_PREFIX"
    assert "transactions/" in report.reason
    assert "inventory_movements/" in report.reason
    assert report.run_id == expected_run(store, "unknown", key)
    assert report.run_id.startswith("unknown-")
    prefix = layout.quarantined_file_prefix("unknown", NOW, report.run_id)
    assert store.body(QUARANTINE, prefix + "run.csv") == b"a,b\n1,2\n"
    assert len(notifier.messages) == 1
    assert DatasetQuarantinedDetail.model_validate(bus.events[0][1]).dataset == "unknown"


# --- all rows rejected ------------------------------------------------------------------------


def test_all_rows_rejected_is_quarantined_with_counts(deps, store, bus, notifier):
    # GIVEN a file where every row is bad
    store.add(RAW, KEY, csv(tx("T000001", amount="N/A"), tx("T000002", amount="0.00"), "T3,short"))
    # WHEN ingested
    report = run(deps)
    # THEN the status says so and nothing is staged as parquet
    assert report.status == "ALL_ROWS_REJECTED"
    assert report.reason_code == "ALL_ROWS_REJECTED"
    assert (report.rows_in, report.rows_valid, report.rows_rejected) == (3, 0, 3)
    assert report.staged is None
    assert store.list_keys(CURATED, "staging/") == []
    assert "all 3 rows rejected" in report.reason
    # AND all rows are in the rejects file, the manifest is still written
    rejects = store.body(QUARANTINE, report.quarantine["key"]).decode().splitlines()
    assert [json.loads(x)["source_row"] for x in rejects] == [2, 3, 4]
    manifest = json.loads(store.body(CURATED, report.manifest["key"]))
    assert manifest["staged"] is None
    assert manifest["checksums"]["staged_sha256"] is None
    # AND a DatasetQuarantined event (not DatasetStaged) carries the counts
    assert [t for t, _ in bus.events] == [DATASET_QUARANTINED]
    detail = DatasetQuarantinedDetail.model_validate(bus.events[0][1])
    assert detail.reason_code == "ALL_ROWS_REJECTED"
    assert detail.counts is not None
    assert detail.counts.rows_rejected == 3
    assert detail.quarantine.key == report.quarantine["key"]
    assert len(notifier.messages) == 1


# --- idempotency ------------------------------------------------------------------------------


def test_same_object_ingested_twice_gives_the_same_run_and_keys(deps, store, bus):
    store.add(RAW, KEY, csv(tx("T000001"), tx("T000002", amount="x")))
    first = run(deps)
    snapshot = {k: v.body for k, v in store.objects.items()}
    second = run(deps)
    assert second.run_id == first.run_id
    assert second.to_dict() == first.to_dict()
    assert {k: v.body for k, v in store.objects.items()} == snapshot  # overwritten, not doubled
    assert bus.events[0] == bus.events[1]


def test_new_content_under_the_same_key_is_a_new_run(deps, store):
    store.add(RAW, KEY, csv(tx("T000001")), version_id="v1")
    first = run(deps, version="v1")
    store.add(RAW, KEY, csv(tx("T000001"), tx("T000002")), version_id="v2")
    second = run(deps, version="v2")
    assert second.run_id != first.run_id
    assert len(store.list_keys(CURATED, "staging/")) == 2


def test_same_bytes_uploaded_again_as_a_new_version_is_the_same_run(deps, store):
    store.add(RAW, KEY, csv(tx("T000001")), version_id="v1")
    first = run(deps, version="v1")
    store.add(RAW, KEY, csv(tx("T000001")), version_id="v2")
    second = run(deps, version="v2")
    assert second.run_id == first.run_id
    assert len(store.list_keys(CURATED, "staging/")) == 1


def test_object_without_etag_falls_back_to_the_ref_etag(deps, store):
    store.add(RAW, KEY, csv(tx("T000001")), version_id=None, etag="")
    report = ingest_object(ObjectRef(bucket=RAW, key=KEY, etag="abc"), deps, now=NOW)
    assert report.run_id == layout.run_id("transactions", KEY, "abc")
    other = ingest_object(ObjectRef(bucket=RAW, key=KEY, etag="abd"), deps, now=NOW)
    assert other.run_id != report.run_id


def test_missing_bucket_setting_is_an_infrastructure_error(store, bus, notifier):
    store.add(RAW, KEY, csv(tx("T000001")))
    deps = IngestDeps(store, bus, notifier, Settings(quarantine_bucket=QUARANTINE), default_registry())
    with pytest.raises(MissingSetting, match="CURATED_BUCKET"):
        run(deps)
    assert bus.events == []


def test_report_is_json_serialisable(deps, store):
    store.add(RAW, KEY, csv(tx("T000001"), tx("T000002", amount="x")))
    report = run(deps)
    assert json.loads(json.dumps(report.to_dict()))["rows_rejected"] == 1
