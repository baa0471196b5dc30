"""Loads a staged dataset and runs one suite of checks; what each validator function calls."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from datapipe import layout
from datapipe.contracts import ContractRegistry, DatasetContract
from datapipe.events import DatasetStagedDetail
from datapipe.ports import ObjectStore
from datapipe.quality import checks
from datapipe.quality.checks import Assessment, CheckResult
from datapipe.staging import read_staged

SUITES = ("schema", "content", "business", "enhanced")


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


def load_history(
    store: ObjectStore, bucket: str, contract: DatasetContract, exclude_run: str
) -> list[dict[str, Any]]:
    """The most recent published-run records of the dataset (newest first)."""
    keys = store.list_keys(bucket, layout.published_record_prefix(contract.name))
    records = []
    for key in keys:
        record = json.loads(store.get(bucket, key).body)
        if record.get("run_id") != exclude_run:
            records.append(record)
    records.sort(key=lambda r: r.get("published_at", ""), reverse=True)
    return records[: contract.quality.volume_history]


def run_suite(
    suite: str, staged: StagedDataset, store: ObjectStore | None = None, history_bucket: str | None = None
) -> list[CheckResult]:
    contract = staged.contract
    if suite == "schema":
        table = staged.table
        return [checks.schema_check(contract, table.schema, table)]
    if suite == "content":
        return checks.content_checks(contract, staged.table, staged.manifest)
    if suite == "business":
        arrival = staged.detail.source.arrived_at
        return checks.business_checks(contract, staged.table, arrival)
    if suite == "enhanced":
        assert store is not None and history_bucket is not None
        history = load_history(store, history_bucket, contract, staged.detail.run_id)
        return checks.enhanced_checks(contract, staged.table, history)
    raise ValueError(f"unknown suite {suite!r}; expected one of {SUITES}")


def suite_payload(suite: str, results: list[CheckResult]) -> dict[str, Any]:
    """What a validator returns to the state machine: named checks and a suite verdict."""
    return {
        "suite": suite,
        "passed": all(r.passed for r in results),
        "critical_failed": any(r.veto for r in results),
        "checks": [r.to_dict() for r in results],
    }


def assess_payloads(contract: DatasetContract, payloads: list[dict[str, Any]]) -> Assessment:
    results = [
        CheckResult(
            c["name"], c["score"], c["passed"], c["critical"], c["threshold"], c["details"], c.get("floor")
        )
        for p in payloads
        for c in p["checks"]
    ]
    return checks.assess(contract, results)
