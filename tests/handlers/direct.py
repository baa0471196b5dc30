"""Handlers imported directly (as the Lambda runtime imports them) and run on their events/ files.

Each test module here mirrors one ``functions/<name>/app.py``. ``direct_handler`` imports the
module from its path with the function's template environment, as deployed in an offline stack
(the variables moto's Lambda holds, physical names resolved), then calls its handler with a fake
LambdaContext: no Lambda invoke, no emulator seam, the handler against real (moto) resources.
The log lines the handler writes are captured through its own (PII-masking) formatter.

The stack is ``handlers_stack`` (conftest.py).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import json
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
_COUNTER = itertools.count()


def function_source(logical_id: str) -> tuple[Path, str]:
    """(app.py of the function, the handler's attribute name) from template.yaml."""
    props = TEMPLATE["Resources"][logical_id]["Properties"]
    module, attr = props["Handler"].rsplit(".", 1)
    return ROOT / props["CodeUri"] / f"{module}.py", attr


def deployed_environment(stack: Any, logical_id: str) -> dict[str, str]:
    """The function's environment as deployed (Globals + its own, physical names), plus what the
    Lambda runtime sets; AWS_SAM_LOCAL as `sam local invoke` sets it (Tracer off)."""
    name = stack.physical[logical_id]
    config = stack.client("lambda").get_function_configuration(FunctionName=name)
    env = {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}
    env.update(
        {
            "AWS_REGION": stack.region,
            "AWS_DEFAULT_REGION": stack.region,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.get("MemorySize", 128)),
            "AWS_SAM_LOCAL": "true",
        }
    )
    return env


@contextlib.contextmanager
def environment(values: dict[str, str | None]) -> Iterator[None]:
    """os.environ with ``values`` set (None: removed), restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_POWERTOOLS_MARKS = ("init", "powertools_handler", "powertools_buffer_config", "powertools_buffer_cache")


@contextlib.contextmanager
def service_logger_restored(service: str | None) -> Iterator[None]:
    """The stdlib logger a Powertools Logger configures (one per service name, process-wide) put
    back as it was: a handler module imported here binds its log handler to the stdout of the
    moment, and the offline runtime, importing the same function later, would reuse that handler
    instead of binding its own capture."""
    std = logging.getLogger(service or "service_undefined")
    handlers, level = list(std.handlers), std.level
    marks = {k: std.__dict__[k] for k in _POWERTOOLS_MARKS if k in std.__dict__}
    try:
        yield
    finally:
        std.handlers[:] = handlers
        std.setLevel(level)
        for key in _POWERTOOLS_MARKS:
            if key in marks:
                setattr(std, key, marks[key])
            else:
                std.__dict__.pop(key, None)


def import_app(path: Path, env: dict[str, str | None]) -> ModuleType:
    """Import ``path`` as a fresh module under ``env`` (cold start: settings are read here)."""
    name = f"direct_{path.parent.name}_{next(_COUNTER)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # pydantic resolves annotations through it
    sys.path.insert(0, str(path.parent))
    try:
        with environment(env):
            spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        sys.path.remove(str(path.parent))
    return module


@dataclass
class FakeContext:
    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int = 128
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "direct/test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


class DirectHandler:
    """One imported handler: call it with an event; read the log lines of the last call."""

    def __init__(self, stack: Any, logical_id: str, module: ModuleType, attr: str) -> None:
        self.stack = stack
        self.logical_id = logical_id
        self.module = module
        self.fn = getattr(module, attr)
        self.tap = io.StringIO()
        self.name = stack.physical[logical_id]

    def __call__(self, event: Any) -> Any:
        self.tap.seek(0)
        self.tap.truncate()
        context = FakeContext(
            function_name=self.name,
            invoked_function_arn=f"arn:aws:lambda:{self.stack.region}:123456789012:function:{self.name}",
            log_group_name=f"/aws/lambda/{self.name}",
        )
        return self.fn(event, context)

    @property
    def log_text(self) -> str:
        return self.tap.getvalue()

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log_text.splitlines() if line.startswith("{")]

    def logged(self, message: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("message") == message]


@contextlib.contextmanager
def direct_handler(
    stack: Any, logical_id: str, overrides: dict[str, str | None] | None = None
) -> Iterator[DirectHandler]:
    """The function's module imported with its deployed environment (``overrides`` on top: None
    removes a variable), its handler ready to call."""
    path, attr = function_source(logical_id)
    stack.wait_idle(60)  # nothing else swaps the environment while the module is imported
    env: dict[str, str | None] = {**deployed_environment(stack, logical_id), **(overrides or {})}
    with service_logger_restored(env.get("POWERTOOLS_SERVICE_NAME")):
        module = import_app(path, env)
        handler = DirectHandler(stack, logical_id, module, attr)
        capture = logging.StreamHandler(handler.tap)
        capture.setFormatter(module.logger.registered_formatter)
        logging.getLogger(module.logger.name).addHandler(capture)
        try:
            yield handler
        finally:
            sys.modules.pop(module.__name__, None)


def sample(stack: Any, name: str, prepare: bool = True) -> Any:
    """An events/ file with this stack's physical names, and what it refers to put in place."""
    from offline_runtime.emulator.session import localise
    from offline_runtime.scenario import fixtures

    event = localise(stack, json.loads((EVENTS / name).read_text()))
    if prepare:
        fixtures.prepare_event(stack, event)
    return event


def eventbridge(detail_type: str, source: str, detail: Any, **extra: Any) -> dict[str, Any]:
    """An EventBridge event in the standard shape (what `sam local generate-event` gives)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-11-22T00:10:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
        **extra,
    }


def raw_sample(name: str) -> Any:
    """An events/ file as captured (example names): the numbers a real run produced for it."""
    return json.loads((EVENTS / name).read_text())


def captured_checks(suite: str) -> dict[str, float]:
    """Scores of a suite's checks in the captured run (validators_final.json holds its inputs)."""
    final = raw_sample("validators_final.json")
    results = [final["schema_result"], *final["parallel"]]
    return {c["name"]: c["score"] for r in results if r["suite"] == suite for c in r["checks"]}
