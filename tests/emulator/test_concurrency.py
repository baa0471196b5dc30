"""Invocations that overlap where AWS would run them concurrently; serial and deterministic by default."""

from __future__ import annotations

import json

from offline_runtime.emulator.stack import offline_aws
from tests.emulator.conftest import TEMPLATE


def test_two_concurrent_invocations_really_overlap_in_their_own_environments() -> None:
    with offline_aws(TEMPLATE, concurrency=4) as stack:
        lam = stack.client("lambda")
        for _ in range(2):
            lam.invoke(
                FunctionName=stack.physical["SlowFunction"],
                InvocationType="Event",
                Payload=json.dumps({"seconds": 0.4}).encode(),
            )
        stack.wait_idle()
        first, second = sorted(
            (i for i in stack.lambdas.invocations if i.logical_id == "SlowFunction"), key=lambda i: i.started
        )
        assert second.started < first.ended  # really at the same time
        assert {first.environment, second.environment} == {0, 1} and first.cold_start and second.cold_start
        assert not first.errored and not second.errored


def test_serial_by_default_one_invocation_after_the_other() -> None:
    with offline_aws(TEMPLATE) as stack:
        lam = stack.client("lambda")
        for _ in range(2):
            lam.invoke(
                FunctionName=stack.physical["SlowFunction"],
                InvocationType="Event",
                Payload=json.dumps({"seconds": 0.2}).encode(),
            )
        stack.wait_idle()
        first, second = sorted(
            (i for i in stack.lambdas.invocations if i.logical_id == "SlowFunction"), key=lambda i: i.started
        )
        assert second.started >= first.ended and first.environment == second.environment == 0
        assert not second.cold_start  # the warm environment was reused


def test_reserved_concurrency_throttles_and_async_invocations_wait_their_turn() -> None:
    with offline_aws(TEMPLATE, concurrency=4) as stack:  # SlowFunction: ReservedConcurrentExecutions 2
        lam = stack.client("lambda")
        for _ in range(3):
            lam.invoke(
                FunctionName=stack.physical["SlowFunction"],
                InvocationType="Event",
                Payload=json.dumps({"seconds": 0.3}).encode(),
            )
        stack.wait_idle()
        runs = [i for i in stack.lambdas.invocations if i.logical_id == "SlowFunction"]
        assert len(runs) == 3 and not any(r.errored for r in runs)
        assert {r.environment for r in runs} == {0, 1}  # never a third environment
        assert stack.invoker.log.failures == []
