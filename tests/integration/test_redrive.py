"""Redrive on the offline stack: park through the real wiring, fix, replay with ``datapipe.redrive``.

Each test deploys its own stack (faults and parked messages must not leak between tests). The
replay is the same code that runs against AWS (``python -m datapipe.redrive --stack ...``).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from datapipe.redrive import (
    EVENTBRIDGE,
    LAMBDA_FAILURE,
    SQS_REDRIVE,
    STREAM_BATCH,
    ParkingPlace,
    Redrive,
    parking_places,
)
from offline_runtime.cli import redrive as cli
from offline_runtime.emulator.session import drain
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.project import EVENTS, observe_bus, offline_aws

TRANSACTIONS = EVENTS / "ingest_transactions_csv.json"


def quiet(_: str) -> None:
    """The CLI's progress lines, not wanted in a test."""


def parked_count(stack: OfflineStack, places: list[ParkingPlace]) -> dict[str, int]:
    sqs = stack.client("sqs")
    counts = {}
    for place in places:
        attrs = sqs.get_queue_attributes(
            QueueUrl=place.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        total = int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )
        if total:
            counts[place.logical_id] = total
    return counts


def of_type(resources: dict[str, Any], kind: str) -> list[str]:
    return [logical for logical, res in resources.items() if res["Type"] == kind]


def business_events(stack: OfflineStack, observer: str) -> Counter[str]:
    return Counter(e["detail-type"] for e in drain(stack, observer))


ENDPOINTS = {  # every conditional subscription deployed
    "OpsAlertEmail": "ops@example.com",
    "OpsPagerEmail": "pager@example.com",
    "PagerPhoneNumber": "+15555550100",
    "FraudTeamEmail": "fraud-team@example.com",
    "StoreManagerEmail": "store-managers@example.com",
}
HOPS = {
    "AWS::Events::Rule",
    "AWS::SNS::Subscription",
    "AWS::SQS::Queue",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Lambda::EventSourceMapping",
}


def test_every_parking_place_of_the_template_is_found_with_what_parks_in_it() -> None:
    with offline_aws(parameters=ENDPOINTS) as stack:
        places = {p.logical_id: p for p in parking_places(stack.translated, stack.physical)}
        resources = stack.translated["Resources"]
        sources = {"ReorderQueue", "AnalystReviewQueue"}  # consumed queues, not parking places
        # every deployed queue that a deployed hop names is a parking place, and nothing else is
        named_by_hops = {
            logical
            for logical, res in resources.items()
            if res["Type"] == "AWS::SQS::Queue"
            and logical not in sources
            and any(
                other["Type"] in HOPS
                and name in stack.physical
                and logical in json.dumps(other["Properties"])
                for name, other in resources.items()
            )
        }
        assert set(places) == named_by_hops
        assert len(places) == len(of_type(resources, "AWS::SQS::Queue")) - len(sources)
        kinds = {logical: sorted({s.kind for s in p.sources}) for logical, p in places.items()}
        assert kinds["IngestDeadLetterQueue"] == ["eventbridge", "lambda-async"]
        assert kinds["ReorderDeadLetterQueue"] == ["sqs"]
        # the analyst queue's redrive and its subscription's: either way back to the analyst queue
        assert kinds["AnalystReviewDeadLetterQueue"] == ["sns", "sqs"]
        assert kinds["InventoryStreamFailureQueue"] == ["stream"]
        assert kinds["PipelineStartDeadLetterQueue"] == ["eventbridge"]
        assert kinds["NotificationDeadLetterQueue"] == ["sns"]  # the e-mail / SMS subscriptions' redrive
        assert all(p.queue_url == stack.physical[p.logical_id] for p in places.values())


def test_lambda_on_failure_record_is_replayed_to_its_function_once_and_only_after_acceptance() -> None:
    with offline_aws() as stack:
        places = parking_places(stack.translated, stack.physical)
        redrive = Redrive(stack.region, clients=stack.client)
        observer = observe_bus(stack, "redrive-observer")
        # GIVEN ingest cannot emit DatasetStaged: its three async attempts fail, the event parks
        stack.faults.fail("events", "PutEvents", "InternalError", times=None, function="IngestFunction")
        cli.deliver(stack, json.loads(TRANSACTIONS.read_text()), quiet)
        stack.wait_idle()
        assert parked_count(stack, places) == {"IngestDeadLetterQueue": 1}
        (listed,) = [r for r in redrive.run(places, dry_run=True) if r.seen]
        assert [(p.kind, p.destination.split(":")[6]) for p in listed.seen] == [
            (LAMBDA_FAILURE, stack.physical["IngestFunction"])
        ]
        assert parked_count(stack, places) == {"IngestDeadLetterQueue": 1}  # a dry run takes nothing
        assert business_events(stack, observer) == Counter()
        stack.faults.heal()

        # WHEN the first replay is refused (Lambda throttles the redrive's own Invoke)
        refused = stack.faults.fail("lambda", "Invoke", "TooManyRequestsException", times=1)
        first = redrive.run(places)
        # THEN it is reported and the record stays parked
        assert refused.injected == 1
        assert [(r.queue, r.replayed, len(r.failed)) for r in first if r.seen] == [
            ("IngestDeadLetterQueue", 0, 1)
        ]
        assert parked_count(stack, places) == {"IngestDeadLetterQueue": 1}

        # WHEN it is run again, and again
        second = redrive.run(places)
        stack.wait_idle()
        third = redrive.run(places)
        stack.wait_idle()
        # THEN the work completes exactly once and nothing is left parked
        assert sum(r.replayed for r in second) == 1 and sum(r.replayed for r in third) == 0
        assert parked_count(stack, places) == {}
        events = business_events(stack, observer)
        assert events["DatasetStaged"] == 1 and events["DatasetPublished"] == 1
        assert stack.errors == []


