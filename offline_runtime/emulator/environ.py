"""Per-execution-environment environment variables in one process.

On AWS every execution environment is its own process with the function's variables. Here all
functions share one process, and concurrent invocations of different functions overlap, so a
function's variables live in a thread-local overlay over the process environment: ``os.environ``
is replaced by :class:`ThreadEnviron`, whose reads see the current thread's overlay first. Threads
started while an overlay is active inherit it (awswrangler and boto3 transfers use worker threads),
and so does the invocation's identity (``faults.current_function``): on AWS a thread a handler
starts is part of that invocation, so its calls are that function's for fault rules and the meter.

Named divergence (pinned in tests/emulator/test_divergences.py): code that reads the C-level
environment (``getenv`` in a C extension) sees the process environment, not the function's.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from offline_runtime.emulator.faults import current_function, set_current_function
from offline_runtime.emulator.patches import AttributePatch, Patch, PatchSet

_local = threading.local()


def _overlay() -> dict[str, str] | None:
    return getattr(_local, "overlay", None)


class ThreadEnviron(MutableMapping[str, str]):
    """``os.environ`` as seen by the current thread: its overlay (if any) over the process's."""

    def __init__(self, base: MutableMapping[str, str]) -> None:
        self.base = base

    def __getitem__(self, key: str) -> str:
        overlay = _overlay()
        if overlay is not None and key in overlay:
            return overlay[key]
        return self.base[key]

    def __setitem__(self, key: str, value: str) -> None:
        overlay = _overlay()
        if overlay is not None:
            overlay[key] = value
        else:
            self.base[key] = value

    def __delitem__(self, key: str) -> None:
        overlay = _overlay()
        if overlay is not None and key in overlay:
            del overlay[key]
        else:
            del self.base[key]

    def _keys(self) -> list[str]:
        overlay = _overlay()
        keys = list(self.base.keys())
        if overlay:
            keys.extend(k for k in overlay if k not in self.base)
        return keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())  # a snapshot: other threads may change the base meanwhile

    def __len__(self) -> int:
        return len(self._keys())

    def copy(self) -> dict[str, str]:
        merged = dict(self.base)  # one pass over the process environment, not a lookup per key
        overlay = _overlay()
        if overlay:
            merged.update(overlay)
        return merged

    def items(self) -> Any:  # botocore walks all variables for proxies on every new client
        return self.copy().items()

    def values(self) -> Any:
        return self.copy().values()

    # os._Environ API some libraries use
    def setdefault(self, key: str, default: str = "") -> str:
        if key not in self:
            self[key] = default
        return self[key]

    def __repr__(self) -> str:
        return f"ThreadEnviron({len(self)} variables)"


@contextlib.contextmanager
def overlay(values: Mapping[str, str]) -> Iterator[dict[str, str]]:
    """The current thread (and threads it starts) see ``values`` over the process environment."""
    previous = _overlay()
    current = dict(values)
    _local.overlay = current
    try:
        yield current
    finally:
        _local.overlay = previous


class _InheritingThreadInit:
    """``threading.Thread.__init__`` that remembers the creator's overlay; ``run`` restores it."""

    def __init__(self, init: Any, run: Any) -> None:
        self.init = init
        self.run = run

    def patched_init(self) -> Any:
        original_init = self.init

        def thread_init(thread: threading.Thread, *args: Any, **kwargs: Any) -> None:
            original_init(thread, *args, **kwargs)
            parent = _overlay()
            thread._offline_overlay = dict(parent) if parent is not None else None  # type: ignore[attr-defined]
            thread._offline_function = current_function()  # type: ignore[attr-defined]

        return thread_init

    def patched_run(self) -> Any:
        original_run = self.run

        def run(thread: threading.Thread) -> None:
            inherited = getattr(thread, "_offline_overlay", None)
            function = getattr(thread, "_offline_function", None)
            if inherited is None and function is None:
                original_run(thread)
                return
            _local.overlay = inherited
            set_current_function(function)
            try:
                original_run(thread)
            finally:
                _local.overlay = None
                set_current_function(None)

        return run


def patches() -> Patch:
    base = os.environ
    thread = _InheritingThreadInit(threading.Thread.__init__, threading.Thread.run)
    reason = "each execution environment sees its own function's variables (AWS: one process each)"
    return PatchSet(
        [
            AttributePatch(os, "environ", ThreadEnviron(base), reason),
            AttributePatch(threading.Thread, "__init__", thread.patched_init(), reason),
            AttributePatch(threading.Thread, "run", thread.patched_run(), reason),
        ]
    )
