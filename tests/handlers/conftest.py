"""Handler tests: one offline stack for the package, and its tests kept together.

``handlers_stack`` (package scope) is deployed once with its rules disabled, as ``sam local
invoke`` runs only the function asked for. The collection hook keeps this package's tests next to
each other whatever order pytest-randomly draws (their order inside the package stays random), so
the package fixture is set up once. No module here uses the module-scoped ``stack``: a second
``mock_aws`` inside this one would reset the shared stack's state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """This package's items moved next to the first of them (their relative order kept)."""

    def here(item: pytest.Item) -> bool:
        return HERE in Path(str(item.path)).parents

    mine = [item for item in items if here(item)]
    if not mine:
        return
    first = items.index(mine[0])
    others = [item for item in items if not here(item)]
    items[:] = others[:first] + mine + others[first:]


@pytest.fixture(scope="package")
def handlers_stack() -> Iterator[Any]:
    from offline_runtime.emulator.session import disable_rules, offline_aws

    with offline_aws() as stack:
        disable_rules(stack)
        yield stack
