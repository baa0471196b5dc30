"""Usage metering: what a run would be billed for on AWS, counted while it runs.

Counted per run (one deployed stack), in the units AWS bills:

- **Lambda**: every invocation with its measured duration (cold-start import included: AWS bills
  the INIT phase of on-demand functions too) and the function's configured memory and architecture;
  the bytes of its log lines (CloudWatch Logs ingestion).
- **API requests** per service and operation, from a ``before-call`` botocore hook registered the
  way moto registers its stubber (every session: handlers, awswrangler, the Step Functions
  interpreter's service integrations, the emulator's deliveries). Priced units are derived where
  AWS bills by size: S3 request classes, SQS / SNS / EventBridge 64 KB chunks, DynamoDB request
  units from the item sizes (the request's item for writes, the response's items for reads).
- **Lambda event-source mappings** on SQS (receive + delete batch per delivered batch), counted by
  the poller, which reads moto's backend directly.
- **Step Functions**: transitions per execution are read from the execution history at the end
  (``step_functions``), with the machine's type.

Who made a call decides whether it is the pipeline's: calls from the main thread outside any Lambda
invocation are the test or demo *driving* the stack (uploading the day, reading results back) and
are kept apart in ``driver``; so are calls that name an ``ignore`` resource (observer queues a test
adds). With no meter active the hooks return at once.
"""

from __future__ import annotations

import json
import math
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from offline_runtime.emulator.faults import current_function
from offline_runtime.emulator.patches import CallbackPatch, Patch, hook_every_session

CHUNK_64KB = 64 * 1024
DDB_WRITE_UNIT = 1024
DDB_READ_UNIT = 4096

# S3 request classes (https://aws.amazon.com/s3/pricing/ "Requests & data retrievals")
_S3_FREE_PREFIXES = ("Delete", "Abort")
_S3_TIER1_PREFIXES = ("Put", "Copy", "Create", "Complete", "Upload", "List", "Post", "Restore")


def s3_class(operation: str) -> str:
    """``tier1`` (PUT, COPY, POST, LIST), ``free`` (DELETE, abort), else ``tier2`` (GET, HEAD, ...)."""
    if operation.startswith(_S3_FREE_PREFIXES):
        return "free"
    if operation.startswith(_S3_TIER1_PREFIXES):
        return "tier1"
    return "tier2"


def chunks_64kb(size: int) -> int:
    """SQS, SNS and EventBridge bill every 64 KB chunk of a payload as one request / event."""
    return max(1, math.ceil(size / CHUNK_64KB))


# -- DynamoDB item sizes (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html)
_TYPE_TAGS = {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}


def _value_size(value: Any) -> int:
    """Approximate stored size of one attribute value (typed DynamoDB JSON or plain Python)."""
    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _TYPE_TAGS:
        tag, inner = next(iter(value.items()))
        if tag == "S":
            return len(str(inner).encode())
        if tag == "N":
            return len(str(inner).lstrip("-").replace(".", "")) // 2 + 2
        if tag == "B":
            return len(inner) if isinstance(inner, (bytes, bytearray)) else math.ceil(len(str(inner)) * 3 / 4)
        if tag in ("BOOL", "NULL"):
            return 1
        if tag == "M":
            return 3 + item_size(inner)
        if tag == "L":
            return 3 + sum(1 + _value_size(v) for v in inner)
        return sum(_value_size({tag[0]: v}) for v in inner)  # SS / NS / BS
    if isinstance(value, dict):
        return 3 + item_size(value)
    if isinstance(value, (list, tuple, set)):
        return 3 + sum(1 + _value_size(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    return len(str(value).encode())


def item_size(item: dict[str, Any] | None) -> int:
    """Attribute names plus values, as DynamoDB sizes an item."""
    if not item:
        return 0
    return sum(len(str(name).encode()) + _value_size(v) for name, v in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / DDB_WRITE_UNIT))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / DDB_READ_UNIT))
    return float(units) if consistent else units / 2


@dataclass
class LambdaUse:
    """One function's invocations: durations in ms (as measured), memory and architecture."""

    logical_id: str
    memory_mb: int
    architecture: str
    durations_ms: list[float] = field(default_factory=list)
    log_bytes: int = 0
    errors: int = 0

    @property
    def invocations(self) -> int:
        return len(self.durations_ms)

    @property
    def billed_ms(self) -> int:
        """Lambda bills duration rounded up to the next millisecond, per invocation."""
        return sum(math.ceil(d) for d in self.durations_ms)

    @property
    def gb_seconds(self) -> float:
        return self.memory_mb / 1024 * self.billed_ms / 1000


