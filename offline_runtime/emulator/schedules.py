"""Schedules fired on demand: EventBridge scheduled rules and EventBridge Scheduler schedules.

Nothing fires by itself offline (a test or the demo decides when "01:00 tomorrow" is). Given a
moment, or a window, this module computes when each schedule fires and delivers what AWS delivers:

- a scheduled **rule** sends its targets the "Scheduled Event" (``source: aws.events``, the
  scheduled ``time``, the rule ARN in ``resources``) through the rule's target settings
  (Input, InputTransformer, RetryPolicy, DeadLetterConfig) — expressions are UTC, as on AWS;
- a **Scheduler schedule** (``AWS::Scheduler::Schedule``, SAM ``ScheduleV2``) sends its target's
  ``Input`` with the context attributes ``<aws.scheduler.scheduled-time>``,
  ``<aws.scheduler.execution-id>``, ``<aws.scheduler.attempt-number>`` and
  ``<aws.scheduler.schedule-arn>`` filled in; its cron is evaluated in
  ``ScheduleExpressionTimezone``, with AWS's daylight-saving rules: a local time that does not
  exist (the spring-forward hour) is skipped, one that exists twice (fall back) fires once.

Cron syntax is AWS's six fields (minutes hours day-of-month month day-of-week year, with
``* , - / ? L W #`` and names); ``rate(n unit)`` and ``at(yyyy-mm-ddThh:mm:ss)`` are supported.
"""

from __future__ import annotations

import calendar
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError
from moto.utilities.arns import parse_arn

from offline_runtime.emulator import clients
from offline_runtime.emulator.eventbridge import target_input
from offline_runtime.emulator.invoker import send_to_destination

if TYPE_CHECKING:
    from offline_runtime.emulator.stack import OfflineStack

_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}


class ScheduleError(ValueError):
    pass


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    out: set[int] = set()
    for item in field.split(","):
        part, step = item, 1
        if "/" in item:
            part, step_text = item.split("/", 1)
            step = int(step_text)
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _number(a, names), _number(b, names)
        else:
            start = _number(part, names)
            end = high if step != 1 else start
        if start < low or end > high:
            raise ScheduleError(f"{field!r}: out of range {low}-{high}")
        out.update(range(start, end + 1, step))
    return out


def _number(text: str, names: dict[str, int] | None) -> int:
    upper = text.upper()
    if names and upper in names:
        return names[upper]
    return int(text)


@dataclass(frozen=True)
class Cron:
    minutes: set[int]
    hours: set[int]
    dom: str
    months: set[int]
    dow: str
    years: set[int]

    @classmethod
    def parse(cls, expression: str) -> Cron:
        match = re.fullmatch(r"cron\((.+)\)", expression.strip())
        if not match:
            raise ScheduleError(f"not a cron expression: {expression}")
        fields = match.group(1).split()
        if len(fields) != 6:
            raise ScheduleError(f"{expression}: AWS cron has six fields")
        minutes, hours, dom, month, dow, year = fields
        if (dom == "?") == (dow == "?"):
            raise ScheduleError(f"{expression}: exactly one of day-of-month and day-of-week must be '?'")
        return cls(
            _values(minutes, 0, 59),
            _values(hours, 0, 23),
            dom,
            _values(month, 1, 12, _MONTHS),
            dow,
            _values(year, 1970, 2199),
        )

    def matches_day(self, day: date) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.dom != "?":
            return _dom_matches(self.dom, day)
        return _dow_matches(self.dow, day)

    def times(self, day: date) -> Iterator[tuple[int, int]]:
        if self.matches_day(day):
            for hour in sorted(self.hours):
                for minute in sorted(self.minutes):
                    yield hour, minute


def _dom_matches(field: str, day: date) -> bool:
    last = calendar.monthrange(day.year, day.month)[1]
    for part in field.split(","):
        if part == "L":
            if day.day == last:
                return True
        elif part.endswith("W"):
            target = min(int(part[:-1]), last)
            wanted = date(day.year, day.month, target)
            if wanted.weekday() == 5:  # Saturday -> Friday (or Monday if the 1st)
                wanted = wanted - timedelta(days=1) if target > 1 else wanted + timedelta(days=2)
            elif wanted.weekday() == 6:
                wanted = wanted + timedelta(days=1) if target < last else wanted - timedelta(days=2)
            if wanted == day:
                return True
        elif day.day in _values(part, 1, 31):
            return True
    return False


