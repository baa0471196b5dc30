"""Loads a staged dataset and runs one suite of checks; what each validator function calls."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa

from datapipe.contracts import ContractRegistry, DatasetContract
from datapipe.events import DatasetStagedDetail
from datapipe.ports import ObjectStore
from datapipe.quality import checks, history
from datapipe.quality.checks import Assessment, CheckResult, StagedProfile
from datapipe.quality.dedupe import IdRegistry
from datapipe.quality.deliveries import MissingDelivery, expected_on, missing_deliveries
from datapipe.quality.sources import history_prefix, row_sources
from datapipe.staging import read_staged

# "history" (every file: volume, distribution, deliveries, cross-file ids) and "enhanced" run the
# same code: the enhanced validator computes both, and the gate consults the enhanced checks only
# for the borderline band. "enhanced" is the name the deployed validator passes.
SUITES = ("schema", "content", "business", "history", "enhanced")
HISTORY_KEYS_PER_SOURCE = 64  # enough days for 8 same-weekday observations


class StagedDataset:
    def __init__(self, detail: DatasetStagedDetail, store: ObjectStore, registry: ContractRegistry):
        self.detail = detail
        self.contract: DatasetContract = registry.get(detail.dataset)
        self._store = store
        self._table: pa.Table | None = None
        self._manifest: dict[str, Any] | None = None

    @property
    def table(self) -> pa.Table:
        if self._table is None:
            self._table = read_staged(self._store, self.detail.staged)  # every part
        return self._table

    @property
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            obj = self._store.get(self.detail.manifest.bucket, self.detail.manifest.key)
            self._manifest = json.loads(obj.body)
        return self._manifest

    @property
    def profile(self) -> StagedProfile | None:
        """What ingest counted in the staged rows (None in a manifest from before it did)."""
        return StagedProfile.from_manifest(self.manifest)


def load_source_history(
    store: ObjectStore,
    bucket: str,
    contract: DatasetContract,
    sources: set[str],
    exclude_run: str | set[str],
    per_source: int = HISTORY_KEYS_PER_SOURCE,
) -> list[dict[str, Any]]:
    """The latest ``per_source`` history records publish wrote for each source (not this run's,
    nor those of the run a correction replaces)."""
    excluded = {exclude_run} if isinstance(exclude_run, str) else exclude_run
    records = []
    for source in sorted(sources):
        keys = store.list_keys(bucket, history_prefix(contract.name, source))
        for key in keys[-per_source:]:
            record = json.loads(store.get(bucket, key).body)
            if record.get("run_id") not in excluded:
                records.append(record)
    return records


def _history_records(
    staged: StagedDataset, store: ObjectStore, bucket: str, replaces: str | None = None
) -> list[dict[str, Any]]:
    contract = staged.contract
    in_file = set(row_sources(contract, staged.table, staged.detail.source.key).to_pylist())
    # peers: the other sources the calendar names give a new source's distribution a baseline
    peers = {s for line in contract.quality.deliveries for s in line.sources[:3]} - in_file
    run = {staged.detail.run_id} | ({replaces} if replaces else set())
    return [
        *load_source_history(store, bucket, contract, in_file, run),
        *load_source_history(store, bucket, contract, peers, run, per_source=1),
    ]


def run_suite(
    suite: str,
    staged: StagedDataset,
    store: ObjectStore | None = None,
    history_bucket: str | None = None,
    id_registry: IdRegistry | None = None,
    now: datetime | None = None,
    replaces: str | None = None,
) -> list[CheckResult]:
    """``replaces``: the run a correction replaces (its history is not this file's baseline)."""
    contract = staged.contract
    # schema, content and business: from what ingest counted (the manifest), the staged Parquet
    # only for a manifest without those counts (a run staged before ingest kept them)
    if suite == "schema":
        profile = staged.profile
        if profile is not None:
            return [checks.schema_check_from_profile(contract, profile)]
        table = staged.table
        return [checks.schema_check(contract, table.schema, table)]
    if suite == "content":
        profile = staged.profile
        counted = checks.content_checks_from_profile(contract, profile, staged.manifest) if profile else None
        return (
            counted if counted is not None else checks.content_checks(contract, staged.table, staged.manifest)
        )
    if suite == "business":
        arrival = staged.detail.source.arrived_at
        profile = staged.profile
        counted = checks.business_checks_from_profile(contract, profile, arrival) if profile else None
        return counted if counted is not None else checks.business_checks(contract, staged.table, arrival)
    if suite in ("history", "enhanced"):
        assert store is not None and history_bucket is not None
        records = _history_records(staged, store, history_bucket, replaces)
        key, run = staged.detail.source.key, staged.detail.run_id
        at = now or datetime.now(UTC)
        return [
            *history.history_checks(contract, staged.table, key, run, records, id_registry, at),
            *history.enhanced_checks(contract, staged.table, key, run, records),
        ]
    raise ValueError(f"unknown suite {suite!r}; expected one of {SUITES}")


def suite_payload(suite: str, results: list[CheckResult]) -> dict[str, Any]:
    """What a validator returns to the state machine: named checks and a suite verdict.

    The enhanced checks travel apart (``enhanced``): they do not enter the score, and the gate
    reads them only when the score falls in the enhanced-validation band."""
    gate = [r for r in results if r.name not in history.ENHANCED_CHECKS]
    deep = [r for r in results if r.name in history.ENHANCED_CHECKS]
    payload: dict[str, Any] = {
        "suite": suite,
        "passed": all(r.passed for r in gate),
        "critical_failed": any(r.veto for r in gate),
        "checks": [r.to_dict() for r in gate],
    }
    if deep:
        payload["enhanced"] = {
            "suite": "enhanced",
            "passed": all(r.passed for r in deep),
            "checks": [r.to_dict() for r in deep],
        }
    return payload


def assess_payloads(contract: DatasetContract, payloads: list[dict[str, Any]]) -> Assessment:
    results = [
        CheckResult(
            c["name"], c["score"], c["passed"], c["critical"], c["threshold"], c["details"], c.get("floor")
        )
        for p in payloads
        for c in p["checks"]
    ]
    return checks.assess(contract, results)


def overdue_deliveries(
    store: ObjectStore, bucket: str, contract: DatasetContract, business_day: date, now: datetime
) -> list[MissingDelivery]:
    """For a scheduled freshness checker: the calendar's sources that have not delivered
    ``business_day`` (or delivered too few rows) by their due time, from the published history."""
    delivered: dict[str, int] = {}
    for source in expected_on(contract, business_day):
        prefix = f"{history_prefix(contract.name, source)}{business_day.isoformat()}/"
        for key in store.list_keys(bucket, prefix):
            record = json.loads(store.get(bucket, key).body)
            delivered[source] = delivered.get(source, 0) + int(record["sources"][source]["rows"])
    return missing_deliveries(contract, business_day, delivered, now)
