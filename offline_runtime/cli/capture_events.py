"""Regenerates events/ and events/data/ from a real offline run.

    python -m offline_runtime.cli.capture_events


The events are what the functions really receive, with the offline physical bucket names replaced by
example names (<stack>-<logicalid lowercased>-example) that
`offline_runtime.emulator.session.localise` maps back.
"""

import gzip
import json
import random
from datetime import date
from pathlib import Path

from offline_runtime.emulator.session import state_path
from offline_runtime.scenario import datagen
from offline_runtime.scenario.fixtures import s3_object_created_event
from offline_runtime.scenario.project import offline_aws

root = Path("events")
data = root / "data"
rng = random.Random(2026)
accts = datagen._accounts(rng, 200)
day = date(2026, 11, 21)
tx, bad = datagen.transactions_csv("S001", "CA", day, 40, accts, rng, 0.08)
print("tx bad", bad)
(data / "pos-S001.csv").write_bytes(tx)
inv, ibad = datagen.inventory_csv("S001", day, 30, rng, 0.05)
print("inv bad", ibad)
(data / "movements-S001.csv").write_bytes(inv)
broken, _ = datagen.transactions_csv("S013", "TX", day, 50, accts, rng, 0.0)
(data / "pos-S013-upload.csv.gz").write_bytes(gzip.compress(broken)[:400])


def dump(name, obj):
    (root / name).write_text(json.dumps(obj, indent=2) + "\n")


with offline_aws() as st:
    rev = {}
    for logical, phys in st.physical.items():
        if st.resource_types.get(logical) == "AWS::S3::Bucket":
            rev[phys] = f"retail-datapipe-dev-{logical.lower()}-example"

    def example(obj):
        s = json.dumps(obj)
        for k, v in rev.items():
            s = s.replace(k, v)
        return json.loads(s)

    raw = st.outputs["RawBucketName"]
    s3 = st.client("s3")
    for key, body in [
        ("transactions/2026-11-21/pos-S001.csv", tx),
        ("inventory_movements/2026-11-21/movements-S001.csv", inv),
        ("transactions/2026-11-21/pos-S013-upload.csv.gz", (data / "pos-S013-upload.csv.gz").read_bytes()),
    ]:
        etag = s3.put_object(Bucket=raw, Key=key, Body=body)["ETag"].strip('"')
        st.wait_idle(120)
        name = {
            "pos-S001.csv": "ingest_transactions_csv.json",
            "movements-S001.csv": "ingest_inventory_csv.json",
            "pos-S013-upload.csv.gz": "ingest_broken_gzip.json",
        }[key.rsplit("/", 1)[1]]
        dump(name, example(s3_object_created_event(raw, key, body, etag)))
    sfn = st.client("stepfunctions")
    ex = sfn.list_executions(stateMachineArn=st.outputs["PipelineStateMachineArn"])["executions"]
    for e in ex:
        d = sfn.describe_execution(executionArn=e["executionArn"])
        inp = json.loads(d["input"])
        print(d["status"], inp["detail"]["dataset"], state_path(e["executionArn"], st))
        if inp["detail"]["dataset"] != "transactions":
            continue
        inp.pop("ingestion-time", None)
        dump("statemachine_dataset_staged.json", example(inp))
        hist = sfn.get_execution_history(executionArn=e["executionArn"], maxResults=1000)["events"]
        for h in hist:
            det = h.get("taskScheduledEventDetails")
            if not det:
                continue
            params = json.loads(det["parameters"])
            fn = params.get("FunctionName", "")
            payload = params.get("Payload")
            for logical in ["SchemaValidatorFunction", "FinalValidatorFunction", "PublishFunction"]:
                if st.physical[logical] in fn:
                    dump(
                        {
                            "SchemaValidatorFunction": "validators_suite.json",
                            "FinalValidatorFunction": "validators_final.json",
                            "PublishFunction": "publish.json",
                        }[logical],
                        example(payload),
                    )
        staged = json.loads(d["output"])["staged"]
        final = json.loads(d["output"])["final"]["assessment"]
        dump(
            "quarantine_gate.json",
            example(
                {
                    "staged": staged,
                    "stage": "quality_gate",
                    "reason_code": "QUALITY_BELOW_THRESHOLD",
                    "quality": final,
                }
            ),
        )
