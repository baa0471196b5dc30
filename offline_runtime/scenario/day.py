"""The business day this project's demo, e2e tests and schedule hooks run: stock master, files, card events.

What is specific to this pipeline lives here, not in the emulator: the stock master data loaded
before the day, the generated day's raw files uploaded to the raw bucket, real-time card
authorisations on the bus, and the wait until everything the uploads set off has settled.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3

from offline_runtime.emulator.session import drain
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.datagen import RawFile, business_day, inventory_master
from offline_runtime.scenario.project import observe_bus

OBSERVER = "demo-observer"


def say(msg: str) -> None:
    print(msg, flush=True)


DEMO_PARAMETERS = {
    # reserved example endpoints: offline they land in the SNS outbox (stack.sns.outbox)
    "PagerPhoneNumber": "+15555550100",
    "FraudTeamEmail": "fraud-team@example.com",
    "StoreManagerEmail": "store-managers@example.com",
    "OpsAlertEmail": "data-ops@example.com",
}


def seed_inventory(stack: OfflineStack, stores: list[str], seed: int = 42) -> int:
    """The stock master data the warehouse system loads before the day (one item per product)."""
    table = boto3.resource("dynamodb", region_name=stack.region).Table(stack.outputs["InventoryTableName"])
    items = inventory_master(stores, random.Random(seed))
    with table.batch_writer() as batch:
        for item in items:
            batch.put_item(Item=item)
    stack.wait_idle(300)
    return len(items)


def withheld_for_freshness(day: date, stores: int) -> list[str]:
    """The one file the demo holds back so the freshness checker has something to say: a store's
    POS export (its store delivers nothing else that day)."""
    return [f"transactions/{day:%Y-%m-%d}/pos-S007.csv"] if stores >= 7 else []


def load_day(
    stack: OfflineStack,
    day: date,
    stores: int,
    progress: bool = False,
    seed: bool = True,
    hold_back: tuple[str, ...] = (),
    withhold: Collection[str] = (),
) -> tuple[list[RawFile], list[dict[str, Any]]]:
    """Seed stock, upload a generated day to the raw bucket, wait until everything settled.
    ``hold_back``: keys generated and returned but not uploaded (a store that delivers after end of
    day); ``withhold``: keys left out altogether (a store that never delivers)."""
    started = time.monotonic()
    bus_q = observe_bus(stack, f"{OBSERVER}-{time.time_ns()}")
    store_ids = [f"S{i:03d}" for i in range(1, stores + 1)]
    seed_inventory(stack, store_ids)
    files = [f for f in business_day(day, stores=stores) if f.key not in withhold]
    raw = stack.outputs["RawBucketName"]
    s3 = stack.client("s3")
    uploaded = [f for f in files if f.key not in hold_back]
    for f in uploaded:
        s3.put_object(Bucket=raw, Key=f.key, Body=f.body)
    events: list[dict[str, Any]] = []
    last = 0.0
    while True:
        events += drain(stack, bus_q, settle=False)
        kinds = Counter(e["detail-type"] for e in events)
        done = kinds["DatasetPublished"] + kinds["DatasetQuarantined"]
        idle = stack.dispatcher.idle and stack.running_executions() == 0
        if progress and (time.monotonic() - last > 3 or (idle and done >= len(uploaded))):
            say(
                f"      {time.monotonic() - started:6.1f}s  staged {kinds['DatasetStaged']:>3}  "
                f"published {kinds['DatasetPublished']:>3}  quarantined {kinds['DatasetQuarantined']:>3}"
                f"  / {len(uploaded)} files · fraud cases {kinds['FraudCaseOpened']:>4} · "
                f"low stock {kinds['LowStockDetected']:>3} · POs {kinds['PurchaseOrderCreated']:>3}"
            )
            last = time.monotonic()
        if idle and done >= len(uploaded):
            break
        time.sleep(0.5)
    stack.wait_idle(600)
    events += drain(stack, bus_q)
    return files, events


def realtime_burst(stack: OfflineStack, when: datetime) -> list[dict[str, Any]]:
    """Card authorisations arriving one by one on the bus: a stolen-card burst and a big
    out-of-state purchase, next to ordinary ones."""
    base = {
        "account_id": "ACC900001",
        "card_id": "CARD900001",
        "customer_id": "CUS900001",
        "store_id": None,
        "currency": "USD",
        "channel": "ONLINE",
        "home_state": "CA",
        "account_type": "credit",
    }
    txns = []
    for i, (amount, category, state, minutes) in enumerate(
        [
            ("23.40", "GROCERY", "CA", 0),
            ("149.00", "ELECTRONICS", "CA", 1),
            ("310.00", "ELECTRONICS", "NV", 3),
            ("890.00", "JEWELRY", "NV", 4),
            ("2750.00", "ELECTRONICS", "NV", 6),
        ]
    ):
        t = when + timedelta(minutes=minutes)
        txns.append(
            {
                **base,
                "transaction_id": f"RT{when:%Y%m%d}{i:04d}",
                "merchant": f"{category.title()} Outlet",
                "merchant_category": category,
                "amount": amount,
                "location_state": state,
                "event_time": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        )
    events = stack.client("events")
    for txn in txns:
        events.put_events(
            Entries=[
                {
                    "Source": stack.params["PaymentsEventSource"],
                    "DetailType": "TransactionReceived",
                    "EventBusName": stack.outputs["PipelineBusName"],
                    "Detail": json.dumps(txn),
                }
            ]
        )
        stack.wait_idle(60)
    return txns


def load_yesterday(stack: OfflineStack) -> None:
    """A schedule hook: yesterday's business day (10 stores) through the pipeline first."""
    load_day(stack, datetime.now(UTC).date() - timedelta(days=1), stores=10)
