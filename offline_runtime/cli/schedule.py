"""Fire an EventBridge schedule on demand, with the event shape EventBridge sends.

    python -m offline_runtime.cli.schedule DailyReportFunctionEndOfDay --date 2026-11-22
    python -m offline_runtime.cli.schedule WeeklyReportFunctionWeekly --date 2026-11-29 --demo-day

A scheduled rule's targets get {"detail-type": "Scheduled Event", "source": "aws.events",
"resources": [rule ARN], "time": <the scheduled time>, "detail": {}}; the time is the given date
at the hour and minute of the rule's cron expression.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import uuid
import warnings
from datetime import UTC, date, datetime, timedelta
from typing import Any

from moto.core import DEFAULT_ACCOUNT_ID

from offline_runtime.emulator.deploy import OfflineStack
from offline_runtime.emulator.eventbridge import Delivery, target_input


def scheduled_rules(stack: OfflineStack) -> dict[str, str]:
    """logical id -> schedule expression, for every scheduled rule of the template."""
    return {
        k: r["Properties"]["ScheduleExpression"]
        for k, r in stack.translated["Resources"].items()
        if r["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in r.get("Properties", {})
    }


def scheduled_time(expression: str, day: date) -> datetime:
    match = re.match(r"cron\((\d+) (\d+) ", expression)
    minute, hour = (int(match.group(1)), int(match.group(2))) if match else (0, 0)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def fire(stack: OfflineStack, rule_logical: str, day: date) -> dict[str, Any]:
    """Deliver the rule's scheduled event to its targets; returns the event."""
    events = stack.client("events")
    name = stack.physical[rule_logical]
    rule = events.describe_rule(Name=name)
    when = scheduled_time(rule["ScheduleExpression"], day)
    event = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": DEFAULT_ACCOUNT_ID,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": stack.region,
        "resources": [rule["Arn"]],
        "detail": {},
    }
    assert stack.delivery is not None
    for target in events.list_targets_by_rule(Rule=name)["Targets"]:
        stack.delivery.enqueue(Delivery(name, target["Arn"], target_input(target, event)))
    stack.wait_idle(600)
    return event


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("rule", help="logical id of a scheduled rule, e.g. DailyReportFunctionEndOfDay")
    parser.add_argument("--date", required=True, help="the day the schedule fires (YYYY-MM-DD)")
    parser.add_argument(
        "--demo-day",
        action="store_true",
        help="first run a generated business day (the day before) through the pipeline",
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    from offline_runtime.emulator.session import offline_aws

    today = datetime.now(UTC).date()
    day = date.fromisoformat(args.date) if args.date else today + timedelta(days=1)
    with offline_aws() as stack:
        rules = scheduled_rules(stack)
        if args.rule not in rules:
            print(
                f"unknown scheduled rule {args.rule!r}; scheduled rules: {', '.join(sorted(rules))}",
                file=sys.stderr,
            )
            return 2
        if args.demo_day:
            from offline_runtime.cli.demo import load_day

            load_day(stack, today - timedelta(days=1), stores=10)
        before = len(stack.lambdas.invocations) if stack.lambdas else 0
        event = fire(stack, args.rule, day)
        targets = {
            t["Arn"].rsplit(":", 1)[1]
            for t in stack.client("events").list_targets_by_rule(Rule=stack.physical[args.rule])["Targets"]
        }
        ran = [
            i for i in (stack.lambdas.invocations[before:] if stack.lambdas else []) if i.function in targets
        ]
        for inv in ran:
            print(inv.logs, file=sys.stderr)
        print(
            json.dumps(
                {"event": event, "ran": [{"function": i.logical_id, "errored": i.errored} for i in ran]},
                indent=2,
            )
        )
        return 1 if not ran or any(i.errored for i in ran) else 0


if __name__ == "__main__":
    sys.exit(main())