def _dow_matches(field: str, day: date) -> bool:
    aws_dow = (day.isoweekday() % 7) + 1  # SUN=1 … SAT=7
    for part in field.split(","):
        if "#" in part:
            weekday, nth = part.split("#", 1)
            if aws_dow == _number(weekday, _DAYS) and (day.day - 1) // 7 + 1 == int(nth):
                return True
        elif part.endswith("L") and part != "L":
            last_weekday = _number(part[:-1], _DAYS)
            if aws_dow == last_weekday and day.day + 7 > calendar.monthrange(day.year, day.month)[1]:
                return True
        elif aws_dow in _values(part, 1, 7, _DAYS):
            return True
    return False


def occurrences(
    expression: str, start: datetime, end: datetime, timezone: str = "UTC", anchor: datetime | None = None
) -> list[datetime]:
    """UTC moments in [start, end) at which the expression fires, in the given time zone."""
    zone = ZoneInfo(timezone)
    expression = expression.strip()
    if expression.startswith("rate("):
        return _rate_occurrences(expression, start, end, anchor or start)
    if expression.startswith("at("):
        moment = datetime.fromisoformat(expression[3:-1]).replace(tzinfo=zone).astimezone(UTC)
        return [moment] if start <= moment < end else []
    cron = Cron.parse(expression)
    out: list[datetime] = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last_day:
        for hour, minute in cron.times(day):
            local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
            if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
                continue  # the spring-forward gap: this local time does not exist; AWS skips it
            moment = local.astimezone(UTC)  # fold=0: an ambiguous time fires once, at its first occurrence
            if start <= moment < end:
                out.append(moment)
        day += timedelta(days=1)
    return sorted(out)


def _rate_occurrences(expression: str, start: datetime, end: datetime, anchor: datetime) -> list[datetime]:
    match = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", expression)
    if not match:
        raise ScheduleError(f"not a rate expression: {expression}")
    value, unit = int(match.group(1)), match.group(2).rstrip("s")
    step = timedelta(**{f"{unit}s": value})
    moment = anchor
    out = []
    while moment < end:
        if moment >= start:
            out.append(moment)
        moment += step
    return out


@dataclass
class ScheduleInfo:
    logical_id: str
    kind: str  # "rule" | "scheduler"
    name: str
    expression: str
    timezone: str
    arn: str
    group: str = "default"
    bus: str | None = None


