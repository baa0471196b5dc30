"""An offline AWS account with a SAM template deployed into it: the emulator's one entry point.

    with offline_aws(Path("template.yaml"), parameters={"Stage": "dev"}) as stack:
        stack.client("s3").put_object(Bucket=stack.outputs["RawBucketName"], Key=..., Body=...)
        stack.wait_idle()            # everything the upload set off has run

Deploying: the template is packaged and translated (``template``), its resources created through
moto's APIs (``cloudformation`` + ``resources``), and the emulator's parts are installed together
(one ``PatchSet``): the in-process Lambda runtime, asynchronous invocation, EventBridge, SNS, SQS
and DynamoDB-stream delivery, offline Athena, payload limits, the clock, and the named moto
corrections (``compat``). Teardown removes all of them, whatever happened.

Options: ``concurrency`` (1: one invocation at a time, deterministic; N: up to N asynchronous
deliveries at once, invocations overlapping where AWS would run them concurrently), fault
injection through ``stack.faults`` (``faults.FaultInjector``), and ``stack.clock`` / ``wait_idle``
for everything that waits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID

from offline_runtime.emulator import clients, compat, environ, faults, limits, metering, resources, speed
from offline_runtime.emulator.athena import OfflineAthena
from offline_runtime.emulator.clock import Clock
from offline_runtime.emulator.cloudformation import Stack
from offline_runtime.emulator.dispatcher import Dispatcher
from offline_runtime.emulator.eventbridge import EventBridgeDelivery
from offline_runtime.emulator.invoker import AsyncInvoker
from offline_runtime.emulator.lambda_runtime import LambdaRuntime
from offline_runtime.emulator.patches import AttributePatch, CallbackPatch, PatchSet
from offline_runtime.emulator.schedules import Schedules
from offline_runtime.emulator.sns import SnsDelivery
from offline_runtime.emulator.sqs import SqsPoller
from offline_runtime.emulator.streams import StreamPoller
from offline_runtime.emulator.template import ARTIFACT_BUCKET, load_template, package, translate

assert resources  # the providers register on import
MOTO_CONFIG: dict[str, Any] = {
    "stepfunctions": {"execute_state_machine": True},
    "core": {"service_whitelist": None},
}
faults.register()
limits.register()
metering.register()


def _share_botocore_loader() -> None:
    """One parsed copy of the AWS service models for the whole process.

    Every botocore session parses the service models it needs (hundreds of KB of JSON each);
    ``mock_aws`` starts every offline account with a new default session, and awswrangler makes
    sessions of its own. The models are the same files, so sessions share one loader: a speed-up
    only (~0.6 s per deploy in a warm process). moto keeps its own loader (it adds moto extras) and
    caches what it parsed per process already."""
    import botocore.loaders
    import botocore.session

    shared = botocore.loaders.create_loader()

    def create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
        return shared if not search_path_string else botocore.loaders.create_loader(search_path_string)

    botocore.session.create_loader = create_loader  # type: ignore[assignment]


_share_botocore_loader()


class _MotoNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "No Moto CloudFormation support" not in record.getMessage()


logging.getLogger("moto").addFilter(_MotoNoise())


class OfflineStack:
    """A template deployed into moto (call inside an active ``moto.mock_aws``; see offline_aws)."""

    def __init__(
        self,
        template: Path,
        parameters: dict[str, str] | None = None,
        region: str = "us-east-1",
        stack_name: str = "offline",
        echo_logs: bool = False,
        concurrency: int = 1,
        use_cache: bool = True,
        only: list[str] | None = None,
    ) -> None:
        self.only = only
        self.template_path = template.resolve()
        self.root = self.template_path.parent
        self.parameters = dict(parameters or {})
        self.region = region
        self.account = DEFAULT_ACCOUNT_ID
        self.stack_name = stack_name
        self.echo_logs = echo_logs
        self.concurrency = concurrency
        self.use_cache = use_cache
        self.clock = Clock()
        self.dispatcher = Dispatcher(self.clock, workers=concurrency)
        self.faults = faults.INJECTOR
        self.lambdas = LambdaRuntime({}, region, concurrent=concurrency > 1, echo_logs=echo_logs)
        self.invoker = AsyncInvoker(self.lambdas, self.dispatcher, self.clock, region)
        self.delivery = EventBridgeDelivery(self.invoker, self.dispatcher, self.clock, region)
        self.sns = SnsDelivery(self.invoker, self.clock, region)
        self.sqs = SqsPoller(self.lambdas, self.dispatcher, self.clock, concurrent=concurrency > 1)
        self.streams = StreamPoller(self.lambdas, self.dispatcher, self.clock, region)
        self.athena = OfflineAthena()
        self.schedules = Schedules(self)
        self.meter = metering.Meter()  # what the run would be billed for (``metering.usage``)
        self.cfn: Stack
        self.translated: dict[str, Any] = {}
        self.deploy_seconds = 0.0
        self._patches = PatchSet()
        self._sys_path: list[str] = []

    # -- deploy / teardown --------------------------------------------------------------------
    _active: OfflineStack | None = None  # one offline account at a time: the patches are process-wide

    def deploy(self) -> OfflineStack:
        if OfflineStack._active is not None:
            raise RuntimeError(
                f"an offline stack ({OfflineStack._active.stack_name}) is deployed already in this process; "
                "tear it down first (moto and the emulator's patches are process-wide)"
            )
        started = time.monotonic()
        os.environ["AWS_DEFAULT_REGION"] = self.region  # samtranslator and handlers read it
        self._patches = PatchSet(
            [
                clients.patch(),
                metering.patch(self.meter),
                environ.patches(),
                *compat.patches(self.clock),
                *speed.patches(),
                *self.lambdas.patches(),
                *self.invoker.patches(),
                *self.delivery.patches(),
                *self.sns.patches(),
                *self.sqs.patches(),
                *self.streams.patches(),
                self._s3_lambda_notifications(),
                CallbackPatch(self.athena.install, self.athena.uninstall, "moto's Athena runs no SQL"),
                CallbackPatch(_limits_on, _limits_off, "AWS payload limits"),
                CallbackPatch(self.dispatcher.start, self.dispatcher.stop, "asynchronous deliveries"),
            ]
        )
        self._patches.install()
        OfflineStack._active = self
        try:
            self._create()
        except BaseException:
            self.teardown()
            raise
        self.deploy_seconds = time.monotonic() - started
        return self

    def _create(self) -> None:
        packaged = package(load_template(self.template_path), self.root)
        declared = packaged.template.get("Parameters", {})
        values = {k: str(v.get("Default", "")) for k, v in declared.items() if "Default" in v}
        values.update(self.parameters)
        self.translated = translate(packaged.template, values, self.region, use_cache=self.use_cache)
        if packaged.artifacts:  # what `sam package` uploads: the artifact bucket the stack reads
            s3 = self.client("s3")
            s3.create_bucket(Bucket=ARTIFACT_BUCKET)
            for key, body in packaged.artifacts.items():
                s3.put_object(Bucket=ARTIFACT_BUCKET, Key=key, Body=body)
        self.cfn = Stack(
            self.stack_name,
            self.translated,
            self.parameters,
            self.region,
            self.account,
            context={"functions": packaged.functions, "layers": packaged.layers},
        )
        self.cfn.deploy(self.only)
        self.lambdas.sources.update(self.cfn.context.get("sources", {}))
        for layer in self.cfn.context.get("layer_dirs", []):
            for candidate in (layer / "python", layer):
                if candidate.is_dir() and str(candidate) not in sys.path:
                    sys.path.insert(0, str(candidate))
                    self._sys_path.append(str(candidate))
                    break

    def teardown(self) -> None:
        self._patches.uninstall()
        if OfflineStack._active is self:
            OfflineStack._active = None
        for entry in self._sys_path:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)
        self._sys_path.clear()
        self.faults.clear()

    def _s3_lambda_notifications(self) -> AttributePatch:
        """S3 -> Lambda notifications: AWS invokes asynchronously; moto synchronously, errors dropped."""
        from moto.awslambda.utils import get_backend
        from moto.s3 import notifications

        invoker = self.invoker

        def _invoke_awslambda(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
            fn = get_backend(account_id, region_name).get_function(fn_arn)
            invoker.invoke_async(fn, event_body)

        return AttributePatch(
            notifications, "_invoke_awslambda", _invoke_awslambda, "S3 invokes Lambda asynchronously"
        )

    # -- what tests and tools read ----------------------------------------------------------------
    @property
    def physical(self) -> dict[str, str]:
        return self.cfn.physical

    @property
    def outputs(self) -> dict[str, Any]:
        return self.cfn.outputs

    @property
    def params(self) -> dict[str, Any]:
        return self.cfn.parameters

    @property
    def resource_types(self) -> dict[str, str]:
        return {k: r.type for k, r in self.cfn.resources.items()}

    @property
    def unapplied_bucket_policies(self) -> dict[str, Any]:
        return dict(self.cfn.context.get("unapplied_bucket_policies", {}))

    def client(self, service: str) -> Any:
        return clients.client(service, self.region)

    def function_arn(self, logical: str) -> str:
        return str(self.cfn.resources[logical].attributes["Arn"])

    def rule_name(self, logical: str) -> str:
        """A rule's name (its physical id is ``<bus>|<rule>`` for a rule on a custom bus, as on AWS)."""
        return self.physical[logical].split("|")[-1]

    def function_logical_ids(self) -> list[str]:
        return sorted(r.logical_id for r in self.cfn.of_type("AWS::Lambda::Function"))

    def state_machine_logical_ids(self) -> list[str]:
        return sorted(r.logical_id for r in self.cfn.of_type("AWS::StepFunctions::StateMachine"))

    # -- running ----------------------------------------------------------------------------------
    def invoke(
        self, logical_id: str, event: Any, invocation_type: str = "RequestResponse"
    ) -> tuple[Any, bool, str]:
        """Invoke through the Lambda API (and so through limits, faults and the runtime)."""
        before = len(self.lambdas.invocations)
        resp = self.client("lambda").invoke(
            FunctionName=self.physical[logical_id],
            Payload=json.dumps(event).encode(),
            InvocationType=invocation_type,
        )
        raw = resp["Payload"].read()
        payload = json.loads(raw) if raw else None
        logs = "".join(i.logs for i in self.lambdas.invocations[before:])
        return payload, "FunctionError" in resp, logs

    def start_execution(self, logical_id: str, execution_input: Any) -> str:
        arn = self.physical[logical_id]
        return str(
            self.client("stepfunctions").start_execution(
                stateMachineArn=arn, name=f"offline-{uuid.uuid4().hex}", input=json.dumps(execution_input)
            )["executionArn"]
        )

    def running_executions(self) -> int:
        from moto.stepfunctions.models import stepfunctions_backends
        from moto.stepfunctions.parser.models import stepfunctions_parser_backends

        count = 0
        for backends in (stepfunctions_parser_backends, stepfunctions_backends):
            try:
                backend = backends[self.account][self.region]
            except KeyError:
                continue
            for machine in list(getattr(backend, "state_machines", [])):
                for execution in list(machine.executions):
                    try:
                        running = execution.status == "RUNNING"
                    except AttributeError:  # moto's execution is being created (no status object yet)
                        running = True
                    count += running
        return count

    def wait_idle(self, timeout_s: float = 600) -> None:
        """Until no delivery is pending and no execution is running (emulated waits are skipped)."""
        self.dispatcher.wait_idle(timeout_s, extra_busy=lambda: self.running_executions() > 0)

    @property
    def errors(self) -> list[str]:
        """Bugs in the emulator's own work (never in handlers): a test should assert none."""
        return list(self.dispatcher.errors)


def _limits_on() -> None:
    limits.Limits.enabled = True


def _limits_off() -> None:
    limits.Limits.enabled = False


@contextlib.contextmanager
def offline_aws(
    template: Path,
    parameters: dict[str, str] | None = None,
    echo_logs: bool = False,
    concurrency: int = 1,
    stack_name: str = "offline",
    use_cache: bool = True,
    only: list[str] | None = None,
) -> Iterator[OfflineStack]:
    """A fresh offline account (moto) with ``template`` deployed (or only what ``only`` needs)."""
    with mock_aws(config=MOTO_CONFIG):  # type: ignore[call-overload]  # moto's DefaultConfig is a TypedDict
        stack = OfflineStack(
            template,
            parameters=parameters,
            echo_logs=echo_logs,
            concurrency=concurrency,
            stack_name=stack_name,
            use_cache=use_cache,
            only=only,
        ).deploy()
        try:
            yield stack
        finally:
            stack.teardown()
