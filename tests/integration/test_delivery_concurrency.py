"""Two deliveries at once (issue 8, part 7): ``offline_aws(concurrency=4)`` runs them side by side.

Measured before: two concurrent publishes of one run -> 2 copies in the curated table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from offline_runtime.emulator.session import drain
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.project import observe_bus, offline_aws
from tests.integration import faultkit as kit

DATASET = "transactions"


@pytest.fixture(scope="module")
def parallel() -> Iterator[OfflineStack]:
    """Conditional writes are atomic in the runtime itself (compat: moto's are not)."""
    with offline_aws(concurrency=4) as stack:
        yield stack


def exactly_once(stack: OfflineStack, body: bytes) -> None:
    ids = kit.ids_in(body)
    counts = kit.curated_counts(stack, DATASET, ids)
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}


def test_two_concurrent_deliveries_of_one_object_publish_it_once(parallel: OfflineStack) -> None:
    tag, body = "701", kit.transactions("701")
    event = kit.put_raw(parallel, kit.raw_key(DATASET, tag), body)
    kit.invoke_async(parallel, "IngestFunction", event)  # EventBridge's and a redelivery, together
    parallel.wait_idle(300)
    exactly_once(parallel, body)
    state = kit.alert_state(parallel, kit.alert_id(tag))
    assert state is not None and state.get("sent_severity") == {"S": "HIGH"}


def test_two_concurrent_executions_of_one_run_publish_it_once(parallel: OfflineStack) -> None:
    # GIVEN a staged file whose DatasetStaged has not started the state machine yet
    events = parallel.client("events")
    rule = parallel.rule_name("PipelineStateMachineDatasetStaged")
    bus = parallel.outputs["PipelineBusName"]
    observer = observe_bus(parallel, "concurrency-staged", {"detail-type": ["DatasetStaged"]})
    events.disable_rule(Name=rule, EventBusName=bus)
    try:
        tag, body = "702", kit.transactions("702")
        event = kit.put_raw(parallel, kit.raw_key(DATASET, tag), body)
        run = kit.run_of(event, DATASET)
        (staged,) = [e for e in drain(parallel, observer) if e["detail"]["run_id"] == run]
    finally:
        events.enable_rule(Name=rule, EventBusName=bus)
    # WHEN two executions of that run start at once
    staged_event: dict[str, Any] = staged
    for _ in range(2):
        parallel.start_execution("PipelineStateMachine", staged_event)
    parallel.wait_idle(300)
    # THEN one publish wrote, the other found it published
    exactly_once(parallel, body)
    record = kit.published_record(parallel, DATASET, run)
    assert record is not None and record["status"] == "PUBLISHED"


def test_the_same_bytes_under_two_keys_at_once_are_published_once(parallel: OfflineStack) -> None:
    tag, body = "703", kit.transactions("703")
    kit.put_raw(parallel, kit.raw_key(DATASET, tag), body)
    kit.put_raw(parallel, f"transactions/{kit.DAY}/again-{tag}.csv", body)
    parallel.wait_idle(300)
    exactly_once(parallel, body)
