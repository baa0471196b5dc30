"""Fire a schedule of a SAM template on demand, offline, with the event its target receives.

    python -m offline_runtime.cli.schedule DailyReportFunctionDaily --date 2026-11-22
    python -m offline_runtime.cli.schedule NightlyJob --template app/template.yaml --at 2026-03-08T07:00:00Z

Scheduled EventBridge rules send their targets the "Scheduled Event" with the scheduled ``time``;
EventBridge Scheduler schedules (SAM ``ScheduleV2``) send their ``Input`` with the context
attributes filled in, evaluated in their own time zone. ``--date`` fires at the schedule's first
moment that day; ``--at`` at an exact moment (UTC). ``--before module:function`` runs a hook with
the deployed stack first (this project: ``offline_runtime.scenario.day:load_yesterday``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from offline_runtime.emulator.session import offline_aws


def _hook(spec: str) -> object:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("schedule", help="logical id (or name) of a scheduled rule or Scheduler schedule")
    parser.add_argument("--template", type=Path, default=None, help="SAM template (default ./template.yaml)")
    parser.add_argument("--date", help="fire at the schedule's first moment on this day (default: tomorrow)")
    parser.add_argument("--at", help="fire at this exact moment (ISO 8601, UTC)")
    parser.add_argument("--param", action="append", default=[], help="template parameter KEY=VALUE")
    parser.add_argument("--before", action="append", default=[], help="hook module:function(stack) run first")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    params = dict(p.split("=", 1) for p in args.param)
    with offline_aws(args.template, parameters=params) as stack:
        try:
            info = stack.schedules.get(args.schedule)
        except KeyError as exc:
            print(str(exc).strip("'\""), file=sys.stderr)
            return 2
        for spec in args.before:
            _hook(spec)(stack)  # type: ignore[operator]
        before = len(stack.lambdas.invocations)
        if args.at:
            at = datetime.fromisoformat(args.at.replace("Z", "+00:00")).astimezone(UTC)
            stack.clock.advance_to(at.timestamp())
            sent = stack.schedules.fire(args.schedule, at)
            stack.wait_idle()
        else:
            day = date.fromisoformat(args.date) if args.date else datetime.now(UTC).date() + timedelta(days=1)
            sent = stack.schedules.fire_on(args.schedule, day)
        ran = stack.lambdas.invocations[before:]
        for inv in ran:
            print(inv.logs, file=sys.stderr, end="")
        print(
            json.dumps(
                {
                    "schedule": info.logical_id,
                    "expression": info.expression,
                    "timezone": info.timezone,
                    "sent": sent,
                    "ran": [{"function": i.logical_id, "errored": i.errored} for i in ran],
                },
                indent=2,
                default=str,
            )
        )
        return 1 if not ran or any(i.errored for i in ran) else 0


if __name__ == "__main__":
    sys.exit(main())
