"""Offline redrive: park something, fix it, replay it (``make redrive``), with ``datapipe.redrive``.

    python -m offline_runtime.cli.redrive                                       # the default story
    python -m offline_runtime.cli.redrive --event events/fraud_realtime_transaction_received.json \\
        --fault 'dynamodb:Query:InternalError:always@function=FraudRealtimeFunction'

An offline stack lives in one process, so this runs the whole story in one: deploy this project's
template, install the faults (default: ingest's PutEvents fails for good), send the event through
the template's wiring (an S3 event: its object is uploaded to the raw bucket; an EventBridge event:
put on the pipeline bus), wait until everything retried and parked, list every parking place,
heal the faults, replay (the same ``Redrive`` that runs against AWS), wait, and replay again to show
that a second run replays nothing. Exits non-zero when a replay failed, when the second run
replayed anything, or when something replayable is still parked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_EVENT = "events/ingest_transactions_csv.json"
DEFAULT_FAULT = "events:PutEvents:InternalError:always@function=IngestFunction"


def deliver(stack: Any, event: dict[str, Any], say: Any) -> None:
    """Send a sample event through the template's wiring, as its producer would."""
    from offline_runtime.emulator.session import localise, put_event_objects
    from offline_runtime.scenario.project import DATA

    event = localise(stack, event)
    if event.get("source") == "aws.s3":
        put_event_objects(stack, event, None, DATA, say)  # the upload itself notifies EventBridge
        return
    if "detail-type" in event:
        stack.client("events").put_events(
            Entries=[
                {
                    "EventBusName": stack.outputs["PipelineBusName"],
                    "Source": event["source"],
                    "DetailType": event["detail-type"],
                    "Detail": json.dumps(event["detail"]),
                }
            ]
        )
        say(f"put {event['detail-type']} ({event['source']}) on the pipeline bus")
        return
    raise SystemExit("only S3 and EventBridge events travel through the wiring here")


def run(event_path: Path, faults: list[str], parameters: dict[str, str]) -> int:
    from collections import Counter

    from datapipe.redrive import Redrive, describe, parking_places
    from offline_runtime.emulator.session import drain
    from offline_runtime.scenario.project import observe_bus, offline_aws

    def say(text: str) -> None:
        print(text, flush=True)

    with offline_aws(parameters=parameters) as stack:
        places = parking_places(stack.translated, stack.physical)
        redrive = Redrive(stack.region, clients=stack.client)
        observer = observe_bus(stack, "redrive-observer")
        for spec in faults:
            stack.faults.parse(spec)
            say(f"fault: {spec}")
        deliver(stack, json.loads(event_path.read_text()), say)
        stack.wait_idle()
        say("\n== parked")
        say(describe(redrive.run(places, dry_run=True), dry_run=True))
        before = Counter(e["detail-type"] for e in drain(stack, observer))
        say(f"business events before the fix: {dict(before) or 'none'}")
        stack.faults.heal()
        say("\n== faults healed; replaying")
        first = redrive.run(places)
        say(describe(first, dry_run=False))
        stack.wait_idle()
        after = Counter(e["detail-type"] for e in drain(stack, observer))
        say(f"business events after the replay: {dict(after) or 'none'}")
        say("\n== replaying again (nothing is replayed twice)")
        second = redrive.run(places)
        say(describe(second, dry_run=False))
        stack.wait_idle()
        left = redrive.run(places, dry_run=True)
        replayable_left = sum(len(r.seen) - len(r.kept) for r in left)
        say(
            f"\nreplayed {sum(r.replayed for r in first)}, second run {sum(r.replayed for r in second)}, "
            f"still parked and replayable {replayable_left}"
        )
        failed = any(r.failed for r in first + second)
        return 1 if failed or any(r.replayed for r in second) or replayable_left else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--event", default=DEFAULT_EVENT)
    parser.add_argument(
        "--fault", action="append", default=None, help="FAULTS form; default: " + DEFAULT_FAULT
    )
    parser.add_argument("--param", action="append", default=[], help="Key=Value template parameter")
    args = parser.parse_args(argv)
    params = dict(p.split("=", 1) for p in args.param)
    return run(Path(args.event), args.fault if args.fault is not None else [DEFAULT_FAULT], params)


if __name__ == "__main__":
    sys.exit(main())
