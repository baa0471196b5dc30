"""One install/uninstall base for everything the emulator changes in moto, botocore or the process.

Every change is a :class:`Patch`; a :class:`PatchSet` installs a list of them in order and tears
them all down together, in reverse, through one :class:`contextlib.ExitStack` — also when an
install fails half way, so a test never leaves a patched moto behind for the next one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self


class Patch:
    """Something the emulator changes while a stack is deployed; undone by :meth:`uninstall`."""

    #: why the change is needed: the AWS behaviour it restores or the moto gap it fills
    reason: str = ""

    def install(self) -> None:  # pragma: no cover - trivial default
        """Apply the change."""

    def uninstall(self) -> None:  # pragma: no cover - trivial default
        """Undo the change."""

    def __enter__(self) -> Self:
        self.install()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.uninstall()


_INHERITED = object()


class AttributePatch(Patch):
    """Replace ``owner.attribute`` (a class method, a module function) and restore it afterwards."""

    def __init__(self, owner: Any, attribute: str, replacement: Any, reason: str) -> None:
        self.owner = owner
        self.attribute = attribute
        self.replacement = replacement
        self.reason = reason
        self.original: Any = None
        self._raw: Any = None
        self._installed = False

    def install(self) -> None:
        if self._installed:
            raise RuntimeError(f"{self!r} is installed already")
        self.original = getattr(self.owner, self.attribute)
        # On a class, keep the raw descriptor (a staticmethod stays static) and whether it was the
        # class's own attribute or inherited (then it is removed again, not copied down).
        self._raw = vars(self.owner).get(self.attribute, _INHERITED) if isinstance(self.owner, type) else None
        setattr(self.owner, self.attribute, self.replacement)
        self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            if self._raw is _INHERITED:
                delattr(self.owner, self.attribute)
            elif self._raw is not None:
                setattr(self.owner, self.attribute, self._raw)
            else:
                setattr(self.owner, self.attribute, self.original)
            self._installed = False

    def __repr__(self) -> str:
        owner = getattr(self.owner, "__qualname__", getattr(self.owner, "__name__", repr(self.owner)))
        return f"AttributePatch({owner}.{self.attribute})"


class CallbackPatch(Patch):
    """A patch made of two callables (start/stop a worker thread, register/unregister a hook)."""

    def __init__(self, install: Callable[[], None], uninstall: Callable[[], None], reason: str) -> None:
        self._install = install
        self._uninstall = uninstall
        self.reason = reason

    def install(self) -> None:
        self._install()

    def uninstall(self) -> None:
        self._uninstall()


class PatchSet(Patch):
    """Installs patches in order; uninstalls all of them, in reverse, whatever happens."""

    def __init__(self, patches: Iterable[Patch] = ()) -> None:
        self.patches: list[Patch] = list(patches)
        self._stack: contextlib.ExitStack | None = None

    def add(self, patch: Patch) -> Patch:
        if self._stack is not None:
            self._stack.enter_context(patch)
        self.patches.append(patch)
        return patch

    def install(self) -> None:
        if self._stack is not None:
            raise RuntimeError("PatchSet installed already")
        stack = contextlib.ExitStack()
        try:
            for patch in self.patches:
                stack.enter_context(patch)
        except BaseException:
            stack.close()
            raise
        self._stack = stack

    def uninstall(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    @property
    def installed(self) -> bool:
        return self._stack is not None


def hook_every_session(handlers: Iterable[tuple[str, Callable[..., Any]]]) -> None:
    """Register botocore event handlers on every session made from now on, the way moto registers
    its own stubber (``BUILTIN_HANDLERS``), and on boto3's default session if it already exists
    (its future clients need them too). Callers register once per process."""
    import boto3
    import botocore.handlers

    pairs = list(handlers)
    botocore.handlers.BUILTIN_HANDLERS.extend(pairs)
    if boto3.DEFAULT_SESSION is not None:
        events = boto3.DEFAULT_SESSION._session.get_component("event_emitter")
        for event, handler in pairs:
            events.register(event, handler)
