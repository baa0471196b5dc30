"""Shared fixtures: the offline stack (template.yaml deployed into moto) and helpers."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
warnings.filterwarnings("ignore", message=".*not supported by moto's CloudFormation.*")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per module (``make test`` runs ``-n auto --dist loadgroup``), so a
    module's offline stack is deployed once, on one worker; tests/handlers is one group, as its
    package-wide stack (tests/handlers/conftest.py) is."""
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        group = "tests/handlers" if module.startswith("tests/handlers/") else module
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="module")
def stack() -> Iterator[object]:
    """A fresh offline deployment per test module (moto state is per module)."""
    from offline_runtime.scenario.project import offline_aws

    with offline_aws() as deployed:
        yield deployed
