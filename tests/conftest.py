"""Shared fixtures: the offline stack (template.yaml deployed into moto) and helpers."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
warnings.filterwarnings("ignore", message=".*not supported by moto's CloudFormation.*")


# The longest modules (minutes each): started first, so pytest-xdist's workers are not left
# waiting on one of them at the end of the run.
LONGEST_FIRST = (
    "tests/e2e/test_operations_day.py",
    "tests/integration/test_fault_matrix.py",
    "tests/e2e/test_business_day.py",
    "tests/integration/test_end_of_day.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """After pytest-randomly's shuffle: the longest modules first, everything else in its order."""
    rank = {module: i for i, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="module")
def stack() -> Iterator[object]:
    """A fresh offline deployment per test module (moto state is per module)."""
    from offline_runtime.scenario.project import offline_aws

    with offline_aws() as deployed:
        yield deployed
