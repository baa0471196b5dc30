"""The offline commands a developer types on this project: invoke one function, fire one schedule."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from offline_runtime.cli import invoke, schedule

PROJECT = [
    "--data-dir",
    "events/data",
    "--prepare",
    "offline_runtime.scenario.fixtures:prepare",
]  # as `make invoke`
EVENTS = Path("events")


def _invoke(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object], str]:
    code = invoke.main([*argv, *PROJECT])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


def test_invoke_runs_a_function_with_an_event_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, result, err = _invoke(capsys, "IngestFunction", "-e", "events/ingest_broken_gzip.json")
    assert code == 0 and result["status"] == "FILE_QUARANTINED" and result["reason_code"] == "MALFORMED_GZIP"
    assert "START RequestId" in err and "file quarantined" in err  # the function's logs


def test_a_real_aws_event_with_a_version_id_and_any_local_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    event = json.loads((EVENTS / "ingest_transactions_csv.json").read_text())
    aws_shaped = copy.deepcopy(event)
    aws_shaped["detail"]["object"]["version-id"] = "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"  # as S3 sends it
    aws_shaped["detail"]["object"]["key"] = (
        "transactions/2026-11-30/store-S999-export.csv"  # not in events/data
    )
    path = tmp_path / "event.json"
    path.write_text(json.dumps(aws_shaped))
    data = tmp_path / "mine.csv"
    data.write_bytes((EVENTS / "data" / "pos-S001.csv").read_bytes())
    code, result, err = _invoke(capsys, "IngestFunction", "-e", str(path), "--data", str(data))
    assert code == 0 and result["status"] == "STAGED"
    assert "as version 3HL4kqtJlcpXroDTDmjVBH40Nrjfkd (the event's)" in err  # said, and honoured
    assert result["key"] == "transactions/2026-11-30/store-S999-export.csv"


def test_without_data_the_runtime_says_what_is_missing_and_the_handler_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    event = json.loads((EVENTS / "ingest_transactions_csv.json").read_text())
    event["detail"]["object"]["key"] = "transactions/2026-11-30/nowhere.csv"
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    code, result, err = _invoke(capsys, "IngestFunction", "-e", str(path))
    assert "no local data for s3://" in err and "pass --data FILE" in err
    assert code == 1 and result["errorType"] in ("NoSuchKey", "ClientError")  # the handler's own error
    assert err.count("Traceback (most recent call last)") == 1


def test_a_malformed_event_reaches_the_handler(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"source": "aws.s3", "detail": "not an object"}))
    code, result, err = _invoke(capsys, "IngestFunction", "-e", str(path))
    assert code == 1 and "could not prepare" not in err  # nothing for the runtime to prepare: no crash there
    assert result["errorType"] in ("ValidationError", "InvalidEvent", "ValueError")


def test_invoke_refuses_an_unknown_resource(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _invoke(capsys, "NoSuchFunction", "-e", "events/ingest_broken_gzip.json")
    assert code == 2 and "invocable: " in err and "IngestFunction" in err


def test_schedule_fires_with_the_schedulers_input(capsys: pytest.CaptureFixture[str]) -> None:
    # an EventBridge Scheduler schedule (ScheduleV2): its Input with the context attributes filled in
    assert schedule.main(["WeeklyReportFunctionWeekly", "--date", "2026-11-29"]) == 0
    result = json.loads(capsys.readouterr().out)
    sent = json.loads(result["sent"])
    assert (sent["schedule"], sent["scheduled_time"], sent["attempt"]) == (
        "weekly-report",
        "2026-11-29T02:00:00Z",
        "1",
    )
    assert result["timezone"] == "UTC" and "<aws." not in result["sent"]
    assert {"function": "WeeklyReportFunction", "errored": False} in result["ran"]
    assert not any(r["errored"] for r in result["ran"])  # and what its events set off (the audit trail)


def test_schedule_refuses_a_day_it_does_not_fire_on(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="does not fire on 2026-11-30"):  # a Monday
        schedule.main(["WeeklyReportFunctionWeekly", "--date", "2026-11-30"])
