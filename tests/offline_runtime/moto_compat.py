"""Small, named corrections where moto's CloudFormation differs from AWS for this template.

Each is applied once, idempotently, and pinned by a test in tests/integration/test_moto_compat.py
so a moto upgrade that fixes (or changes) the behaviour is noticed.
"""

from __future__ import annotations

from moto.events.models import EventBus

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    # AWS: `Ref` of an AWS::Events::EventBus returns the bus name. moto 5.2.5's EventBus has no
    # physical_resource_id, so its Ref resolves to the Python object and rules on it fail.
    if not hasattr(EventBus, "physical_resource_id"):
        EventBus.physical_resource_id = property(lambda self: self.name)  # type: ignore[attr-defined]
    _applied = True
