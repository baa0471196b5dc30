"""Banking end of day on the offline stack, the whole way: raw files -> ingest -> gate -> publish ->
end of day (EventBridge Scheduler at midnight in America/New_York) -> balances (DynamoDB portal +
daily_balances) -> reconciliation -> the regulatory reports.

One story, run once for the module (the days of a ledger follow each other), with a handful of
accounts whose closing balances and interest are computed by hand below. The two business days
are the last autumn daylight-saving weekend: Saturday D1 (24 hours, EDT) and Sunday D2, the
fall-back night's 25-hour day. The tests read what the story recorded, so their order is free.

1. D1's account master and transactions arrive, its rates feed does not: the midnight attempt
   is blocked (HIGH, interest_rates listed); the feed arrives; the cut-off attempt (06:00) closes
   the day (the calendar's other 60 stores never delivered: closed without them, listed).
2. The weekly report of the week ending D1 fires on Sunday 02:00: refused, six dailies missing.
3. D2 carries a transaction of an account the master does not know: the day closes, does not
   reconcile (CRITICAL, the account listed masked), its daily report is blocked.
4. A second file of D1 arrives after both days closed: D1 and D2 are restated (new versions, the
   reason recorded), D1's daily report is re-issued as version 2, flagged restated.
5. The monthly package of the month before is never produced: the deadline check is PENDING the
   day before the fifth business day and OVERDUE (CRITICAL, the alarm's metric) on it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pyarrow.parquet as pq
import pytest

from offline_runtime.emulator.session import drain, observe_topic
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.datagen import ACCOUNTS_HEADER, RATES_HEADER, TX_HEADER
from offline_runtime.scenario.project import observe_bus, offline_aws

ZONE = "America/New_York"
NY = ZoneInfo(ZONE)
EOD = "EndOfDayFunctionEndOfDay"
DAILY = "DailyReportFunctionDaily"
WEEKLY = "WeeklyReportFunctionWeekly"
MONTHLY = "MonthlyReportFunctionMonthly"
DEADLINE = "MonthlyReportDeadlineFunctionDeadline"


def _last_fall_back(today: date) -> date:
    """The first Sunday of November (US fall back) at least a week before ``today``."""
    for year in (today.year, today.year - 1):
        first = date(year, 11, 1)
        sunday = first + timedelta(days=(6 - first.weekday()) % 7)
        if sunday <= today - timedelta(days=7):
            return sunday
    raise AssertionError("unreachable")


D2 = _last_fall_back(datetime.now(UTC).date())  # Sunday, 25 hours long in New York
D1 = D2 - timedelta(days=1)  # Saturday
MASTER = [  # account, customer, type, product, limit, brought forward
    ("ACCEOD001", "CUSEOD001", "checking", "CHK-BASIC", "", "1000.00"),
    ("ACCEOD002", "CUSEOD002", "savings", "SAV-STD", "", "10000.00"),
    ("ACCEOD003", "CUSEOD003", "savings", "SAV-PLUS", "", "5000.00"),
    ("ACCEOD004", "CUSEOD004", "credit", "CC-STD", "500.00", "450.00"),
]
RATES = [("CC-STD", "0.2199", "ACT/365"), ("SAV-PLUS", "0.0510", "ACT/360"), ("SAV-STD", "0.0425", "ACT/365")]
TYPES = {a: t for a, _, t, *_ in MASTER}


def _utc(day: date, hour: int, minute: int = 0) -> str:
    """A local time of ``day`` in New York, written in UTC."""
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tx(
    tx_id: str, kind: str, account: str, amount: str, at: str, original: str = "", store: str = "S001"
) -> str:
    card = kind in ("PURCHASE", "REFUND")
    return ",".join(
        [
            tx_id,
            kind,
            original,
            account,
            f"CARD{account[-6:]}" if card else "",
            f"CUS{account[3:]}",
            store if card else "",
            "FreshMart" if card else ("Payroll ACH" if kind == "DEPOSIT" else "Monthly fee"),
            "GROCERY" if card else "",
            amount,
            "USD",
            "POS" if card else ("TRANSFER" if kind == "DEPOSIT" else "SYSTEM"),
            "US",
            "NY",
            "US",
            "NY",
            TYPES.get(account, "checking"),
            at,
        ]
    )


def d1_rows(prefix: str = "TEOD1") -> list[str]:
    """D1's store file: 21 rows, 20 of them inside D1 (New York time)."""
    n = iter(range(100))

    def i() -> str:
        return f"{prefix}{next(n):04d}"

    rows = [_tx(i(), "PURCHASE", "ACCEOD001", "12.34", _utc(D1, 9 + k)) for k in range(8)]
    rows += [
        _tx(i(), "DEPOSIT", "ACCEOD001", "-500.00", _utc(D1, 8)),
        _tx(i(), "FEE", "ACCEOD001", "2.50", _utc(D1, 18)),
        _tx(i(), "PURCHASE", "ACCEOD001", "1.22", _utc(D1, 23, 30)),  # 03:30Z the next UTC day: still D1
        _tx(i(), "PURCHASE", "ACCEOD001", "999.00", _utc(D1 - timedelta(days=1), 23, 30)),  # the day before
        _tx(i(), "DEPOSIT", "ACCEOD002", "-1000.00", _utc(D1, 10)),
        _tx(i(), "PURCHASE", "ACCEOD002", "250.00", _utc(D1, 11)),
        _tx(i(), "PURCHASE", "ACCEOD003", "100.00", _utc(D1, 12)),
        _tx(i(), "PURCHASE", "ACCEOD003", "100.00", _utc(D1, 13)),
    ]
    first_card = f"{prefix}{16:04d}"
    rows += [_tx(i(), "PURCHASE", "ACCEOD004", "25.00", _utc(D1, 14 + k)) for k in range(4)]
    rows += [_tx(i(), "REFUND", "ACCEOD004", "-10.00", _utc(D1, 19), original=first_card)]
    return rows


