"""The emulator's own tests run a second, independent SAM app (tests/apps/orders), not the pipeline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from offline_runtime.emulator.stack import OfflineStack, offline_aws

ORDERS = Path(__file__).resolve().parents[1] / "apps" / "orders"
TEMPLATE = ORDERS / "template.yaml"


@pytest.fixture(scope="module")
def orders() -> Iterator[OfflineStack]:
    with offline_aws(TEMPLATE) as stack:
        yield stack
    assert not stack.errors, stack.errors  # the emulator's own tasks never failed


@pytest.fixture
def fresh_orders() -> Iterator[OfflineStack]:
    """A deployment of its own, for tests that leave state behind (faults, queues in flight)."""
    with offline_aws(TEMPLATE) as stack:
        yield stack
    assert not stack.errors, stack.errors
