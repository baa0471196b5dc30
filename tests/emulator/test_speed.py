"""The speed patches (offline_runtime/emulator/speed.py) remove repeated work only: each is shown
to give the same result as the unpatched code, and the one that changes what is sent (no SigV4
signature outside S3) is pinned to the services it applies to."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import boto3
from botocore import httpsession
from moto import mock_aws
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from offline_runtime.emulator import speed
from offline_runtime.emulator.patches import AttributePatch, PatchSet
from offline_runtime.emulator.session import run_state_machine
from offline_runtime.emulator.stack import OfflineStack

PASS_ONLY = json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
WITH_MAP = json.dumps(
    {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}},
                "End": True,
            }
        },
    }
)


class _Counting:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, definition: str) -> tuple[str, int]:
        self.calls += 1
        return (definition, self.calls)


def test_parse_cache_parses_a_definition_once_and_a_map_definition_every_time() -> None:
    parse = _Counting()
    cache = speed.ParseCache(parse)
    assert cache(PASS_ONLY) is cache(PASS_ONLY)
    assert parse.calls == 1 and cache.misses == 1
    first, second = cache(WITH_MAP), cache(WITH_MAP)
    assert first != second and parse.calls == 3  # Map states keep run state: never shared


def test_parse_cache_does_not_keep_a_definition_that_fails_to_parse() -> None:
    calls: list[str] = []

    def failing(definition: str) -> Any:
        calls.append(definition)
        raise ValueError("syntax")

    cache = speed.ParseCache(failing)
    for _ in range(2):
        with contextlib.suppress(ValueError):
            cache(PASS_ONLY)
    assert len(calls) == 2 and cache.misses == 0


def test_executions_of_one_state_machine_share_one_parse(fresh_orders: OfflineStack) -> None:
    cache = vars(AmazonStateLanguageParser)["parse"].__func__
    assert isinstance(cache, speed.ParseCache)
    before = cache.misses
    outputs = [
        run_state_machine(fresh_orders, "OrderFlow", {"order_id": f"p-{n}", "items": [{"price": "5"}]})
        for n in range(3)
    ]
    assert [o["status"] for o in outputs] == ["SUCCEEDED"] * 3
    assert cache.misses - before <= 1  # at most the first execution of this definition parsed it
    assert [json.loads(o["output"])["order_id"] for o in outputs] == ["p-0", "p-1", "p-2"]


def _authorization_headers(service: str, call: str, **params: Any) -> list[bytes | None]:
    seen: list[bytes | None] = []
    client = boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]

    def capture(request: Any, **_: Any) -> None:
        seen.append(request.headers.get("Authorization"))

    client.meta.events.register_first("before-send", capture)
    getattr(client, call)(**params)
    return seen


def test_requests_outside_s3_go_unsigned_and_s3_requests_stay_signed() -> None:
    with mock_aws():
        assert _authorization_headers("sqs", "list_queues")[0] is not None  # moto alone: signed
        with PatchSet(speed.patches()):
            assert _authorization_headers("sqs", "list_queues") == [None]
            assert _authorization_headers("dynamodb", "list_tables") == [None]
            signed = _authorization_headers("s3", "list_buckets")
            assert signed and signed[0] is not None and signed[0].startswith(b"AWS4-HMAC-SHA256")
        assert _authorization_headers("sqs", "list_queues")[0] is not None  # uninstalled: signed


def test_clients_of_one_session_share_a_class_and_a_tls_context_and_answer_alike() -> None:
    with mock_aws():
        session = boto3.session.Session(region_name="us-east-1")
        plain = session.client("dynamodb")
        plain.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        plain.put_item(TableName="t", Item={"pk": {"S": "a"}, "n": {"N": "1"}})
        expected = plain.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"]
        with PatchSet(speed.patches()):
            one, two = session.client("dynamodb"), session.client("dynamodb")
            assert type(one) is type(two)
            assert type(session.client("sqs")) is not type(one)
            other = boto3.session.Session(region_name="us-east-1").client("dynamodb")
            assert type(other) is not type(one)  # another session's handlers: a class of its own
            assert one.get_item(TableName="t", Key={"pk": {"S": "a"}})["Item"] == expected
            assert httpsession.create_urllib3_context() is httpsession.create_urllib3_context()
        assert type(session.client("dynamodb")) is not type(session.client("dynamodb"))


def test_attribute_patch_restores_a_static_method_and_removes_an_inherited_one() -> None:
    class Base:
        @staticmethod
        def parse(text: str) -> str:
            return text

        def shared(self) -> str:
            return "base"

    class Child(Base):
        pass

    static = AttributePatch(Base, "parse", staticmethod(lambda text: text.upper()), "test")
    inherited = AttributePatch(Child, "shared", lambda self: "child", "test")
    with PatchSet([static, inherited]):
        assert Base.parse("x") == "X" and Child().shared() == "child"
    assert isinstance(vars(Base)["parse"], staticmethod) and Base.parse("x") == "x"
    assert "shared" not in vars(Child) and Child().shared() == "base"


def _conditional_writes(client: Any) -> list[str]:
    """A run of conditional writes and conditional transactions: what each answered."""
    from botocore.exceptions import ClientError

    client.create_table(
        TableName="c",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    outcomes: list[str] = []
    for version in (0, 1, 1, 2, 0):  # new, update, stale, update, "new" again: refused
        condition = "attribute_not_exists(pk)" if version == 0 else "version = :v"
        values = {":v": {"N": str(version)}} if version else {}
        try:
            client.put_item(
                TableName="c",
                Item={"pk": {"S": "a"}, "version": {"N": str(version + 1)}},
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
            outcomes.append("written")
        except ClientError as exc:
            outcomes.append(exc.response["Error"]["Code"])
    claim = "attribute_not_exists(pk) OR run_id = :run"
    for run, keys in (("r1", ["x", "y"]), ("r2", ["y", "z"]), ("r1", ["x", "y"])):
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": "c",
                            "Item": {"pk": {"S": k}, "run_id": {"S": run}},
                            "ConditionExpression": claim,
                            "ExpressionAttributeValues": {":run": {"S": run}},
                        }
                    }
                    for k in keys
                ]
            )
            outcomes.append("claimed")
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons", [])  # type: ignore[typeddict-item]
            outcomes.append(",".join(r["Code"] for r in reasons))
    item = client.get_item(TableName="c", Key={"pk": {"S": "a"}})["Item"]
    outcomes.append(item["version"]["N"])
    return outcomes


def test_condition_cache_parses_each_expression_once_and_answers_as_moto_does() -> None:
    from moto.dynamodb import comparisons

    with mock_aws():
        expected = _conditional_writes(boto3.client("dynamodb", region_name="us-east-1"))
    assert expected == [
        "written",
        "written",
        "ConditionalCheckFailedException",
        "written",
        "ConditionalCheckFailedException",
        "claimed",
        "ConditionalCheckFailed,None",
        "claimed",
        "3",
    ]
    with mock_aws(), PatchSet(speed.patches()):
        cache = comparisons.get_filter_expression
        assert isinstance(cache, speed.ConditionCache)
        assert _conditional_writes(boto3.client("dynamodb", region_name="us-east-1")) == expected
        # 3 writes' texts and values + 2 claims' (r1, r2); the repeats were answered from the cache
        assert cache.misses == 5
    assert not isinstance(comparisons.get_filter_expression, speed.ConditionCache)


def test_condition_cache_keeps_no_invalid_expression_and_stays_bounded() -> None:
    calls: list[str] = []

    def parse(expr: str, names: Any, values: Any) -> str:
        calls.append(expr)
        if expr == "bad":
            raise ValueError("invalid")
        return expr.upper()

    cache = speed.ConditionCache(parse, limit=4)
    for _ in range(2):
        with contextlib.suppress(ValueError):
            cache("bad", None, None)
    assert calls == ["bad", "bad"]
    assert [cache(f"e{i}", None, {":v": {"N": "1"}}) for i in range(6)] == [f"E{i}" for i in range(6)]
    assert len(cache.parsed) <= 4 and cache("e5", None, {":v": {"N": "1"}}) == "E5"
    assert cache("e5", None, {":v": {"N": "2"}}) == "E5" and cache.misses == 7