class Meter:
    """The counts of one run (thread-safe; ``to_dict`` is the JSON usage record)."""

    def __init__(self, ignore: tuple[str, ...] = ()) -> None:
        self.ignore = ignore
        self.requests: Counter[tuple[str, str]] = Counter()  # (service, operation) -> calls
        self.by_caller: Counter[tuple[str, str, str]] = Counter()  # (caller, service, operation)
        self.driver: Counter[tuple[str, str]] = Counter()  # calls the test / demo made itself
        self.units: Counter[str] = Counter()  # priced units: s3.tier1, sqs.requests, ddb.wru ...
        self.functions: dict[str, LambdaUse] = {}
        self._lock = threading.Lock()

    # -- recording --------------------------------------------------------------------------
    def lambda_invocation(
        self, function: str, logical_id: str, memory_mb: int, architecture: str, duration_s: float, logs: str
    ) -> None:
        log_bytes = sum(len(line.encode()) for line in logs.splitlines() if line)
        with self._lock:
            use = self.functions.get(function)
            if use is None:
                use = self.functions[function] = LambdaUse(logical_id, memory_mb, architecture)
            use.durations_ms.append(duration_s * 1000)
            use.log_bytes += log_bytes

    def count(self, service: str, operation: str, caller: str, units: dict[str, float]) -> None:
        with self._lock:
            self.requests[(service, operation)] += 1
            self.by_caller[(caller, service, operation)] += 1
            for unit, n in units.items():
                self.units[unit] += n  # type: ignore[assignment]  # Counter of floats (DynamoDB half units)

    def count_driver(self, service: str, operation: str) -> None:
        with self._lock:
            self.driver[(service, operation)] += 1

    def esm_sqs(self, operation: str, payload_bytes: int = 0) -> None:
        """A Lambda event-source mapping's own SQS request (the poller reads moto directly)."""
        self.count("sqs", operation, "lambda-poller", {"sqs.requests": chunks_64kb(payload_bytes)})

    # -- reading ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            functions = {
                name: {
                    "logical_id": u.logical_id,
                    "memory_mb": u.memory_mb,
                    "architecture": u.architecture,
                    "invocations": u.invocations,
                    "billed_ms": u.billed_ms,
                    "gb_seconds": round(u.gb_seconds, 6),
                    "log_bytes": u.log_bytes,
                }
                for name, u in sorted(self.functions.items())
            }
            by_service: dict[str, dict[str, int]] = defaultdict(dict)
            for (service, op), n in sorted(self.requests.items()):
                by_service[service][op] = n
            callers: dict[str, int] = Counter()
            for (caller, _, _), n in self.by_caller.items():
                callers[caller] += n
            return {
                "lambda": functions,
                "requests": dict(by_service),
                "requests_by_caller": dict(sorted(callers.items())),
                "units": {k: round(v, 3) for k, v in sorted(self.units.items())},
                "driver_requests_excluded": sum(self.driver.values()),
            }


# -- what a call costs, in billed units -----------------------------------------------------
def _body(params: dict[str, Any]) -> dict[str, Any]:
    body = params.get("body")
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body.startswith("{"):
        try:
            parsed = json.loads(body)
            return parsed if isinstance(parsed, dict) else {}
        except ValueError:
            return {}
    return body if isinstance(body, dict) else {}


def _body_size(params: dict[str, Any]) -> int:
    body = params.get("body")
    if isinstance(body, (bytes, bytearray, str)):
        return len(body)
    if isinstance(body, dict):  # query protocol (SNS, SQS via query): form fields
        return sum(len(str(k)) + len(str(v)) for k, v in body.items())
    return 0


def _batch_entry_sizes(params: dict[str, Any]) -> list[int]:
    """Sizes of a PublishBatch's entries (JSON body, or query-protocol form fields)."""
    body = params.get("body")
    if isinstance(body, dict):  # PublishBatchRequestEntries.member.<n>.<field> = value
        sizes: Counter[str] = Counter()
        for key, value in body.items():
            parts = str(key).split(".")
            if parts[0] == "PublishBatchRequestEntries" and len(parts) > 2:
                sizes[parts[2]] += len(str(value).encode())
        return list(sizes.values()) or [_body_size(params)]
    entries = _body(params).get("PublishBatchRequestEntries") or []
    return [len(json.dumps(e)) for e in entries] or [_body_size(params)]


