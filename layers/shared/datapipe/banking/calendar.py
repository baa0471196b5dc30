"""The business calendar: business days in the bank's time zone, reporting weeks and months, and
the holiday calendars deadlines are counted on.

A business day D is the bank's local calendar day in ``BusinessTimeZone``: the UTC interval from
local midnight of D to local midnight of D+1 (``business_window``), 24 hours most days, 23 or 25 on
the nights daylight saving starts or ends. A record belongs to the business day its own time falls
in, never to the day it was published. In a UTC-cut zone the window is the ``event_date``
partition exactly; elsewhere queries prune on the partitions the window touches and filter on the
time. The end of day that runs at local midnight of D+1 closes D.

Reporting weeks run Sunday to Saturday (the weekly report runs on Sunday 02:00 for the week that
ended at Saturday's close); months are calendar months. Holiday calendars are data
(``calendars/<name>.json``): regulatory deadlines count business days (not weekends, not
holidays) in them.
"""

from __future__ import annotations

import calendar as _calendar
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CALENDARS = Path(__file__).with_name("calendars")
WEEK_END = 5  # Saturday (date.weekday(): Monday 0): reporting weeks end at Saturday's close


class CalendarError(ValueError):
    """An unknown time zone or holiday calendar, or a date outside a calendar's years."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"unknown time zone {name!r} (an IANA name such as America/New_York)") from None


def local_midnight(day: date, tz: str) -> datetime:
    """The UTC moment local day ``day`` begins (the first instant after a gap at midnight)."""
    z = zone(tz)
    local = datetime.combine(day, time(0), tzinfo=z)
    moment = local.astimezone(UTC)
    if moment.astimezone(z).date() != day:  # midnight fell into a spring-forward gap
        moment = datetime.combine(day, time(1), tzinfo=z).astimezone(UTC)
    return moment


def business_window(day: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) in UTC of business day ``day`` in time zone ``tz``."""
    return local_midnight(day, tz), local_midnight(day + timedelta(days=1), tz)


def business_date(moment: datetime, tz: str) -> date:
    """The business day a moment (aware, any zone) belongs to."""
    if moment.tzinfo is None:
        raise CalendarError("a naive time has no business day (it needs a zone or an offset)")
    return moment.astimezone(zone(tz)).date()


def partitions_touched(day: date, tz: str) -> list[date]:
    """The UTC ``event_date`` partitions business day ``day`` overlaps (one in a UTC-cut zone)."""
    start, end = business_window(day, tz)
    last = (end - timedelta(microseconds=1)).date()
    return [start.date() + timedelta(days=i) for i in range((last - start.date()).days + 1)]


def business_days_of_partition(partition: date, tz: str) -> list[date]:
    """The business days a UTC ``event_date`` partition's rows can belong to."""
    first = business_date(datetime.combine(partition, time(0), tzinfo=UTC), tz)
    last = business_date(datetime.combine(partition, time.max, tzinfo=UTC), tz)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_closed_by(scheduled: datetime, tz: str) -> date:
    """The business day a run scheduled at ``scheduled`` (midnight or a later attempt of the same
    night) closes or reports on: the local day before the one the run happens on."""
    return business_date(scheduled, tz) - timedelta(days=1)


def local_time_on(day: date, hour: int, tz: str) -> datetime:
    """``hour``:00 local time on ``day``, in UTC."""
    return datetime.combine(day, time(hour), tzinfo=zone(tz)).astimezone(UTC)


def is_month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def month_days(year: int, month: int) -> list[date]:
    last = _calendar.monthrange(year, month)[1]
    return [date(year, month, d) for d in range(1, last + 1)]


def previous_month(day: date) -> tuple[int, int]:
    first = day.replace(day=1) - timedelta(days=1)
    return first.year, first.month


def is_week_end(day: date) -> bool:
    return day.weekday() == WEEK_END


def week_ending(day: date) -> date:
    """The Saturday closing the reporting week ``day`` is in."""
    return day + timedelta(days=(WEEK_END - day.weekday()) % 7)


def week_days(saturday: date) -> list[date]:
    """Sunday .. Saturday of the reporting week ending ``saturday``."""
    if not is_week_end(saturday):
        raise CalendarError(f"a reporting week ends on a Saturday; {saturday} is a {saturday:%A}")
    return [saturday - timedelta(days=i) for i in range(6, -1, -1)]


def weeks_ending_in(year: int, month: int) -> list[date]:
    """The reporting weeks a month's package includes: those ending (on a Saturday) in the month."""
    return [d for d in month_days(year, month) if is_week_end(d)]


@dataclass(frozen=True)
class HolidayCalendar:
    """Business days of a market: Monday to Friday except the listed holidays."""

    name: str
    description: str
    holidays: dict[date, str]
    years: tuple[int, int]  # the first and last year the list covers

    def _covered(self, day: date) -> None:
        if not self.years[0] <= day.year <= self.years[1]:
            raise CalendarError(
                f"holiday calendar {self.name} covers {self.years[0]}-{self.years[1]}, not {day.year}: "
                "add the year's holidays to its file"
            )

    def is_business_day(self, day: date) -> bool:
        self._covered(day)
        return day.weekday() < 5 and day not in self.holidays

    def nth_business_day(self, year: int, month: int, n: int) -> date:
        """The ``n``-th business day of a month (1-based)."""
        if n < 1:
            raise CalendarError("business days are counted from 1")
        count = 0
        for day in month_days(year, month):
            if self.is_business_day(day):
                count += 1
                if count == n:
                    return day
        raise CalendarError(f"{year}-{month:02d} has fewer than {n} business days in {self.name}")


@lru_cache(maxsize=8)
def holiday_calendar(name: str) -> HolidayCalendar:
    """``calendars/<name>.json``: {"description", "years": [first, last], "holidays": {date: name}}."""
    path = CALENDARS / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in CALENDARS.glob("*.json"))
        raise CalendarError(f"unknown holiday calendar {name!r}; known: {known}")
    raw = json.loads(path.read_text(encoding="utf-8"))
    first, last = (int(y) for y in raw["years"])
    holidays = {date.fromisoformat(d): str(n) for d, n in raw["holidays"].items()}
    outside = [d for d in holidays if not first <= d.year <= last]
    if outside:
        raise CalendarError(f"holiday calendar {name}: {outside[0]} is outside its years {first}-{last}")
    return HolidayCalendar(name, str(raw.get("description", "")), holidays, (first, last))
