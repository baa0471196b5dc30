"""Offline `sam local invoke`, without Docker: run one function or state machine of any SAM template.

    python -m offline_runtime.cli.invoke IngestFunction -e events/ingest_transactions_csv.json
    python -m offline_runtime.cli.invoke PriceFunction -e price.json -t tests/apps/orders/template.yaml
    python -m offline_runtime.cli.invoke IngestFunction -e s3-event.json --data ./my-file.csv
    python -m offline_runtime.cli.invoke OrderFlow -e order.json -t app/template.yaml --fault dynamodb:PutItem

Deploys the template into moto (only the resource and what it references), puts in place what the
event refers to, runs it in-process with its template environment and prints the result (stdout)
and the function's logs (stderr). As with `sam local invoke`, only the named resource runs: events
it emits are accepted, but no rule or subscription delivers them.

What the event refers to:
- an S3 event (EventBridge "Object Created" or an S3 notification): ``--data FILE`` is uploaded
  under the event's key; without it a file of the key's name in ``--data-dir`` is used when the
  bucket lacks the object. The event's ``version-id`` is honoured (the local object is given that
  version, so a versioned read resolves), and what could not be matched is said (a different ETag,
  no data for the key);
- ``--prepare module:function`` hooks (called with the stack, the event and ``--data``) put in
  place what a project's events need (this project: a staged dataset is produced by running the
  real ingest first). A hook's ``needs`` attribute names resources to deploy with the target.

A malformed event reaches the handler unchanged, so the handler's own error is shown; if the
runtime itself cannot prepare something it says so once and runs the handler anyway.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the emulator is imported in run(): the warm server's client stays light
    from offline_runtime.emulator.stack import OfflineStack

Hook = Callable[["OfflineStack", Any, "Path | None"], None]
INVOCABLE = ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine")


def _hook(spec: str) -> Hook:
    module, _, name = spec.partition(":")
    hook: Hook = getattr(importlib.import_module(module), name)
    return hook


def _fault_rules(stack: OfflineStack, specs: list[str]) -> None:
    for spec in specs:
        stack.faults.parse(spec)


def _print_result(stack: OfflineStack, target: str, event: Any, quiet: bool) -> int:
    from offline_runtime.emulator.session import run_state_machine, state_path

    if stack.resource_types[target] == "AWS::StepFunctions::StateMachine":
        desc = run_state_machine(stack, target, event)
        if not quiet:
            for inv in stack.lambdas.invocations:
                print(inv.logs, file=sys.stderr, end="")
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
    result, errored, logs = stack.invoke(target, event)
    if not quiet:
        print(logs, file=sys.stderr, end="")
    if errored and isinstance(result, dict):
        result = {k: v for k, v in result.items() if k != "stackTrace"}  # the logs above hold it once
    print(json.dumps(result, indent=2, default=str))
    return 1 if errored else 0


def run(args: argparse.Namespace) -> int:
    from offline_runtime.emulator.cloudformation import StackError
    from offline_runtime.emulator.session import disable_rules, localise, offline_aws, put_event_objects

    def say(message: str) -> None:
        print(f"[offline] {message}", file=sys.stderr)

    try:
        raw_event = json.loads(args.event.read_text())
    except (OSError, ValueError) as exc:
        say(f"cannot read the event file {args.event}: {exc}")
        return 2
    hooks = [_hook(s) for s in args.prepare] if not args.no_prepare else []
    needs = [n for h in hooks for n in getattr(h, "needs", [])]
    params = dict(p.split("=", 1) for p in args.param)
    started = time.monotonic()
    try:
        with offline_aws(
            args.template, parameters=params, concurrency=args.concurrency, only=[args.resource, *needs]
        ) as stack:
            say(f"deployed {len(stack.physical)} resources in {stack.deploy_seconds:.2f}s")
            disable_rules(stack)
            event = localise(stack, raw_event)
            try:
                if not args.no_prepare:
                    put_event_objects(stack, event, args.data, args.data_dir, say)
                for hook in hooks:
                    hook(stack, event, args.data)
            except Exception as exc:  # the runtime's own preparation, not the handler
                say(
                    f"could not prepare what the event refers to ({type(exc).__name__}: {exc}); "
                    "running the handler with the event as given"
                )
            _fault_rules(stack, args.fault)
            code = _print_result(stack, args.resource, event, args.quiet)
            say(f"done in {time.monotonic() - started:.2f}s")
            return code
    except StackError as exc:
        say(str(exc))
        return _unknown_resource(args) if "no such resource" in str(exc) else 2


def _unknown_resource(args: argparse.Namespace) -> int:
    from offline_runtime.emulator.session import default_template
    from offline_runtime.emulator.template import load_template

    template = load_template(args.template or default_template())
    known = sorted(
        k
        for k, v in template["Resources"].items()
        if v["Type"] in (*INVOCABLE, "AWS::Serverless::Function", "AWS::Serverless::StateMachine")
    )
    print(f"unknown resource {args.resource!r}; invocable: {', '.join(known)}", file=sys.stderr)
    return 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("resource", help="logical id of a function or state machine in the template")
    p.add_argument("-e", "--event", required=True, type=Path, help="event JSON file")
    p.add_argument("-t", "--template", type=Path, default=None, help="SAM template (default ./template.yaml)")
    p.add_argument("--data", type=Path, default=None, help="local file uploaded under the event's S3 key")
    p.add_argument("--data-dir", type=Path, default=None, help="directory of sample objects, by file name")
    p.add_argument("--param", action="append", default=[], help="template parameter KEY=VALUE")
    p.add_argument(
        "--fault", action="append", default=[], help="fault rule, e.g. s3:PutObject:InternalError:always"
    )
    p.add_argument("--concurrency", type=int, default=1, help="deliveries at once (default 1)")
    p.add_argument("--prepare", action="append", default=[], help="hook module:function(stack, event, data)")
    p.add_argument("--no-prepare", action="store_true", help="put nothing in place, run the event as given")
    p.add_argument("--quiet", action="store_true", help="result only, no logs")
    p.add_argument("--server", action="store_true", help="run in the project's warm server (see cli.server)")
    p.add_argument("--no-server", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    if args.server and not args.no_server and not os.environ.get("OFFLINE_NO_SERVER"):
        from offline_runtime.cli import server

        reply = server.call(Path.cwd(), [a for a in argv if a != "--server"])
        sys.stdout.write(reply["stdout"])
        sys.stderr.write(reply["stderr"])
        return int(reply["code"])
    warnings.filterwarnings("ignore")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