def request_units(service: str, operation: str, params: dict[str, Any]) -> dict[str, float]:
    """Billed units of one request, from its serialized request dict (before-call ``params``)."""
    if service == "s3":
        return {f"s3.{s3_class(operation)}": 1}
    if service == "sqs":
        return {"sqs.requests": chunks_64kb(_body_size(params))}
    if service == "sns":
        if operation == "Publish":
            return {"sns.publish_chunks": chunks_64kb(_body_size(params))}
        if operation == "PublishBatch":
            return {"sns.publish_chunks": sum(chunks_64kb(n) for n in _batch_entry_sizes(params))}
        return {}
    if service == "events" and operation == "PutEvents":
        entries = _body(params).get("Entries") or []
        return {"events.custom_chunks": sum(chunks_64kb(len(json.dumps(e))) for e in entries)}
    if service == "dynamodb":
        return _dynamodb_write_units(operation, _body(params))
    if service == "glue":
        return {"glue.catalog_requests": 1}
    if service == "athena" and operation == "StartQueryExecution":
        return {"athena.queries": 1}
    if service == "cloudwatch":
        return {"cloudwatch.requests": 1}
    if service == "logs" and operation == "PutLogEvents":
        events = _body(params).get("logEvents") or []
        return {"logs.ingested_bytes": sum(len(str(e.get("message", ""))) for e in events)}
    if service == "kms":
        return {"kms.requests": 1}
    return {}


def _dynamodb_write_units(operation: str, body: dict[str, Any]) -> dict[str, float]:
    if operation == "PutItem":
        return {"ddb.wru": write_units(item_size(body.get("Item")))}
    if operation == "UpdateItem":  # the item's new size is not known before the call: key + values
        values = body.get("ExpressionAttributeValues") or {}
        return {"ddb.wru": write_units(item_size(body.get("Key")) + item_size(values))}
    if operation == "DeleteItem":
        return {"ddb.wru": write_units(item_size(body.get("Key")))}
    if operation == "BatchWriteItem":
        units = 0
        for requests in (body.get("RequestItems") or {}).values():
            for r in requests:
                item = (r.get("PutRequest") or {}).get("Item") or (r.get("DeleteRequest") or {}).get("Key")
                units += write_units(item_size(item))
        return {"ddb.wru": units}
    if operation == "TransactWriteItems":  # transactions cost two units per item
        units = 0
        for t in body.get("TransactItems") or []:
            for kind in ("Put", "Update", "Delete", "ConditionCheck"):
                if kind in t:
                    part = t[kind]
                    units += 2 * write_units(
                        item_size(part.get("Item") or part.get("Key"))
                        + item_size(part.get("ExpressionAttributeValues"))
                    )
        return {"ddb.wru": units}
    return {}


def dynamodb_read_units(operation: str, request: dict[str, Any], parsed: dict[str, Any]) -> float:
    """Read units from the response's items (eventually consistent: half)."""
    consistent = bool(request.get("ConsistentRead"))
    if operation == "GetItem":
        return read_units(item_size(parsed.get("Item")), consistent)
    if operation in ("Query", "Scan"):  # one read size for all the items a page returned
        return read_units(sum(item_size(i) for i in parsed.get("Items") or []), consistent)
    if operation == "BatchGetItem":  # ConsistentRead is per table, inside RequestItems
        tables = request.get("RequestItems") or {}
        return sum(
            read_units(item_size(i), bool((tables.get(name) or {}).get("ConsistentRead")))
            for name, items in (parsed.get("Responses") or {}).items()
            for i in items
        )
    if operation == "TransactGetItems":
        return sum(2 * read_units(item_size(r.get("Item")), True) for r in parsed.get("Responses") or [])
    return 0.0


# -- the hooks -----------------------------------------------------------------------------
_active: Meter | None = None
_DDB_READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")
_registered = False
_CONTEXT_KEY = "offline_runtime_meter"


def active() -> Meter | None:
    return _active


