"""The Lambda runtime: handlers run in this process, in execution environments, not in Docker.

Every moto path that invokes a function (lambda.invoke, Step Functions tasks, event-source
mappings, SNS/S3 notifications) goes through ``LambdaFunction._invoke_lambda``; replacing that one
private method is the seam (moto is pinned exactly for it). Around it this module keeps what AWS
keeps per function:

- **execution environments**: a handler module is imported once per environment (cold start,
  with the function's variables, its code directory on the path) and reused while warm. A second
  concurrent invocation of a busy function gets a new environment — its own module globals and
  clients — as a second Lambda sandbox would. ``ReservedConcurrentExecutions`` caps them
  (TooManyRequestsException beyond it).
- **isolation**: the function's environment variables (``environ.overlay``), its stdout/stderr
  captured per invocation, its Powertools metric set (``compat``) are per environment.
- **serial or concurrent**: with ``concurrent=False`` one invocation runs at a time (deterministic);
  with ``concurrent=True`` invocations overlap where AWS would run them concurrently.
- **logs** of every invocation go to CloudWatch Logs (moto) as AWS writes them (START/END/REPORT),
  and the Embedded Metric Format lines among them become CloudWatch metric data (``metrics``).
- **limits**: a response over 6 MB fails as ``Function.ResponseSizeTooLarge``; a handler that
  returns after its timeout is reported ``Sandbox.Timedout`` (named divergence: AWS would have
  stopped it; here its side effects up to the end happened).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from moto.awslambda.models import LambdaFunction

from offline_runtime.emulator import environ, faults, metering
from offline_runtime.emulator.patches import AttributePatch, Patch

MAX_SYNC_RESPONSE = 6 * 1024 * 1024
_INIT_LOCK = threading.RLock()  # imports (cold starts) one at a time: sys.path is process-global
_current = threading.local()


def current_environment_key() -> str | None:
    """``<function>#<n>`` of the environment the current thread runs in, if any."""
    return getattr(_current, "env_key", None)


class _ThreadStdout(io.TextIOBase):
    """sys.stdout proxy: writes go to the current thread's capture buffer when one is set.

    Powertools Logger binds sys.stdout when a handler module is imported, so capture has to
    happen behind the object it holds, not by swapping sys.stdout per invocation."""

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


def stdout_proxy() -> _ThreadStdout:
    global _PROXY
    if _PROXY is None:
        _PROXY = _ThreadStdout(sys.__stdout__)
    return _PROXY


@dataclass
class FunctionSource:
    logical_id: str
    code_dir: Path
    handler: str  # "<module path>.<function>", e.g. "app.lambda_handler"
    runtime: str = "python3.11"


@dataclass
class Invocation:
    function: str
    logical_id: str
    request_id: str
    environment: int
    cold_start: bool
    started: float  # time.monotonic()
    ended: float
    errored: bool
    error_type: str | None = None
    logs: str = ""
    invocation_type: str = "RequestResponse"

    @property
    def duration_s(self) -> float:
        return self.ended - self.started


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
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@dataclass
class ExecutionEnvironment:
    function: str
    index: int
    module: ModuleType | None = None
    busy: bool = False
    invocations: int = 0

    @property
    def key(self) -> str:
        return f"{self.function}#{self.index}"


class Throttled(Exception):
    """No execution environment free under the function's reserved concurrency."""