# the gate compares a source's amount distribution with its history: the files look alike
AMOUNTS = ["12.34"] * 8 + ["2.50", "1.22", "999.00", "250.00", "100.00", "100.00"] + ["25.00"] * 4


def d2_rows() -> list[str]:
    """D2's store file: the fall-back day runs 04:00Z to 05:00Z the next day (25 hours)."""
    rows = [
        _tx(f"TEOD2{k:04d}", "PURCHASE", "ACCEOD001", amount, _utc(D2, 8 + k // 2, k % 2 * 30))
        for k, amount in enumerate(AMOUNTS)
    ]
    nxt = D2 + timedelta(days=1)
    rows += [
        # 04:30Z of the next UTC day: 23:30 EST, the 25th hour is still D2
        _tx("TEOD20100", "PURCHASE", "ACCEOD001", "7.00", _utc(D2, 23, 30)),
        # 05:30Z: 00:30 local of D2 + 1, not D2
        _tx("TEOD20101", "PURCHASE", "ACCEOD001", "500.00", _utc(nxt, 0, 30)),
        # an account the master does not know: posted nowhere, a reconciliation break
        _tx("TEOD20102", "PURCHASE", "ACCEODX99", "42.00", _utc(D2, 12)),
    ]
    return rows


def late_rows() -> list[str]:
    """Store S002's file of D1, delivered after D1 and D2 closed (D1 was closed at the cut-off
    without it): 21 purchases on checking (the amounts of S001's D2 file), 2200.44 in all."""
    return [
        _tx(
            f"LEOD1{k:04d}",
            "PURCHASE",
            "ACCEOD001",
            amount,
            _utc(D1, 8 + k // 2, k % 2 * 30 + 5),
            store="S002",
        )
        for k, amount in enumerate([*AMOUNTS, "7.00", "500.00", "42.00"])
    ]


def csv(header: str, rows: list[str]) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def master_csv(day: date) -> bytes:
    opened = day - timedelta(days=900)
    return csv(
        ACCOUNTS_HEADER,
        [f"{day},{a},{c},{t},{p},USD,{opened},,{lim},{bf}" for a, c, t, p, lim, bf in MASTER],
    )


def rates_csv(day: date) -> bytes:
    eff = day.replace(day=1)
    return csv(RATES_HEADER, [f"{day},{p},{r},{b},{eff}" for p, r, b in RATES])


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=NY).astimezone(UTC)


class Story:
    def __init__(self, stack: OfflineStack) -> None:
        self.stack = stack
        self.bus = observe_bus(stack, "eod-story")
        self.ops = observe_topic(stack, stack.outputs["OpsTopicArn"], "eod-story-ops")
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.alerts: dict[str, list[dict[str, Any]]] = {}
        self.published: dict[str, list[dict[str, Any]]] = {}

    def upload(self, step: str, files: dict[str, bytes]) -> None:
        s3 = self.stack.client("s3")
        for key, body in files.items():
            s3.put_object(Bucket=self.stack.outputs["RawBucketName"], Key=key, Body=body)
        self.stack.wait_idle(600)
        self.record(step)
        published = {
            e["detail"]["source"]["key"] for e in self.events[step] if e["detail-type"] == "DatasetPublished"
        }
        refused = [e["detail"] for e in self.events[step] if e["detail-type"] == "DatasetQuarantined"]
        assert published == set(files), (step, published, [r.get("reason") for r in refused])

    def fire(self, step: str, name: str, moment: datetime) -> None:
        self.stack.clock.advance_to(moment.timestamp())
        self.stack.schedules.fire(name, moment)
        self.stack.wait_idle(600)
        self.record(step)

    def record(self, step: str) -> None:
        self.events[step] = drain(self.stack, self.bus)
        self.alerts[step] = [
            {
                "subject": m.get("Subject", ""),
                "severity": m.get("MessageAttributes", {}).get("severity", {}).get("Value"),
                "message": json.loads(m["Message"])
                if m.get("Message", "").startswith("{")
                else m.get("Message"),
            }
            for m in drain(self.stack, self.ops)
        ]

    def of(self, step: str, kind: str) -> list[dict[str, Any]]:
        return [e["detail"] for e in self.events[step] if e["detail-type"] == kind]


@pytest.fixture(scope="module")
def story() -> Iterator[Story]:
    with offline_aws(parameters={"BusinessTimeZone": ZONE}) as stack:
        s = Story(stack)
        day1, day2 = D1.isoformat(), D2.isoformat()
        s.upload(
            "d1 inputs without rates",
            {
                f"accounts/{day1}/accounts.csv": master_csv(D1),
                f"transactions/{day1}/pos-S001.csv": csv(TX_HEADER, d1_rows()),
            },
        )
        s.fire("daily report d1 at 01:00", DAILY, at(D2, 1))
        s.fire("eod d1 at midnight", EOD, at(D2, 0))
        s.upload("d1 rates", {f"interest_rates/{day1}/rates.csv": rates_csv(D1)})
        s.fire("eod d1 at the cut-off", EOD, at(D2, 6))
        s.fire("weekly at sunday 02:00", WEEKLY, at(D2, 2))
        s.upload(
            "d2 inputs",
            {
                f"accounts/{day2}/accounts.csv": master_csv(D2),
                f"interest_rates/{day2}/rates.csv": rates_csv(D2),
                f"transactions/{day2}/pos-S001.csv": csv(TX_HEADER, d2_rows()),
            },
        )
        d3 = D2 + timedelta(days=1)
        s.fire("daily report d2 at 01:00", DAILY, at(d3, 1))
        s.fire("eod d2 at the cut-off", EOD, at(d3, 6))
        s.upload("late file of d1", {f"transactions/{day1}/pos-S002-late.csv": csv(TX_HEADER, late_rows())})
        # redeliveries: the late file's DatasetPublished again, and a later attempt of a closed day
        (late,) = [e for e in s.events["late file of d1"] if e["detail-type"] == "DatasetPublished"]
        s.redelivered = s.stack.invoke("EndOfDayFunction", late)  # type: ignore[attr-defined]
        s.fire("eod d1 attempt after its close", EOD, at(D2, 5))
        first = D2.replace(day=1)
        s.fire("monthly on the 1st", MONTHLY, at(first, 3))
        s.fire_deadline = lambda day: s.fire(f"deadline {day}", DEADLINE, at(day, 17))  # type: ignore[attr-defined]
        yield s


def control(s: Story, day: date) -> dict[str, Any]:
    table = boto3.resource("dynamodb", region_name=s.stack.region).Table(
        s.stack.outputs["EndOfDayControlTableName"]
    )
    return table.get_item(Key={"business_date": day.isoformat()})["Item"]


def balances(s: Story, day: date) -> dict[str, dict[str, Any]]:
    body = (
        s.stack.client("s3")
        .get_object(
            Bucket=s.stack.outputs["CuratedBucketName"],
            Key=f"curated/daily_balances/business_date={day}/balances.parquet",
        )["Body"]
        .read()
    )
    return {r["account_id"]: r for r in pq.read_table(io.BytesIO(body)).to_pylist()}


def cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


# ------------------------------------------------------------------ the daylight-saving weekend
def test_end_of_day_fires_at_local_midnight_on_both_sides_of_the_fall_back(story: Story) -> None:
    moments = story.stack.schedules.occurrences(
        EOD, at(D2, 0) - timedelta(minutes=1), at(D2 + timedelta(days=1), 7)
    )
    # midnight EDT (04:00Z) closing D1, midnight EST (05:00Z) closing D2, hourly until 06:00 local
    assert moments[0] == datetime(D2.year, D2.month, D2.day, 4, tzinfo=UTC)
    nxt = D2 + timedelta(days=1)
    assert datetime(nxt.year, nxt.month, nxt.day, 5, tzinfo=UTC) in moments
    assert len(moments) == 14  # 0..6 local on each of the two nights (no hour lost or doubled)


def test_the_fall_back_day_is_25_hours_and_counts_by_its_own_business_date(story: Story) -> None:
    (closed,) = [c for c in story.of("eod d2 at the cut-off", "EndOfDayClosed")]
    assert closed["business_date"] == D2.isoformat() and closed["time_zone"] == ZONE
    start, end = (datetime.fromisoformat(closed["window"][k]) for k in ("start", "end"))
    assert end - start == timedelta(hours=25)
    b = balances(story, D2)
    # the 18 amounts (1651.44) + the 25th hour's 7.00; the 500.00 at 00:30 the next local day is not D2's
    assert b["ACCEOD001"]["transactions"] == 19 and cents(b["ACCEOD001"]["debits"]) == Decimal("1658.44")


# ------------------------------------------------------------------ missing rates: blocked, then closed
def test_missing_rates_block_the_day_with_a_high_alert(story: Story) -> None:
    (blocked,) = story.of("eod d1 at midnight", "EndOfDayBlocked")
    assert blocked["business_date"] == D1.isoformat() and blocked["final"] is False
    kinds = {m["kind"] for m in blocked["missing"]}
    assert "interest_rates" in kinds and blocked["retry"] == "the next scheduled attempt"
    alerts = [a for a in story.alerts["eod d1 at midnight"] if "blocked" in a["subject"]]
    assert [a["severity"] for a in alerts] == ["HIGH"] and "interest rates" in alerts[0]["subject"]
    assert not story.of("eod d1 at midnight", "EndOfDayClosed")


def test_the_day_closes_when_the_rates_have_arrived_with_hand_computed_balances(story: Story) -> None:
    (closed,) = story.of("eod d1 at the cut-off", "EndOfDayClosed")
    assert closed["business_date"] == D1.isoformat() and closed["version"] == 1
    assert closed["reconciliation"]["status"] == "OK"
    # the 60 other stores and online never delivered: closed at the cut-off without them, listed
    (waived,) = closed["waived"]
    assert (
        waived["kind"] == "transactions" and "online" in waived["sources"] and "S001" not in waived["sources"]
    )
    # the version 1 balances (the restatement later replaced the current object: read the version's)
    body = (
        story.stack.client("s3")
        .get_object(
            Bucket=closed["location"]["bucket"], Key=closed["location"]["prefix"] + "balances.parquet"
        )["Body"]
        .read()
    )
    b = {r["account_id"]: r for r in pq.read_table(io.BytesIO(body)).to_pylist()}
    # checking: 1000.00 - (8 x 12.34 + 2.50 + 1.22) + 500.00 = 1397.56 (the 999.00 was the day before)
    assert (
        cents(b["ACCEOD001"]["closing_balance"]) == Decimal("1397.56")
        and b["ACCEOD001"]["transactions"] == 11
    )
    # savings ACT/365 4.25 %: 10000 + 1000 - 250 = 10750.00; 10750 x 0.0425 / 365 = 1.2517.. -> 1.25
    assert cents(b["ACCEOD002"]["interest_accrued"]) == Decimal("1.25")
    # savings ACT/360 5.10 %: 5000 - 200 = 4800.00; 4800 x 0.051 / 360 = 0.68 exactly
    assert cents(b["ACCEOD003"]["interest_accrued"]) == Decimal("0.68")
    # the ledger's first day: the month's accruals are that day's; credited when D1 ends its month
    # (31 October when the fall back is on 1 November)
    month_end = (D1 + timedelta(days=1)).day == 1
    credit2, credit3 = (Decimal("1.25"), Decimal("0.68")) if month_end else (Decimal(0), Decimal(0))
    assert cents(b["ACCEOD002"]["interest_credited"]) == credit2
    assert cents(b["ACCEOD002"]["closing_balance"]) == Decimal("10750.00") + credit2
    assert cents(b["ACCEOD003"]["interest_credited"]) == credit3
    assert cents(b["ACCEOD003"]["closing_balance"]) == Decimal("4800.00") + credit3
    usd = closed["interest"]["USD"]
    assert (Decimal(usd["accrued"]), Decimal(usd["credited"]), usd["accounts"]) == (
        Decimal("1.93"),
        credit2 + credit3,
        2,
    )
    # credit (owed): 450 + 4 x 25 - 10 = 540.00, over its 500.00 limit (no interest on credit here)
    assert cents(b["ACCEOD004"]["closing_balance"]) == Decimal("540.00") and b["ACCEOD004"]["over_limit"]
    assert cents(b["ACCEOD001"]["interest_credited"]) == cents(b["ACCEOD004"]["interest_credited"]) == 0


def test_the_portal_table_holds_each_accounts_balance_per_business_day(story: Story) -> None:
    table = boto3.resource("dynamodb", region_name=story.stack.region).Table(
        story.stack.outputs["AccountBalancesTableName"]
    )
    item = table.get_item(Key={"account_id": "ACCEOD002", "business_date": D1.isoformat()})["Item"]
    assert item["account_type"] == "savings" and item["version"] == 1  # D1 was not restated for it
    assert cents(item["closing_balance"]) == Decimal("10750.00") + cents(item["interest_credited"])


def test_the_daily_report_waits_for_end_of_day_and_is_issued_when_it_closes(story: Story) -> None:
    (blocked,) = story.of("daily report d1 at 01:00", "DailyReportBlocked")
    assert blocked["period"] == D1.isoformat() and "not closed" in blocked["reason"]
    (ready,) = story.of("eod d1 at the cut-off", "DailyReportReady")
    assert ready["period"] == D1.isoformat() and ready["version"] == 1 and ready["restated"] is False
    # by business date: the row of the day before (in the same UTC partition) is not counted
    assert ready["transactions"] == 20
    assert set(ready["checksums"]) >= {
        "balances.csv",
        "transactions_by_type.csv",
        "reconciliation_checks.csv",
    }


# ------------------------------------------------------------------ the weekly report
def test_the_weekly_report_is_refused_while_a_daily_is_missing(story: Story) -> None:
    (blocked,) = story.of("weekly at sunday 02:00", "WeeklyReportBlocked")
    assert blocked["period"] == D1.isoformat()  # the week Sunday..Saturday that ended with D1
    assert len(blocked["missing"]) == 6 and f"daily#{D1}" not in blocked["missing"]
    assert not story.of("weekly at sunday 02:00", "WeeklyReportReady")
    assert [a["severity"] for a in story.alerts["weekly at sunday 02:00"]] == ["HIGH"]


# ------------------------------------------------------------------ reconciliation mismatch
def test_a_reconciliation_mismatch_is_critical_and_blocks_the_days_report(story: Story) -> None:
    step = "eod d2 at the cut-off"
    (failed,) = story.of(step, "ReconciliationFailed")
    assert (
        failed["business_date"] == D2.isoformat()
        and failed["accounts"]
        and "ACCEODX99" not in json.dumps(failed)
    )
    critical = [a for a in story.alerts[step] if a["severity"] == "CRITICAL"]
    assert len(critical) == 1 and "reconciliation" in critical[0]["subject"]
    assert "ACCEODX99" not in json.dumps(story.alerts[step])  # masked in what people read
    exceptions = json.loads(
        story.stack.client("s3")
        .get_object(Bucket=failed["exceptions"]["bucket"], Key=failed["exceptions"]["key"])["Body"]
        .read()
    )
    assert "ACCEODX99" in json.dumps(exceptions["breaks"])  # the accounts are listed where ops look
    assert control(story, D2)["reconciliation"] == "MISMATCH"
    assert not story.of(step, "DailyReportReady")
    reasons = [
        b["reason"]
        for st in story.events
        for b in story.of(st, "DailyReportBlocked")
        if b["period"] == D2.isoformat()
    ]
    assert reasons and "did not reconcile" in reasons[-1]


# ------------------------------------------------------------------ a late file restates
def test_a_late_file_restates_the_closed_days_and_reissues_the_report(story: Story) -> None:
    step = "late file of d1"
    restated = {r["business_date"]: r for r in story.of(step, "EndOfDayRestated")}
    assert set(restated) == {D1.isoformat(), D2.isoformat()}  # D1 changed, and so did D2's opening
    r1 = restated[D1.isoformat()]
    assert r1["version"] == 2 and r1["previous_version"] == 1 and "pos-S002-late.csv" in r1["reason"]
    record = control(story, D1)
    assert int(record["version"]) == 2 and record["restatements"][0]["reason"] == r1["reason"]
    b1, b2 = balances(story, D1), balances(story, D2)
    # 1397.56 - 2200.44 = -802.88: overdrawn after all
    assert cents(b1["ACCEOD001"]["closing_balance"]) == Decimal("-802.88") and b1["ACCEOD001"]["overdrawn"]
    assert cents(b2["ACCEOD001"]["opening_balance"]) == Decimal("-802.88")
    (reissued,) = [d for d in story.of(step, "DailyReportReady") if d["period"] == D1.isoformat()]
    assert reissued["version"] == 2 and reissued["restated"] is True and reissued["supersedes"] == 1
    assert reissued["transactions"] == 41
    assert any("re-issued as v2" in a["subject"] for a in story.alerts[step])


# ------------------------------------------------------------------ the monthly package and its deadline
def test_the_monthly_package_is_blocked_without_the_months_dailies(story: Story) -> None:
    (blocked,) = story.of("monthly on the 1st", "MonthlyReportBlocked")
    previous = D2.replace(day=1) - timedelta(days=1)
    assert blocked["period"] == previous.strftime("%Y-%m") and "not issued" in blocked["reason"]


def test_the_monthly_deadline_alarm_fires_on_the_fifth_business_day(story: Story) -> None:
    from datapipe.banking.calendar import holiday_calendar

    first = D2.replace(day=1)
    due = holiday_calendar("US-FRB").nth_business_day(first.year, first.month, 5)
    before = due - timedelta(days=1)
    while before.weekday() >= 5:
        before -= timedelta(days=1)
    story.fire_deadline(before)  # type: ignore[attr-defined]
    story.fire_deadline(due)  # type: ignore[attr-defined]
    assert not story.of(f"deadline {before}", "MonthlyReportOverdue")
    (overdue,) = story.of(f"deadline {due}", "MonthlyReportOverdue")
    assert overdue["deadline"] == due.isoformat() and overdue["status"] == "OVERDUE"
    assert [a["severity"] for a in story.alerts[f"deadline {due}"]] == ["CRITICAL"]
    alarm = story.stack.client("cloudwatch").describe_alarms()["MetricAlarms"]
    (watch,) = [a for a in alarm if a.get("MetricName") == "MonthlyReportOverdue"]  # metric math has none
    points = [p for p in story.stack.lambdas.metrics if p.name == "MonthlyReportOverdue"]
    dims = {d["Name"]: d["Value"] for d in watch["Dimensions"]}
    hits = [p for p in points if p.namespace == watch["Namespace"] and p.dimensions.items() >= dims.items()]
    assert [max(p.values) for p in hits] == [0.0, 1.0]  # the day before, then the deadline day
    assert max(hits[-1].values) >= watch["Threshold"]  # the alarm's statistic crosses its threshold


# ------------------------------------------------------------------ redelivery changes nothing
def test_a_redelivered_late_file_and_a_later_attempt_leave_the_days_as_they_are(story: Story) -> None:
    result, errored, _ = story.redelivered  # type: ignore[attr-defined]
    assert not errored and result["status"] == "UNCHANGED"
    assert {d["status"] for d in result["days"]} == {"UNCHANGED"}
    assert int(control(story, D1)["version"]) == 2 and int(control(story, D2)["version"]) == 2
    step = "eod d1 attempt after its close"
    assert not [e for e in story.events[step] if e["detail-type"].startswith(("EndOfDay", "DailyReport"))]
    assert not story.alerts[step]


# ------------------------------------------------------------------ the report-retry rules (delivery)
def test_a_reissued_daily_report_retries_the_weekly_report_it_refused(story: Story) -> None:
    # WeeklyReportFunctionDailyIssued: DailyReportReady on the bus -> the weekly report of its week
    (reissued,) = [
        d for d in story.of("late file of d1", "DailyReportReady") if d["period"] == D1.isoformat()
    ]
    assert reissued["version"] == 2
    (again,) = story.of("late file of d1", "WeeklyReportBlocked")  # the week was attempted: retried
    assert again["period"] == D1.isoformat() and len(again["missing"]) == 6


def test_an_issued_report_reaches_the_monthly_package_which_waits_for_its_scheduled_run(story: Story) -> None:
    # MonthlyReportFunctionReportIssued: DailyReportReady / WeeklyReportReady -> the month's package
    runs = [i for i in story.stack.lambdas.invocations if i.logical_id == "MonthlyReportFunction"]
    by_event = [i for i in runs if "NOT_DUE" in i.logs]
    assert by_event and not any(i.errored for i in runs)  # before the 1st: not due, nothing issued