def _caller() -> str | None:
    """The function running on this thread (logical id), ``delivery`` / ``service`` for AWS's own
    work (EventBridge targets, the Step Functions interpreter), None for the driver (the main
    thread outside any invocation)."""
    function = current_function()
    if function is not None:
        return function
    thread = threading.current_thread()
    if thread is threading.main_thread():
        return None
    return "delivery" if thread.name.startswith("offline-dispatcher") else "service"


def _ignored(meter: Meter, params: dict[str, Any]) -> bool:
    """A call naming an ignored resource (in its URL, query or the start of its body)."""
    if not meter.ignore:
        return False
    body = params.get("body")
    if isinstance(body, (bytes, bytearray)):
        body = body[:2048].decode("utf-8", "replace")
    where = (params.get("url", ""), params.get("url_path", ""), params.get("query_string", ""))
    text = " ".join(map(str, where)) + " " + str(body)[:2048]
    return any(name in text for name in meter.ignore)


def _before_call(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    meter = _active
    if meter is None:
        return
    service = model.service_model.service_name
    caller = _caller()
    if caller is None or _ignored(meter, params):
        meter.count_driver(service, model.name)
        return
    meter.count(service, model.name, caller, request_units(service, model.name, params))
    if service == "dynamodb" and model.name in _DDB_READS:
        context[_CONTEXT_KEY] = _body(params)


def _after_call(model: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    meter = _active
    request = context.pop(_CONTEXT_KEY, None)
    if meter is None or request is None:
        return
    units = dynamodb_read_units(model.name, request, parsed)
    if units:
        with meter._lock:
            meter.units["ddb.rru"] += units  # type: ignore[assignment]


def register() -> None:
    """Hook the meter into every botocore session made from now on (once; see faults.register)."""
    global _registered
    if _registered:
        return
    hook_every_session([("before-call", _before_call), ("after-call", _after_call)])
    _registered = True


def patch(meter: Meter) -> Patch:
    def on() -> None:
        global _active
        _active = meter

    def off() -> None:
        global _active
        if _active is meter:
            _active = None

    return CallbackPatch(on, off, "usage metering: what the run would be billed for on AWS")


# -- Step Functions, from the executions' history -------------------------------------------
def step_functions(stack: Any) -> dict[str, Any]:
    """Per state machine: type, executions, state transitions (``*StateEntered`` events, retries
    of a task included as AWS counts them) and each execution's duration, from moto's history."""
    sfn = stack.client("stepfunctions")
    out: dict[str, Any] = {}
    for logical in stack.state_machine_logical_ids():
        arn = stack.physical[logical]
        machine_type = sfn.describe_state_machine(stateMachineArn=arn).get("type", "STANDARD")
        executions: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
            for e in page["executions"]:
                history = _history(sfn, e["executionArn"])
                transitions = sum(1 for h in history if h["type"].endswith("StateEntered"))
                retries = sum(1 for h in history if h["type"] in ("TaskScheduled", "LambdaFunctionScheduled"))
                tasks = sum(1 for h in history if h["type"] in ("TaskStateEntered",))
                stop = e.get("stopDate") or (history[-1]["timestamp"] if history else e["startDate"])
                executions.append(
                    {
                        "transitions": transitions + max(0, retries - tasks),
                        "duration_ms": max(0.0, (stop - e["startDate"]).total_seconds() * 1000),
                        "status": e["status"],
                    }
                )
        out[logical] = {
            "type": machine_type,
            "executions": len(executions),
            "transitions": sum(x["transitions"] for x in executions),
            "durations_ms": [round(x["duration_ms"], 1) for x in executions],
            "max_duration_ms": round(max((x["duration_ms"] for x in executions), default=0.0), 1),
        }
    return out


def _history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    token = None
    while True:
        kwargs = {"executionArn": arn, "maxResults": 1000, **({"nextToken": token} if token else {})}
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            return events


def usage(stack: Any, meter: Meter) -> dict[str, Any]:
    """The run's usage record: the meter's counts, Step Functions, SNS deliveries by protocol."""
    record = meter.to_dict()
    record["step_functions"] = step_functions(stack)
    deliveries: Counter[str] = Counter()
    sns = getattr(stack, "sns", None)
    for m in getattr(sns, "outbox", []) or []:
        deliveries[m.protocol] += 1
    record["sns_deliveries"] = dict(deliveries)
    return record
