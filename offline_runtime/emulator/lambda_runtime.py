"""The one seam between moto and our handlers: run Lambda functions in-process, not in Docker.

Every moto path that invokes a function (lambda.invoke, Step Functions tasks, event-source
mappings, SNS/S3 notifications) goes through ``LambdaFunction._invoke_lambda``. It is a private
method, so moto is pinned exactly and this module is the only place that touches it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.awslambda.models import LambdaFunction

_INVOKE_LOCK = threading.RLock()


class _ThreadStdout(io.TextIOBase):
    """sys.stdout proxy: writes go to the current thread's capture buffer when one is set.

    Powertools Logger binds sys.stdout when a handler module is imported, so capture has to
    happen behind the object it holds, not by swapping sys.stdout per invocation.
    """

    def __init__(self, real: Any) -> None:
        self.real = real
        self.local = threading.local()

    def write(self, s: str) -> int:
        buf = getattr(self.local, "buffer", None)
        if buf is not None:
            return int(buf.write(s))
        return int(self.real.write(s))

    def flush(self) -> None:
        self.real.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


_PROXY: _ThreadStdout | None = None


def _stdout_proxy() -> _ThreadStdout:
    """One proxy per process; sys.stdout points at it during invocations (and module imports, so
    Powertools binds its handler to it), whatever else replaced sys.stdout meanwhile (pytest)."""
    global _PROXY
    if _PROXY is None:
        _PROXY = _ThreadStdout(sys.__stdout__)
    return _PROXY


@dataclass
class FunctionSource:
    logical_id: str
    code_dir: Path
    handler: str


@dataclass
class Invocation:
    function: str
    logical_id: str
    started: float
    duration_s: float
    errored: bool
    error_type: str | None = None
    logs: str = ""


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    timeout_s: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Swap values in, and back. Keys are never added or removed here (install() created them):
    other threads iterate os.environ (botocore does, for proxies), and a key removed under
    them raises KeyError in that thread."""
    saved = {k: os.environ.get(k, "") for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.update(saved)


class InProcessLambdas:
    """Runs the handlers of the deployed stack in this process, with their template environment."""

    def __init__(self, sources: dict[str, FunctionSource], region: str, echo_logs: bool = False):
        self.sources = sources
        self.region = region
        self.echo_logs = echo_logs
        self.invocations: list[Invocation] = []
        self._modules: dict[str, ModuleType] = {}
        self._original: Any = None
        self._stdout = _stdout_proxy()
        self._added_env: set[str] = set()

    def install(self, functions: list[LambdaFunction] | None = None) -> None:
        adapter = self
        for fn in functions or []:  # every key an invocation will set exists from now on
            for key in self._env(fn):
                if key not in os.environ:
                    os.environ[key] = ""
                    self._added_env.add(key)

        def _invoke_lambda(fn: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            return adapter.invoke(fn, event)

        self._original = LambdaFunction._invoke_lambda
        LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign,assignment]

    def uninstall(self) -> None:
        if self._original is not None:
            LambdaFunction._invoke_lambda = self._original  # type: ignore[method-assign]
            self._original = None
        for key in self._added_env:  # the other runtime threads are stopped by now
            os.environ.pop(key, None)
        self._added_env.clear()

    def _env(self, fn: LambdaFunction) -> dict[str, str]:
        env = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
            "_HANDLER": fn.handler,
            # What `sam local invoke` sets; Powertools Tracer disables itself on it.
            "AWS_SAM_LOCAL": "true",
        }
        env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        return env

    def _module(self, source: FunctionSource, fn_name: str) -> ModuleType:
        module = self._modules.get(fn_name)
        if module is None:
            module_file, _ = source.handler.rsplit(".", 1)
            path = source.code_dir / f"{module_file.replace('.', '/')}.py"
            spec = importlib.util.spec_from_file_location(f"lambda_{source.logical_id}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load handler module {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module  # pydantic resolves annotations through it
            sys.path.insert(0, str(source.code_dir))
            try:
                spec.loader.exec_module(module)
            except BaseException:
                sys.modules.pop(spec.name, None)
                raise
            finally:
                sys.path.remove(str(source.code_dir))
            self._modules[fn_name] = module
        return module

    def invoke(self, fn: LambdaFunction, event: Any) -> tuple[str, bool, str]:
        source = self.sources.get(fn.function_name)
        if source is None:
            payload = {
                "errorMessage": f"no local source for function {fn.function_name}",
                "errorType": "Runtime.HandlerNotFound",
            }
            return json.dumps(payload), True, ""
        if isinstance(event, (str, bytes)):
            event = json.loads(event) if event else {}
        request_id = str(uuid.uuid4())
        buffer = io.StringIO()
        errored = False
        error_type = None
        with _INVOKE_LOCK, _environment(self._env(fn)), contextlib.redirect_stdout(self._stdout):
            started = time.monotonic()
            previous = getattr(self._stdout.local, "buffer", None)
            self._stdout.local.buffer = buffer
            try:
                print(f"START RequestId: {request_id} Version: $LATEST")
                try:
                    module = self._module(source, fn.function_name)
                    handler = getattr(module, source.handler.rsplit(".", 1)[1])
                    context = LambdaContext(
                        function_name=fn.function_name,
                        memory_limit_in_mb=int(fn.memory_size),
                        invoked_function_arn=fn.function_arn,
                        aws_request_id=request_id,
                        timeout_s=int(fn.timeout),
                        log_group_name=fn.logs_group_name,
                        log_stream_name=f"offline/{request_id}",
                        _deadline=time.monotonic() + float(fn.timeout),
                    )
                    result = handler(event, context)
                    payload = json.dumps(result, default=str)
                except Exception as exc:  # the Lambda runtime turns any exception into an error payload
                    errored = True
                    error_type = type(exc).__name__
                    tb = traceback.format_exception(exc)
                    print("".join(tb))
                    payload = json.dumps(
                        {
                            "errorMessage": str(exc),
                            "errorType": error_type,
                            "requestId": request_id,
                            "stackTrace": tb,
                        }
                    )
                elapsed = time.monotonic() - started
                print(f"END RequestId: {request_id}")
                print(f"REPORT RequestId: {request_id}\tDuration: {elapsed * 1000:.2f} ms")
            finally:
                self._stdout.local.buffer = previous
        logs = buffer.getvalue()
        self.invocations.append(
            # keep the tail only: a demo day makes thousands of invocations
            Invocation(
                fn.function_name, source.logical_id, started, elapsed, errored, error_type, logs[-20_000:]
            )
        )
        self._to_cloudwatch(fn, request_id, logs)
        if self.echo_logs:
            self._stdout.real.write(logs)
        return payload, errored, logs

    @staticmethod
    def _to_cloudwatch(fn: LambdaFunction, request_id: str, logs: str) -> None:
        backend = fn.logs_backend
        backend.ensure_log_group(fn.logs_group_name)
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{request_id.replace('-', '')}"
        backend.create_log_stream(fn.logs_group_name, stream)
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line} for line in logs.splitlines() if line]
        if events:
            backend.put_log_events(fn.logs_group_name, stream, events)