def test_eventbridge_dead_letter_is_replayed_to_the_rule_target_and_a_lost_delete_does_not_double() -> None:
    with offline_aws() as stack:
        places = parking_places(stack.translated, stack.physical)
        redrive = Redrive(stack.region, clients=stack.client)
        sfn = stack.client("stepfunctions")
        machine = stack.physical["PipelineStateMachine"]
        # GIVEN StartExecution fails for good: the DatasetStaged rule retries, then parks the event
        stack.faults.fail("stepfunctions", "StartExecution", "ServiceUnavailable", times=None)
        cli.deliver(stack, json.loads(TRANSACTIONS.read_text()), quiet)
        stack.wait_idle()
        assert parked_count(stack, places) == {"PipelineStartDeadLetterQueue": 1}
        assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
        (listed,) = [r for r in redrive.run(places, dry_run=True) if r.seen]
        assert [(p.kind, p.destination) for p in listed.seen] == [(EVENTBRIDGE, machine)]
        assert "ServiceUnavailable" in listed.seen[0].detail
        stack.faults.heal()

        # WHEN the replay starts the execution but the delete from the DLQ is lost
        lost = stack.faults.fail("sqs", "DeleteMessage", "InternalError", times=1)
        first = redrive.run(places)
        stack.wait_idle()
        assert lost.injected == 1 and sum(r.replayed for r in first) == 1
        assert parked_count(stack, places) == {"PipelineStartDeadLetterQueue": 1}
        # THEN the next run replays it again, and Step Functions refuses the repeated start by name
        second = redrive.run(places)
        stack.wait_idle()
        assert sum(r.replayed for r in second) == 1 and parked_count(stack, places) == {}
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        assert len(executions) == 1 and executions[0]["name"].startswith("redrive-")
        assert executions[0]["status"] == "SUCCEEDED"
        assert stack.errors == []


def test_sqs_dead_letter_goes_back_to_its_source_queue_and_is_consumed() -> None:
    with offline_aws() as stack:
        places = parking_places(stack.translated, stack.physical)
        redrive = Redrive(stack.region, clients=stack.client)
        request: dict[str, Any] = json.loads(
            json.loads((EVENTS / "purchase_orders_reorder_request.json").read_text())["Records"][0]["body"]
        )
        # the stock record the request is about (an order adds to its on_order in one transaction)
        stack.client("dynamodb").put_item(
            TableName=stack.physical["InventoryTable"],
            Item={
                "store_id": {"S": request["detail"]["store_id"]},
                "product_id": {"S": request["detail"]["product_id"]},
                "on_hand": {"N": str(request["detail"]["on_hand"])},
                "reorder_threshold": {"N": "10"},  # above it: the record raises no crossing of its own
            },
        )
        # GIVEN purchase orders cannot reach DynamoDB: the request is received maxReceiveCount times
        stack.faults.fail(
            "dynamodb", "*", "InternalServerError", times=None, function="PurchaseOrderFunction"
        )
        stack.client("sqs").send_message(
            QueueUrl=stack.physical["ReorderQueue"], MessageBody=json.dumps(request)
        )
        stack.wait_idle()
        assert parked_count(stack, places) == {"ReorderDeadLetterQueue": 1}
        (listed,) = [r for r in redrive.run(places, dry_run=True) if r.seen]
        assert [(p.kind, p.destination) for p in listed.seen] == [
            (SQS_REDRIVE, stack.physical["ReorderQueue"])
        ]
        orders = stack.client("dynamodb").scan(TableName=stack.physical["PurchaseOrdersTable"])["Items"]
        assert orders == []
        stack.faults.heal()
        # WHEN replayed (twice)
        first = redrive.run(places)
        stack.wait_idle()
        second = redrive.run(places)
        # THEN the request raised its purchase order, once
        assert [sum(r.replayed for r in run) for run in (first, second)] == [1, 0]
        assert parked_count(stack, places) == {}
        orders = stack.client("dynamodb").scan(TableName=stack.physical["PurchaseOrdersTable"])["Items"]
        assert len(orders) == 1
        assert stack.errors == []


def test_stream_batch_pointer_is_listed_and_kept_never_replayed() -> None:
    with offline_aws() as stack:
        places = parking_places(stack.translated, stack.physical)
        redrive = Redrive(stack.region, clients=stack.client)
        # GIVEN a poison stream record (an item without on_hand): retried, then its batch is parked
        stack.client("dynamodb").put_item(
            TableName=stack.physical["InventoryTable"],
            Item={"store_id": {"S": "R001"}, "product_id": {"S": "P1"}, "reorder_threshold": {"N": "5"}},
        )
        stack.wait_idle()
        assert parked_count(stack, places) == {"InventoryStreamFailureQueue": 1}
        # WHEN redriven (twice)
        runs = [redrive.run(places), redrive.run(places)]
        # THEN it is reported with its shard range each time, and stays parked for a human
        for run in runs:
            (report,) = [r for r in run if r.seen]
            assert report.replayed == 0 and [p.kind for p in report.kept] == [STREAM_BATCH]
            assert (
                "sequence" in report.kept[0].detail and "reprocess from the stream" in report.kept[0].detail
            )
        assert parked_count(stack, places) == {"InventoryStreamFailureQueue": 1}
