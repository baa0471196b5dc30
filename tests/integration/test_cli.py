"""The offline commands a developer types: invoke one function, fire one schedule."""

from __future__ import annotations

import json

import pytest

from offline_runtime.cli import invoke, schedule


def test_invoke_runs_a_function_with_an_event_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke.main(["IngestFunction", "-e", "events/ingest_broken_gzip.json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["status"] == "FILE_QUARANTINED" and result["reason_code"] == "MALFORMED_GZIP"
    assert "START RequestId" in err and "file quarantined" in err  # the function's logs


def test_invoke_refuses_an_unknown_resource(capsys: pytest.CaptureFixture[str]) -> None:
    assert invoke.main(["NoSuchFunction", "-e", "events/ingest_broken_gzip.json"]) == 2
    assert "invocable: " in capsys.readouterr().err


def test_schedule_fires_with_the_scheduled_event_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert schedule.main(["WeeklyReportFunctionWeekly", "--date", "2026-11-29"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sent"]["detail-type"] == "Scheduled Event" and result["sent"]["source"] == "aws.events"
    assert result["sent"]["time"] == "2026-11-29T02:00:00Z"
    assert {"function": "WeeklyReportFunction", "errored": False} in result["ran"]
    assert not any(r["errored"] for r in result["ran"])  # and what its events set off (the audit trail)
