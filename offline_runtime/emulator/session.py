"""One offline AWS account with the template deployed: what tests, the demo and the CLI share."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from moto import mock_aws

from offline_runtime.emulator.deploy import MOTO_CONFIG, ROOT, OfflineStack

EXAMPLE_NAME = re.compile(r"\b[a-z0-9-]+?-([a-z0-9]+)-example\b")


class _SkippedTypes(logging.Filter):
    """moto's CloudFormation logs every resource type it skips; the stack module creates those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "No Moto CloudFormation support" not in record.getMessage()


logging.getLogger("moto").addFilter(_SkippedTypes())
logging.getLogger("moto.cloudformation").addFilter(_SkippedTypes())


@contextmanager
def offline_aws(
    parameters: dict[str, str] | None = None, echo_logs: bool = False, root: Path = ROOT
) -> Iterator[OfflineStack]:
    with mock_aws(config=MOTO_CONFIG):  # type: ignore[arg-type]
        stack = OfflineStack(root=root, parameters=parameters, echo_logs=echo_logs).deploy()
        try:
            yield stack
        finally:
            stack.teardown()


def localise(stack: OfflineStack, event: Any) -> Any:
    """Example physical names in events/ (``<stack>-<logicalid lowercased>-example``, the shape
    CloudFormation gives generated names) -> this offline stack's physical names."""
    by_lower = {logical.lower(): physical for logical, physical in stack.physical.items()}

    def swap(match: re.Match[str]) -> str:
        return by_lower.get(match.group(1), match.group(0))

    return json.loads(EXAMPLE_NAME.sub(swap, json.dumps(event)))


def disable_rules(stack: OfflineStack) -> None:
    """Like `sam local invoke`: only the function asked for runs; events it emits are accepted
    by the bus, but no rule delivers them."""
    events = stack.client("events")
    for bus in events.list_event_buses()["EventBuses"]:
        for rule in events.list_rules(EventBusName=bus["Name"])["Rules"]:
            events.disable_rule(Name=rule["Name"], EventBusName=bus["Name"])


def invoke(stack: OfflineStack, logical_id: str, event: Any) -> tuple[Any, bool, str]:
    """Synchronous invoke through moto's Lambda API (and so through the in-process seam)."""
    fn_name = stack.physical[logical_id]
    assert stack.lambdas is not None
    before = len(stack.lambdas.invocations)
    resp = stack.client("lambda").invoke(FunctionName=fn_name, Payload=json.dumps(event).encode())
    payload = json.loads(resp["Payload"].read() or b"null")
    logs = "".join(i.logs for i in stack.lambdas.invocations[before:])
    return payload, "FunctionError" in resp, logs


def run_state_machine(
    stack: OfflineStack, logical_id: str, execution_input: Any, timeout_s: float = 120
) -> dict[str, Any]:
    sfn = stack.client("stepfunctions")
    arn = sfn.start_execution(
        stateMachineArn=stack.physical[logical_id],
        name=f"offline-{time.time_ns()}",
        input=json.dumps(execution_input),
    )["executionArn"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING":
            return dict(desc)
        time.sleep(0.1)
    raise TimeoutError(f"execution {arn} still running after {timeout_s}s")


def state_path(execution_arn: str, stack: OfflineStack) -> list[str]:
    """Names of the states an execution entered, in order."""
    history = stack.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, maxResults=1000
    )["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def queue_arn(stack: OfflineStack, url: str) -> str:
    return str(
        stack.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    )


def observe_bus(stack: OfflineStack, name: str, pattern: dict[str, Any] | None = None) -> str:
    """An SQS queue receiving the pipeline bus's events (delivered by moto's own EventBridge)."""
    url = str(stack.client("sqs").create_queue(QueueName=name)["QueueUrl"])
    events = stack.client("events")
    bus = stack.outputs["PipelineBusName"]
    events.put_rule(
        Name=name,
        EventBusName=bus,
        EventPattern=json.dumps(pattern or {"source": [stack.params["EventSource"]]}),
    )
    events.put_targets(
        Rule=name, EventBusName=bus, Targets=[{"Id": "observer", "Arn": queue_arn(stack, url)}]
    )
    return url


def observe_topic(stack: OfflineStack, topic_arn: str, name: str) -> str:
    """An SQS queue subscribed to an SNS topic (moto's own delivery, filter policies included)."""
    url = str(stack.client("sqs").create_queue(QueueName=name)["QueueUrl"])
    stack.client("sns").subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn(stack, url))
    return url


def drain(stack: OfflineStack, url: str) -> list[dict[str, Any]]:
    sqs = stack.client("sqs")
    out: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
