"""Takes a while; says which execution environment ran it (for the concurrency tests)."""

from __future__ import annotations

import time
from typing import Any

ENVIRONMENT = object()  # one per execution environment (module instance)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    started = time.monotonic()
    time.sleep(float(event.get("seconds", 0.3)))
    pad = "x" * int(event.get("respond_bytes", 0))  # a response as large as asked (limit tests)
    return {"environment": id(ENVIRONMENT), "started": started, "ended": time.monotonic(), "pad": pad}