class LambdaRuntime:
    """Runs the deployed functions' handlers in this process, with their template environment."""

    def __init__(
        self,
        sources: dict[str, FunctionSource],
        region: str,
        concurrent: bool = False,
        echo_logs: bool = False,
        log_tail: int = 20_000,
    ) -> None:
        self.sources = sources  # physical function name -> source
        self.region = region
        self.concurrent = concurrent
        self.echo_logs = echo_logs
        self.log_tail = log_tail
        self.invocations: list[Invocation] = []
        self.metrics: list[MetricPoint] = []  # every EMF metric the handlers logged, as CloudWatch got it
        self.async_invoke: Callable[[LambdaFunction, Any], None] | None = None  # set by the stack
        self._pools: dict[str, list[ExecutionEnvironment]] = {}
        self._pool_lock = threading.Lock()
        self._serial = threading.RLock()
        self._stdout = stdout_proxy()

    # -- installation -------------------------------------------------------------------
    def patches(self) -> list[Patch]:
        runtime = self

        def _invoke_lambda(fn: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            return runtime.invoke(fn, event)

        return [
            AttributePatch(
                LambdaFunction,
                "_invoke_lambda",
                _invoke_lambda,
                "moto runs handlers in Docker; here they run in-process",
            ),
        ]

    # -- environments -----------------------------------------------------------------------
    def _acquire(self, fn: LambdaFunction) -> tuple[ExecutionEnvironment, bool]:
        with self._pool_lock:
            pool = self._pools.setdefault(fn.function_name, [])
            for env in pool:
                if not env.busy:
                    env.busy = True
                    return env, env.module is None
            reserved = fn.reserved_concurrency
            if reserved is not None and len(pool) >= int(reserved):
                raise Throttled(f"Rate Exceeded. (reserved concurrency {reserved} of {fn.function_name})")
            env = ExecutionEnvironment(fn.function_name, len(pool), busy=True)
            pool.append(env)
            return env, True

    def _release(self, env: ExecutionEnvironment) -> None:
        with self._pool_lock:
            env.busy = False

    def environments(self, function_name: str) -> list[ExecutionEnvironment]:
        return list(self._pools.get(function_name, []))

    def variables(self, fn: LambdaFunction, request_id: str = "") -> dict[str, str]:
        """What the Lambda runtime sets, plus the function's own variables."""
        env = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": f"offline/{request_id}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
            "_HANDLER": fn.handler,
            # What `sam local invoke` sets; Powertools Tracer disables itself on it.
            "AWS_SAM_LOCAL": "true",
        }
        source = self.sources.get(fn.function_name)
        if source is not None:
            env["LAMBDA_TASK_ROOT"] = str(source.code_dir)
        env.update({k: str(v) for k, v in (fn.environment_vars or {}).items()})
        return env

    def _load(self, source: FunctionSource, env: ExecutionEnvironment) -> ModuleType:
        module_file, _ = source.handler.rsplit(".", 1)
        path = source.code_dir / f"{module_file.replace('.', '/')}.py"
        name = f"lambda_{source.logical_id}" + (f"__env{env.index}" if env.index else "")
        with _INIT_LOCK:
            spec = importlib.util.spec_from_file_location(name, path)
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
        return module

    # -- invocation -------------------------------------------------------------------------
    def invoke(
        self, fn: LambdaFunction, event: Any, invocation_type: str = "RequestResponse"
    ) -> tuple[str, bool, str]:
        source = self.sources.get(fn.function_name)
        if source is None:
            payload = {
                "errorMessage": f"no local source for function {fn.function_name}",
                "errorType": "Runtime.HandlerNotFound",
            }
            return json.dumps(payload), True, ""
        if not source.runtime.startswith("python"):
            payload = {
                "errorMessage": f"runtime {source.runtime} cannot run in-process (python only)",
                "errorType": "Runtime.InvalidRuntime",
            }
            return json.dumps(payload), True, ""
        if isinstance(event, (str, bytes)):
            event = json.loads(event) if event else {}
        guard = contextlib.nullcontext() if self.concurrent else self._serial
        with guard:
            env, cold = self._acquire(fn)
            try:
                return self._run(fn, source, env, cold, event, invocation_type)
            finally:
                self._release(env)

    def _run(
        self,
        fn: LambdaFunction,
        source: FunctionSource,
        env: ExecutionEnvironment,
        cold: bool,
        event: Any,
        invocation_type: str,
    ) -> tuple[str, bool, str]:
        request_id = str(uuid.uuid4())
        buffer = io.StringIO()
        errored = False
        error_type: str | None = None
        started = time.monotonic()
        with self._invocation_scope(fn, source, env, request_id, buffer):
            print(f"START RequestId: {request_id} Version: $LATEST")
            try:
                if env.module is None:
                    env.module = self._load(source, env)
                handler = getattr(env.module, source.handler.rsplit(".", 1)[1])
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
                elapsed = time.monotonic() - started
                if elapsed > float(fn.timeout):
                    errored, error_type = True, "Sandbox.Timedout"
                    payload = _error_payload(
                        f"{request_id} Task timed out after {float(fn.timeout):.2f} seconds",
                        error_type,
                        request_id,
                    )
                elif invocation_type == "RequestResponse" and len(payload.encode()) > MAX_SYNC_RESPONSE:
                    errored, error_type = True, "Function.ResponseSizeTooLarge"
                    payload = _error_payload(
                        "Response payload size exceeded maximum allowed payload size "
                        f"({MAX_SYNC_RESPONSE} bytes).",
                        error_type,
                        request_id,
                    )
            except Exception as exc:  # the Lambda runtime turns any exception into an error payload
                errored = True
                error_type = type(exc).__name__
                tb = traceback.format_exception(exc)
                print("".join(tb), end="")
                payload = _error_payload(str(exc), error_type, request_id, tb)
            elapsed = time.monotonic() - started
            print(f"END RequestId: {request_id}")
            print(f"REPORT RequestId: {request_id}\tDuration: {elapsed * 1000:.2f} ms")
        logs = buffer.getvalue()
        meter = metering.active()
        if meter is not None:
            architecture = (getattr(fn, "architectures", None) or ["x86_64"])[0]
            meter.lambda_invocation(
                fn.function_name, source.logical_id, int(fn.memory_size), architecture, elapsed, logs
            )
        env.invocations += 1
        self.invocations.append(
            Invocation(
                fn.function_name,
                source.logical_id,
                request_id,
                env.index,
                cold,
                started,
                time.monotonic(),
                errored,
                error_type,
                logs[-self.log_tail :],  # keep the tail only: a demo day makes thousands of invocations
                invocation_type,
            )
        )
        self._to_cloudwatch(fn, request_id, logs)
        self.metrics.extend(emf_to_cloudwatch(fn, logs))
        if self.echo_logs:
            self._stdout.real.write(logs)
        return payload, errored, logs

    @contextlib.contextmanager
    def _invocation_scope(
        self,
        fn: LambdaFunction,
        source: FunctionSource,
        env: ExecutionEnvironment,
        request_id: str,
        buffer: io.StringIO,
    ) -> Iterator[None]:
        previous_buffer = getattr(self._stdout.local, "buffer", None)
        previous_env = getattr(_current, "env_key", None)
        previous_fn = faults.current_function()
        with environ.overlay(self.variables(fn, request_id)), contextlib.redirect_stdout(self._stdout):
            self._stdout.local.buffer = buffer
            _current.env_key = env.key
            faults.set_current_function(source.logical_id)
            try:
                yield
            finally:
                self._stdout.local.buffer = previous_buffer
                _current.env_key = previous_env
                faults.set_current_function(previous_fn)

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


