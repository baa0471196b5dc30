"""Enhanced validation through the real wiring: a stale file is compared with what was published.

Its own stack, with a known history (two 600-row files published first), so the volume baseline
does not depend on which other files some other test happened to publish before.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from offline_runtime.emulator.session import drain
from offline_runtime.emulator.stack import OfflineStack
from offline_runtime.scenario.project import observe_bus
from tests.integration.test_state_machine import TODAY, YESTERDAY, tx_file, upload


@pytest.fixture(scope="module")
def observed(stack: OfflineStack) -> dict[str, str]:
    bus = observe_bus(stack, "enhanced-observer")
    for n, store in enumerate(("S201", "S202")):  # the published history: 600 rows a file
        key = f"transactions/{YESTERDAY}/pos-{store}.csv"
        desc = upload(stack, key, tx_file(store, YESTERDAY, 600, 0.0, 20 + n))
        assert desc["states"][-1] == "Published", desc["states"]
    drain(stack, bus)
    return {"bus": bus}


def test_stale_file_goes_through_enhanced_validation_and_is_published(
    stack: OfflineStack, observed: dict[str, str]
) -> None:
    old = TODAY - timedelta(days=6)
    desc = upload(stack, f"transactions/{YESTERDAY}/pos-S102-resend.csv", tx_file("S102", old, 600, 0.0, 2))
    assert desc["status"] == "SUCCEEDED"
    assert [
        s
        for s in desc["states"]
        if s in ("QualityGate", "EnhancedValidation", "EnhancedGate", "PublishDataset")
    ] == ["QualityGate", "EnhancedValidation", "EnhancedGate", "PublishDataset"]
    checks = {c["name"]: c for c in json.loads(desc["output"])["final"]["assessment"]["checks"]}
    assert checks["freshness"]["score"] == 0.0
    assert 0.75 <= json.loads(desc["output"])["final"]["assessment"]["score"] < 0.9


# A stale file far from its source's own history is quarantined before enhanced validation now
# (volume runs on every file): tests/integration/test_state_machine.py
# ::test_file_far_from_its_sources_history_is_quarantined_below_minimum.