class Schedules:
    def __init__(self, stack: OfflineStack) -> None:
        self.stack = stack
        self.fired: list[tuple[str, datetime]] = []

    def all(self) -> dict[str, ScheduleInfo]:
        out: dict[str, ScheduleInfo] = {}
        for res in self.stack.cfn.of_type("AWS::Events::Rule"):
            expression = res.resolved.get("ScheduleExpression")
            if expression:
                bus = res.resolved.get("EventBusName")
                name = str(res.physical_id).split("|")[-1]
                out[res.logical_id] = ScheduleInfo(
                    res.logical_id, "rule", name, expression, "UTC", res.attributes["Arn"], bus=bus
                )
        for res in self.stack.cfn.of_type("AWS::Scheduler::Schedule"):
            props = res.resolved
            out[res.logical_id] = ScheduleInfo(
                res.logical_id,
                "scheduler",
                str(res.physical_id),
                props["ScheduleExpression"],
                props.get("ScheduleExpressionTimezone", "UTC"),
                res.attributes["Arn"],
                group=props.get("GroupName", "default"),
            )
        return out

    def get(self, name: str) -> ScheduleInfo:
        schedules = self.all()
        if name in schedules:
            return schedules[name]
        for info in schedules.values():
            if info.name == name:
                return info
        raise KeyError(f"no schedule {name!r}; schedules: {', '.join(sorted(schedules)) or 'none'}")

    def occurrences(self, name: str, start: datetime, end: datetime) -> list[datetime]:
        info = self.get(name)
        return occurrences(info.expression, start, end, info.timezone)

    def next_on(self, name: str, day: date) -> datetime:
        """The first moment the schedule fires on ``day`` (in the schedule's own time zone)."""
        info = self.get(name)
        zone = ZoneInfo(info.timezone)
        start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        found = occurrences(info.expression, start, start + timedelta(days=1), info.timezone)
        if not found:
            raise ScheduleError(f"{name} ({info.expression}, {info.timezone}) does not fire on {day}")
        return found[0]

    def fire(self, name: str, at: datetime) -> Any:
        """Deliver what the schedule sends at ``at`` (UTC); returns the event/payload sent."""
        info = self.get(name)
        self.fired.append((info.logical_id, at))
        if info.kind == "rule":
            return self._fire_rule(info, at)
        return self._fire_schedule(info, at)

    def fire_on(self, name: str, day: date, wait: bool = True) -> Any:
        """Fire the schedule at its first moment on ``day`` (its own time zone) and let it settle."""
        at = self.next_on(name, day)
        self.stack.clock.advance_to(at.timestamp())
        sent = self.fire(name, at)
        if wait:
            self.stack.wait_idle()
        return sent

    def run(
        self, start: datetime, end: datetime, names: list[str] | None = None
    ) -> list[tuple[str, datetime]]:
        """Fire every occurrence in [start, end) of the given (or all) schedules, in time order,
        waiting for each to settle, with the emulated clock moved to each moment."""
        plan = sorted(
            (moment, logical)
            for logical in (names or list(self.all()))
            for moment in self.occurrences(logical, start, end)
        )
        for moment, logical in plan:
            self.stack.clock.advance_to(moment.timestamp())
            self.fire(logical, moment)
            self.stack.wait_idle()
        return [(logical, moment) for moment, logical in plan]

    def _fire_rule(self, info: ScheduleInfo, at: datetime) -> dict[str, Any]:
        events = self.stack.client("events")
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": self.stack.account,
            "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": self.stack.region,
            "resources": [info.arn],
            "detail": {},
        }
        kwargs = {"EventBusName": info.bus} if info.bus else {}
        for target in events.list_targets_by_rule(Rule=info.name, **kwargs)["Targets"]:
            self.stack.delivery.deliver(info.arn, info.name, target, target_input(target, event))
        return event

    def _fire_schedule(self, info: ScheduleInfo, at: datetime) -> Any:
        schedule = self.stack.client("scheduler").get_schedule(Name=info.name, GroupName=info.group)
        target = schedule["Target"]
        execution_id = str(uuid.uuid4())
        text = target.get("Input", "")
        for placeholder, value in (
            ("<aws.scheduler.scheduled-time>", at.strftime("%Y-%m-%dT%H:%M:%SZ")),
            ("<aws.scheduler.execution-id>", execution_id),
            ("<aws.scheduler.attempt-number>", "1"),
            ("<aws.scheduler.schedule-arn>", info.arn),
        ):
            text = text.replace(placeholder, value)
        self.stack.dispatcher.submit(
            lambda: self._deliver_schedule(info, target, text, execution_id, 1), name=f"scheduler:{info.name}"
        )
        return text

    def _deliver_schedule(
        self, info: ScheduleInfo, target: dict[str, Any], text: str, execution_id: str, attempt: int
    ) -> None:
        arn = target["Arn"]
        parsed = parse_arn(arn)
        region = self.stack.region
        try:
            payload: Any = json.loads(text) if text else {}
        except ValueError:
            payload = text
        try:
            if parsed.service == "lambda":
                clients.client("lambda", region).invoke(
                    FunctionName=arn, InvocationType="Event", Payload=json.dumps(payload).encode()
                )
            elif parsed.service == "states":
                clients.client("stepfunctions", region).start_execution(
                    stateMachineArn=arn,
                    name=f"{info.name[:40]}-{execution_id[:20]}",
                    input=json.dumps(payload),
                )
            else:
                send_to_destination(region, arn, text)
        except ClientError as exc:
            policy = target.get("RetryPolicy") or {}
            if attempt <= int(policy.get("MaximumRetryAttempts", 185)):
                self.stack.dispatcher.submit(
                    lambda: self._deliver_schedule(info, target, text, execution_id, attempt + 1),
                    delay=min(2.0**attempt, 300.0),
                    name=f"scheduler-retry:{info.name}",
                )
                return
            dlq = (target.get("DeadLetterConfig") or {}).get("Arn")
            if dlq:
                send_to_destination(
                    region,
                    dlq,
                    text,
                    attributes={
                        "ERROR_CODE": exc.response["Error"].get("Code", ""),
                        "ERROR_MESSAGE": str(exc)[:1000],
                        "EXECUTION_ID": execution_id,
                        "SCHEDULE_ARN": info.arn,
                        "TARGET_ARN": arn,
                    },
                )
