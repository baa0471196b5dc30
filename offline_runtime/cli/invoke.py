"""Offline `sam local invoke`: run one function (or the state machine) with an event file.

    python -m offline_runtime.cli.invoke IngestFunction -e events/ingest_object_created.json
    python -m offline_runtime.cli.invoke PipelineStateMachine -e events/statemachine_dataset_staged.json

Deploys template.yaml into moto, puts in place what the event refers to (events/data/), runs
the function in-process with its template environment and prints the result and the logs.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from offline_runtime.emulator.session import disable_rules, invoke, localise, run_state_machine, state_path
from offline_runtime.scenario import fixtures
from offline_runtime.scenario.project import offline_aws


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("resource", help="logical id in template.yaml, e.g. IngestFunction")
    parser.add_argument("-e", "--event", required=True, type=Path, help="event JSON file")
    parser.add_argument(
        "--no-prepare", action="store_true", help="do not upload/ingest what the event refers to"
    )
    parser.add_argument("--quiet", action="store_true", help="result only, no logs")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    raw_event = json.loads(args.event.read_text())
    with offline_aws() as stack:
        if args.resource not in stack.physical:
            known = sorted(
                k
                for k, v in stack.resource_types.items()
                if v in ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")
            )
            print(f"unknown resource {args.resource!r}; invocable: {', '.join(known)}", file=sys.stderr)
            return 2
        disable_rules(stack)
        event = localise(stack, raw_event)
        if not args.no_prepare:
            fixtures.prepare(stack, event)
        if stack.resource_types[args.resource] == "AWS::StepFunctions::StateMachine":
            desc = run_state_machine(stack, args.resource, event)
            stack.wait_idle(120)
            print(
                json.dumps(
                    {
                        "status": desc["status"],
                        "states": state_path(desc["executionArn"], stack),
                        "output": json.loads(desc.get("output") or "null"),
                        "error": desc.get("error"),
                        "cause": desc.get("cause"),
                    },
                    indent=2,
                )
            )
            return 0 if desc["status"] == "SUCCEEDED" else 1
        result, errored, logs = invoke(stack, args.resource, event)
        stack.wait_idle(120)
        if not args.quiet:
            print(logs, file=sys.stderr)
        print(json.dumps(result, indent=2, default=str))
        return 1 if errored else 0


if __name__ == "__main__":
    sys.exit(main())
