"""Shared fixtures: the offline stack (template.yaml deployed into moto) and helpers."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator

import pytest

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
warnings.filterwarnings("ignore", message=".*not supported by moto's CloudFormation.*")


@pytest.fixture(scope="module")
def stack() -> Iterator[object]:
    """A fresh offline deployment per test module (moto state is per module)."""
    from offline_runtime.scenario.project import offline_aws

    with offline_aws() as deployed:
        yield deployed