@dataclass
class MetricPoint:
    namespace: str
    name: str
    dimensions: dict[str, str]
    values: list[float]
    unit: str | None
    function: str


def emf_to_cloudwatch(fn: LambdaFunction, logs: str) -> list[MetricPoint]:
    """The Embedded Metric Format lines of an invocation's logs, turned into metric data as the
    CloudWatch Logs pipeline does on AWS: one datum per metric and dimension set."""
    from moto.cloudwatch.models import cloudwatch_backends

    points: list[MetricPoint] = []
    for line in logs.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        try:
            document = json.loads(line)
            directives = document["_aws"]["CloudWatchMetrics"]
            moment = datetime.fromtimestamp(float(document["_aws"]["Timestamp"]) / 1000, UTC).replace(
                tzinfo=None
            )
        except (ValueError, KeyError, TypeError):
            continue  # not EMF after all (CloudWatch ignores it too)
        for directive in directives:
            for dimension_set in directive.get("Dimensions") or [[]]:
                dimensions = {d: str(document.get(d, "")) for d in dimension_set}
                for metric in directive.get("Metrics", []):
                    raw = document.get(metric["Name"])
                    values = [float(v) for v in (raw if isinstance(raw, list) else [raw]) if v is not None]
                    if not values:
                        continue
                    points.append(
                        MetricPoint(
                            directive["Namespace"],
                            metric["Name"],
                            dimensions,
                            values,
                            metric.get("Unit"),
                            fn.function_name,
                        )
                    )
                    cloudwatch_backends[fn.account_id][fn.region].put_metric_data(
                        directive["Namespace"],
                        [
                            {
                                "MetricName": metric["Name"],
                                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                                "Values": values,
                                "Unit": metric.get("Unit"),
                                "Timestamp": moment,
                            }
                        ],
                    )
    return points


def _error_payload(message: str, error_type: str, request_id: str, trace: list[str] | None = None) -> str:
    body: dict[str, Any] = {"errorMessage": message, "errorType": error_type, "requestId": request_id}
    if trace is not None:
        body["stackTrace"] = trace
    return json.dumps(body)
