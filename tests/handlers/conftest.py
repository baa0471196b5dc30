"""Handler tests: one offline stack for the package, and its tests kept together.

``handlers_stack`` is deployed once, with its rules disabled (as ``sam local invoke`` runs only
the function asked for). The collection hook keeps this package's tests next to each other
whatever order pytest-randomly draws (their order inside the package stays random), so the stack
is set up once in a serial run, and the teardown hook closes it after the package's last test. No module here
uses the module-scoped ``stack``: moto's state is one per process, and a second ``mock_aws``
inside this one would share it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent


def _here(item: pytest.Item) -> bool:
    return HERE in Path(str(item.path)).parents


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """This package's items moved next to the first of them (their relative order kept)."""

    mine = [item for item in items if _here(item)]
    if not mine:
        return
    first = items.index(mine[0])
    others = [item for item in items if not _here(item)]
    items[:] = others[:first] + mine + others[first:]


_OPEN: list[tuple[contextlib.ExitStack, Any]] = []


@pytest.fixture(scope="module")
def handlers_stack() -> Iterator[Any]:
    """The open package stack, deployed by the first module that needs it and closed by the
    teardown hook below once the last test of a run of this package's tests is done (an open
    mock_aws would leak its state into every later test). Under pytest-xdist a worker may get this
    package's modules with other modules between them: the next module then deploys a new one."""
    from offline_runtime.emulator.session import disable_rules
    from offline_runtime.scenario.project import offline_aws

    if not _OPEN:
        exits = contextlib.ExitStack()
        stack = exits.enter_context(offline_aws())
        _OPEN.append((exits, stack))
        disable_rules(stack)
    yield _OPEN[-1][1]


def _close() -> None:
    while _OPEN:
        _OPEN.pop()[0].close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    yield  # the module fixtures (the imported handlers) are finalized first
    if _OPEN and _here(item) and (nextitem is None or not _here(nextitem)):
        _close()
