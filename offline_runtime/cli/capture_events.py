"""Regenerates the staged-dataset sample events and their objects from a real offline run.

    python -m offline_runtime.cli.capture_events [--day YYYY-MM-DD]

Uploads three generated files (a store's POS export, its stock movements, a truncated gzip upload)
to the raw bucket of the offline stack and writes what the functions really received: the S3
"Object Created" events, the state machine's input, the validators', publish's and quarantine's
inputs, and the DatasetPublished events that feed fraud scoring and apply-movements. Physical
bucket names are replaced by example names (``<stack>-<logical id lowercased>-example``) that
``offline_runtime.emulator.session.localise`` maps back. The default day is yesterday (UTC), so the
samples are fresh when captured; their dates are inside them, which is why they are regenerated
rather than edited.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from offline_runtime.emulator.session import drain, state_path
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario import datagen
from offline_runtime.scenario.fixtures import s3_object_created_event
from offline_runtime.scenario.project import EVENTS, observe_bus, offline_aws

INGEST_EVENTS = {
    "pos-S001.csv": "ingest_transactions_csv.json",
    "movements-S001.csv": "ingest_inventory_csv.json",
    "pos-S013-upload.csv.gz": "ingest_broken_gzip.json",
}
TASK_EVENTS = {
    "SchemaValidatorFunction": "validators_suite.json",
    "FinalValidatorFunction": "validators_final.json",
    "PublishFunction": "publish.json",
}
PUBLISHED_EVENTS = {
    "transactions": "fraud_scoring_dataset_published.json",
    "inventory_movements": "apply_movements_dataset_published.json",
}


def generate(day: date, data: Path) -> dict[str, bytes]:
    rng = random.Random(2026)
    accounts = datagen._accounts(rng, 200)
    tx, _ = datagen.transactions_csv("S001", "CA", day, 40, accounts, rng, 0.08)
    tx = with_suspicious_purchase(without_duplicate_ids(tx))
    inv, _ = datagen.inventory_csv("S001", day, 30, rng, 0.05)
    broken, _ = datagen.transactions_csv("S013", "TX", day, 50, accounts, rng, 0.0)
    files = {
        "pos-S001.csv": tx,
        "movements-S001.csv": inv,
        "pos-S013-upload.csv.gz": gzip.compress(broken, mtime=0)[:400],
    }
    for name, body in files.items():
        (data / name).write_bytes(body)
    return files


def without_duplicate_ids(csv_bytes: bytes) -> bytes:
    """The sample keeps its bad rows but no repeated transaction id: the multi-criteria gate
    quarantines a 40-row file for a single duplicate (uniqueness 0.975 < 0.99), and the samples
    must show the publish path; duplicates have their own tests."""
    lines = csv_bytes.decode().split("\n")
    seen: set[str] = set()
    for i, line in enumerate(lines[1:], start=1):
        first = line.split(",", 1)[0]
        if first and first in seen:
            lines[i] = first + "D" + line[len(first) :]
        seen.add(first)
    return "\n".join(lines).encode()


def with_suspicious_purchase(csv_bytes: bytes) -> bytes:
    """The sample day's POS file with one purchase a fraud rule flags (a large amount outside the
    card's home state), so every sample downstream of it has an alert to route."""
    lines = csv_bytes.decode().split("\n")
    header = lines[0].split(",")
    amount, state, kind = (
        header.index("amount"),
        header.index("location_state"),
        header.index("transaction_type"),
    )
    for i, line in enumerate(lines[1:], start=1):
        cells = line.split(",")
        if len(cells) == len(header) and cells[kind] == "PURCHASE":
            cells[amount], cells[state] = "2750.00", "NV"
            lines[i] = ",".join(cells)
            break
    return "\n".join(lines).encode()


class Exampler:
    """Physical bucket names -> example names, in any JSON value."""

    def __init__(self, stack: OfflineStack) -> None:
        self.names = {
            physical: f"retail-datapipe-dev-{logical.lower()}-example"
            for logical, physical in stack.physical.items()
            if stack.resource_types.get(logical) == "AWS::S3::Bucket"
        }

    def __call__(self, obj: Any) -> Any:
        text = json.dumps(obj)
        for physical, example in self.names.items():
            text = text.replace(physical, example)
        return json.loads(text)


def capture(day: date, root: Path = EVENTS) -> list[str]:
    files = generate(day, root / "data")
    written: list[str] = []

    def dump(name: str, obj: Any) -> None:
        (root / name).write_text(json.dumps(obj, indent=2) + "\n")
        written.append(name)

    with offline_aws() as stack:
        example = Exampler(stack)
        bus = observe_bus(stack, "capture-events")
        raw, s3 = stack.outputs["RawBucketName"], stack.client("s3")
        keys = {
            "pos-S001.csv": f"transactions/{day}/pos-S001.csv",
            "movements-S001.csv": f"inventory_movements/{day}/movements-S001.csv",
            "pos-S013-upload.csv.gz": f"transactions/{day}/pos-S013-upload.csv.gz",
        }
        for name, key in keys.items():
            etag = s3.put_object(Bucket=raw, Key=key, Body=files[name])["ETag"].strip('"')
            stack.wait_idle()
            dump(INGEST_EVENTS[name], example(s3_object_created_event(raw, key, files[name], etag)))
        for event in drain(stack, bus):
            if event["detail-type"] == "DatasetPublished" and event["detail"]["dataset"] in PUBLISHED_EVENTS:
                dump(PUBLISHED_EVENTS[event["detail"]["dataset"]], example(event))
        missing = [name for name in PUBLISHED_EVENTS.values() if name not in written]
        if missing:  # a sample the gate refused: the old file would stay behind, silently stale
            raise RuntimeError(f"not published, so not captured: {', '.join(missing)}")
        _capture_state_machine(stack, example, dump)
    return written


def _capture_state_machine(stack: OfflineStack, example: Exampler, dump: Any) -> None:
    sfn = stack.client("stepfunctions")
    for execution in sfn.list_executions(stateMachineArn=stack.outputs["PipelineStateMachineArn"])[
        "executions"
    ]:
        desc = sfn.describe_execution(executionArn=execution["executionArn"])
        given = json.loads(desc["input"])
        print(desc["status"], given["detail"]["dataset"], state_path(execution["executionArn"], stack))
        if given["detail"]["dataset"] != "transactions":
            continue
        dump("statemachine_dataset_staged.json", example(given))
        history = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        for entry in history:
            scheduled = entry.get("taskScheduledEventDetails")
            if not scheduled:
                continue
            parameters = json.loads(scheduled["parameters"])
            for logical, name in TASK_EVENTS.items():
                if stack.physical[logical] in parameters.get("FunctionName", ""):
                    dump(name, example(parameters.get("Payload")))
        output = json.loads(desc["output"])
        dump(
            "quarantine_gate.json",
            example(
                {
                    "staged": output["staged"],
                    "stage": "quality_gate",
                    "reason_code": "QUALITY_BELOW_THRESHOLD",
                    "quality": output["final"]["assessment"],
                }
            ),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--day", help="business day of the samples (default: yesterday, UTC)")
    args = parser.parse_args(argv)
    day = date.fromisoformat(args.day) if args.day else datetime.now(UTC).date() - timedelta(days=1)
    for name in capture(day):
        print(f"wrote events/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
