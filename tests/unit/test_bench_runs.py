"""`make bench` reports the whole-run figures from the records the runs leave (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline_runtime.bench import runs


def test_staged_gets_per_file_come_from_the_metered_bill() -> None:
    bill = {"files": 4, "usage": {"s3_gets_by_prefix": {"staging": 10, "manifests": 3}}}
    assert runs.staged_gets(bill) == {"gets": 10, "files": 4, "per_file": 2.5}
    assert runs.staged_gets({"files": 4, "usage": {}}) is None  # an older bill: not guessed
    assert runs.staged_gets({"files": 0, "usage": {"s3_gets_by_prefix": {}}})["per_file"] is None  # type: ignore[index]


def test_runs_are_read_from_their_records_and_missing_ones_are_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "ROOT", tmp_path)
    summary, timing = tmp_path / "summary.json", tmp_path / "pytest-timing.json"
    results: dict[str, object] = {}
    runs.report_runs(results, summary, timing)
    out = capsys.readouterr().out
    assert "run `make demo`" in out and "run `make test`" in out
    assert "demo" not in results["runs"] and "pytest" not in results["runs"]  # type: ignore[operator]

    summary.write_text(json.dumps({"elapsed_s": 41.27, "stores": 3, "totals": {"rows_in": 1234}}))
    timing.write_text(json.dumps({"wall_s": 75.5, "passed": 12, "failed": 1, "workers": 2, "cpus": 2}))
    runs.report_runs(results, summary, timing)
    out = capsys.readouterr().out
    assert "make demo: 41.3 s for 3 stores, 1,234 rows (target < 30" in out
    assert "make test (pytest): 75.5 s, 12 passed, 1 failed, 2 worker(s) on 2 cores (target < 60" in out
    record = results["runs"]
    assert record["demo"] == {"wall_s": 41.27, "stores": 3, "rows": 1234}  # type: ignore[index]
    assert record["pytest"]["wall_s"] == 75.5  # type: ignore[index]
