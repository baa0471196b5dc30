"""The business calendar: business days in a zone (daylight saving nights), reporting weeks and
months, holiday calendars and the fifth business day; the dependency decision."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from datapipe.banking.calendar import (
    CalendarError,
    business_date,
    business_days_of_partition,
    business_window,
    day_closed_by,
    holiday_calendar,
    local_time_on,
    partitions_touched,
    week_days,
    week_ending,
    weeks_ending_in,
)
from datapipe.banking.dependencies import Missing, decide

NY = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_a_utc_business_day_is_the_utc_date() -> None:
    assert business_window(date(2026, 11, 30), "UTC") == (utc(2026, 11, 30), utc(2026, 12, 1))
    assert partitions_touched(date(2026, 11, 30), "UTC") == [date(2026, 11, 30)]
    assert business_days_of_partition(date(2026, 11, 30), "UTC") == [date(2026, 11, 30)]


def test_the_fall_back_night_makes_a_25_hour_business_day() -> None:
    # 2026-11-01: New York leaves EDT (UTC-4) for EST (UTC-5) at 02:00 local
    start, end = business_window(date(2026, 11, 1), NY)
    assert (start, end) == (utc(2026, 11, 1, 4), utc(2026, 11, 2, 5))
    assert end - start == timedelta(hours=25)
    # 23:30 EST on Nov 1 is 04:30Z on Nov 2: it belongs to Nov 1
    assert business_date(utc(2026, 11, 2, 4, 30), NY) == date(2026, 11, 1)
    # 23:30 EDT on Oct 31 is 03:30Z on Nov 1: it belongs to Oct 31
    assert business_date(utc(2026, 11, 1, 3, 30), NY) == date(2026, 10, 31)
    assert partitions_touched(date(2026, 11, 1), NY) == [date(2026, 11, 1), date(2026, 11, 2)]


def test_the_spring_forward_night_makes_a_23_hour_business_day() -> None:
    start, end = business_window(date(2027, 3, 14), NY)
    assert (start, end) == (utc(2027, 3, 14, 5), utc(2027, 3, 15, 4))
    assert end - start == timedelta(hours=23)


def test_the_midnight_run_closes_yesterday_in_the_banks_zone() -> None:
    # end of day fires at local midnight: 05:00Z in winter, 04:00Z in summer
    assert day_closed_by(utc(2026, 11, 2, 5), NY) == date(2026, 11, 1)
    assert day_closed_by(utc(2026, 11, 1, 4), NY) == date(2026, 10, 31)
    assert day_closed_by(utc(2026, 12, 1, 0), "UTC") == date(2026, 11, 30)
    # the cut-off attempt of the same night (06:00 local) closes the same day
    assert local_time_on(date(2026, 11, 2), 6, NY) == utc(2026, 11, 2, 11)
    assert day_closed_by(local_time_on(date(2026, 11, 2), 6, NY), NY) == date(2026, 11, 1)


def test_a_partition_of_a_zone_west_of_utc_holds_two_business_days() -> None:
    assert business_days_of_partition(date(2026, 11, 30), NY) == [date(2026, 11, 29), date(2026, 11, 30)]


def test_reporting_weeks_run_sunday_to_saturday() -> None:
    assert week_ending(date(2026, 11, 30)) == date(2026, 12, 5)  # a Monday's week ends on Saturday
    assert week_ending(date(2026, 12, 5)) == date(2026, 12, 5)
    assert week_days(date(2026, 12, 5))[0] == date(2026, 11, 29)  # Sunday
    with pytest.raises(CalendarError, match="Saturday"):
        week_days(date(2026, 12, 6))
    assert weeks_ending_in(2026, 11) == [date(2026, 11, d) for d in (7, 14, 21, 28)]
    assert weeks_ending_in(2028, 2) == [date(2028, 2, d) for d in (5, 12, 19, 26)]


def test_the_fifth_business_day_skips_weekends_and_holidays() -> None:
    fed = holiday_calendar("US-FRB")
    # Dec 2026: Tue 1, Wed 2, Thu 3, Fri 4, Mon 7
    assert fed.nth_business_day(2026, 12, 5) == date(2026, 12, 7)
    # Jan 2027: Fri 1 is New Year's Day; Mon 4 .. Fri 8
    assert fed.nth_business_day(2027, 1, 5) == date(2027, 1, 8)
    # Sep 2027: Wed 1, Thu 2, Fri 3, (Mon 6 Labor Day), Tue 7, Wed 8
    assert fed.nth_business_day(2027, 9, 5) == date(2027, 9, 8)
    # Jul 4 2027 is a Sunday: observed Monday the 5th; Jul 4 2026 is a Saturday: the Fed stays open Friday
    assert not fed.is_business_day(date(2027, 7, 5)) and fed.is_business_day(date(2026, 7, 3))
    assert not fed.is_business_day(date(2026, 11, 26))  # Thanksgiving


def test_the_english_calendar_has_its_own_holidays() -> None:
    england = holiday_calendar("GB-EAW")
    # Easter 2027 is March 28: Good Friday the 26th, Easter Monday the 29th
    assert not england.is_business_day(date(2027, 3, 26)) and not england.is_business_day(date(2027, 3, 29))
    # Christmas 2027 is a Saturday, Boxing Day a Sunday: substitute days Monday 27 and Tuesday 28
    assert england.nth_business_day(2027, 12, 18) == date(2027, 12, 24)
    assert england.is_business_day(date(2027, 12, 29)) and not england.is_business_day(date(2027, 12, 28))


def test_a_calendar_refuses_what_it_does_not_know() -> None:
    with pytest.raises(CalendarError, match="unknown holiday calendar"):
        holiday_calendar("XX")
    with pytest.raises(CalendarError, match="covers"):
        holiday_calendar("US-FRB").is_business_day(date(2040, 1, 2))
    with pytest.raises(CalendarError, match="time zone"):
        business_window(date(2026, 1, 1), "Mars/Olympus")


def test_hard_dependencies_block_even_after_the_cutoff() -> None:
    rates = Missing("interest_rates", "no interest rates feed for 2028-02-28")
    sources = Missing("transactions", "1 source not delivered", hard=False, sources=("S017",))
    before = decide([rates, sources], cutoff_passed=False)
    assert before.blocked and before.missing == (rates, sources)
    after = decide([rates, sources], cutoff_passed=True)
    assert after.blocked and after.missing == (rates,)


def test_missing_sources_block_until_the_cutoff_then_are_waived_and_listed() -> None:
    sources = Missing("transactions", "1 source not delivered", hard=False, sources=("S017",))
    assert decide([sources], cutoff_passed=False).blocked
    closing = decide([sources], cutoff_passed=True)
    assert (
        not closing.blocked and closing.waived == (sources,) and closing.reason() == "1 source not delivered"
    )
    assert decide([], cutoff_passed=False).outcome == "PROCEED"
