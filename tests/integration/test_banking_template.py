"""The banking end-of-day section of template.yaml, read as a document: schedules in the business
time zone, every asynchronous hop parked and alarmed, the archive rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
RESOURCES: dict[str, Any] = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]
BANKING = ["EndOfDayFunction", "DailyReportFunction", "WeeklyReportFunction", "MonthlyReportFunction"]
BANKING += ["MonthlyReportDeadlineFunction"]
DLQ = {"Fn::GetAtt": ["BankingDeadLetterQueue", "Arn"]}


@pytest.mark.parametrize("name", BANKING)
def test_every_schedule_is_scheduler_in_the_business_time_zone_with_a_dead_letter_queue(name: str) -> None:
    events = RESOURCES[name]["Properties"]["Events"]
    schedules = [e["Properties"] for e in events.values() if e["Type"] == "ScheduleV2"]
    assert schedules and not [e for e in events.values() if e["Type"] == "Schedule"]
    for s in schedules:
        assert s["ScheduleExpressionTimezone"] == {"Ref": "BusinessTimeZone"}
        assert "<aws.scheduler.scheduled-time>" in s["Input"]
        assert s["DeadLetterConfig"]["Arn"] == DLQ
    for e in events.values():  # bus rules too: retried, then parked
        assert e["Properties"]["DeadLetterConfig"]["Arn"] == DLQ
    on_failure = RESOURCES[name]["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": DLQ}  # Lambda's own async retries, then parked


@pytest.mark.parametrize("name", BANKING)
def test_every_banking_function_has_an_errors_alarm(name: str) -> None:
    alarms = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == "Errors"
    ]
    assert [a for a in alarms if a["Dimensions"][0]["Value"] == {"Ref": name}]


def test_the_dead_letter_queue_and_the_business_alarms_page_the_operators() -> None:
    alarms = {k: r["Properties"] for k, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    for name in ("BankingDeadLetterQueueAlarm", "EndOfDayBlockedAlarm", "ReconciliationMismatchAlarm"):
        assert alarms[name]["AlarmActions"] == [{"Ref": "OpsTopic"}]
    overdue = alarms["MonthlyReportOverdueAlarm"]
    assert (overdue["MetricName"], overdue["Threshold"]) == ("MonthlyReportOverdue", 1)


def test_raw_and_quarantine_are_archived_to_glacier_and_balances_never_expire() -> None:
    def rules(bucket: str) -> dict[str, Any]:
        config = RESOURCES[bucket]["Properties"]["LifecycleConfiguration"]["Rules"]
        return {r["Id"]: r for r in config}

    raw = rules("RawBucket")["ArchiveRawToGlacier"]["Transitions"]
    assert [t["StorageClass"] for t in raw] == ["GLACIER_IR", "DEEP_ARCHIVE"]
    assert raw[0]["TransitionInDays"] == {"Ref": "RawArchiveDays"}
    quarantine = rules("QuarantineBucket")["ArchiveQuarantineToGlacier"]["Transitions"]
    assert quarantine[0]["TransitionInDays"] == {"Ref": "QuarantineArchiveDays"}
    kept = ("curated/daily_balances/business_date=2026-11-22/", "eod/business_date=2026-11-22/v1/")
    for rule in rules("CuratedBucket").values():  # only staging and the like expire: no balances rule
        prefix = rule.get("Prefix") or rule.get("Filter", {}).get("Prefix", "")
        if prefix:
            assert not any(key.startswith(prefix) for key in kept), rule["Id"]
        else:  # a bucket-wide rule may only drop replaced versions, never a current object
            assert not {"ExpirationInDays", "ExpirationDate", "Transitions"} & set(rule), rule["Id"]
            assert "NoncurrentVersionExpiration" in rule, rule["Id"]
