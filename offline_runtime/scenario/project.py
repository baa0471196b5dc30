"""This project's template and the offline helpers that know it (bus, event source, stock master).

The emulator (``offline_runtime.emulator``) runs any SAM template; what is specific to this
pipeline — which template, its bus and event source, the sample data in ``events/data`` — is here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from offline_runtime.emulator import session
from offline_runtime.emulator.stack import OfflineStack

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
DATA = EVENTS / "data"


@contextlib.contextmanager
def offline_aws(
    parameters: dict[str, str] | None = None, echo_logs: bool = False, concurrency: int = 1
) -> Iterator[OfflineStack]:
    """This project's template deployed offline (stack name as the dev deployment's)."""
    with session.offline_aws(
        TEMPLATE,
        parameters=parameters,
        echo_logs=echo_logs,
        concurrency=concurrency,
        stack_name="retail-datapipe",
    ) as stack:
        yield stack


def observe_bus(stack: OfflineStack, name: str, pattern: dict[str, Any] | None = None) -> str:
    """An SQS queue receiving the pipeline bus's business events."""
    return session.observe_bus(
        stack, name, stack.outputs["PipelineBusName"], pattern or {"source": [stack.params["EventSource"]]}
    )
