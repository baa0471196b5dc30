"""Patches that make a call through botocore into moto cheaper without changing what it returns.

A Lambda handler pays for every AWS call it makes; offline, each call is serialised by botocore,
routed into moto, parsed, executed and serialised back, all in Python (a DynamoDB GetItem costs
about 3 ms on a 2-core machine, a new client about 25 ms, and moto parses a state machine's
definition again for every execution). These patches remove work whose result is the same every
time; none of them changes a request, a response or an error. Each is pinned by a test in
tests/emulator/test_speed.py (the result is identical with and without the patch).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from typing import Any

from offline_runtime.emulator.patches import AttributePatch, Patch

# Component types that keep state of their own during an execution (a Map run's records, its
# item readers): a definition holding one is parsed per execution, as moto does.
_STATEFUL_STATE_TYPES = re.compile(r'"Type"\s*:\s*"Map"|"ItemProcessor"|"Iterator"')


def patches() -> list[Patch]:
    return [
        _stepfunctions_parse_cache(),
        _moto_action_names(),
        _client_classes(),
        _ssl_context(),
        _user_agent(),
        _unsigned_requests(),
        *_dynamodb_condition_cache(),
    ]


# -- Step Functions: one parse per definition -----------------------------------------------------
class ParseCache:
    """``AmazonStateLanguageParser.parse`` memoised by definition text.

    moto parses the definition (ANTLR) at the start of every execution: about 0.8 s for the
    pipeline's state machine, more than the states it then runs. Evaluation keeps its state in the
    execution's ``Environment``, not in the parsed components (except Map states, see above), so
    executions of one definition share one parse."""

    def __init__(self, parse: Any) -> None:
        self.parse = parse
        self.parsed: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.misses = 0

    def __call__(self, definition: str) -> Any:
        if _STATEFUL_STATE_TYPES.search(definition):
            return self.parse(definition)
        with self.lock:
            hit = self.parsed.get(definition)
        if hit is None:
            hit = self.parse(definition)  # a syntax error raises and is not cached
            with self.lock:
                self.parsed[definition] = hit
                self.misses += 1
        return hit


def _stepfunctions_parse_cache() -> Patch:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    return AttributePatch(
        AmazonStateLanguageParser,
        "parse",
        staticmethod(ParseCache(AmazonStateLanguageParser.parse)),
        "moto re-parses a state machine's definition for every execution; parsed once per definition",
    )


# -- DynamoDB: a condition expression parsed once per text and values --------------------------------
class ConditionCache:
    """``get_filter_expression`` memoised by (expression, names, values).

    moto tokenises and parses a condition or filter expression in Python on every conditional
    write (about 0.3 ms; an id claim of 100 items parses the same condition 100 times). The parsed
    tree is evaluated against an item and keeps no state of its own, so equal inputs share one
    tree. Bounded: the oldest half is dropped past ``limit`` entries."""

    def __init__(self, parse: Any, limit: int = 4096) -> None:
        self.parse, self.limit = parse, limit
        self.parsed: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.misses = 0

    def __call__(self, expr: Any, names: Any, values: Any) -> Any:
        if expr is None:
            return self.parse(expr, names, values)
        key = json.dumps([expr, names, values], sort_keys=True, default=str)
        with self.lock:
            hit = self.parsed.get(key)
        if hit is None:
            hit = self.parse(expr, names, values)  # an invalid expression raises and is not cached
            with self.lock:
                if len(self.parsed) >= self.limit:
                    for old in list(self.parsed)[: self.limit // 2]:
                        del self.parsed[old]
                self.parsed[key] = hit
                self.misses += 1
        return hit


def _dynamodb_condition_cache() -> list[Patch]:
    from moto.dynamodb import comparisons, models
    from moto.dynamodb.models import table

    cache = ConditionCache(comparisons.get_filter_expression)
    reason = "moto parses the same condition expression on every conditional write"
    return [
        AttributePatch(module, "get_filter_expression", cache, reason)
        for module in (comparisons, models, table)
    ]


# -- moto: the action names of a response class ---------------------------------------------------
def _moto_action_names() -> Patch:
    """moto lists a response class's methods (``inspect.getmembers``) on every request to find the
    action's method; the classes do not change while a stack runs."""
    from moto.core import responses

    original = responses.method_names_from_class  # type: ignore[attr-defined]
    names: dict[type, list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        found = names.get(clazz)
        if found is None:
            found = names[clazz] = original(clazz)
        return found

    return AttributePatch(
        responses, "method_names_from_class", method_names_from_class, "moto inspects a class per request"
    )


# -- botocore: one client class per service and session ---------------------------------------------
def _client_classes() -> Patch:
    """botocore builds a new client class (a method per operation, then the session's
    ``creating-client-class`` handlers) for every client; boto3 and awswrangler create clients in
    handlers and per call. The class depends only on the service model and the session's handlers,
    so it is kept per (session emitter, service, API version)."""
    from botocore.client import ClientCreator

    original = ClientCreator._create_client_class  # type: ignore[attr-defined]
    classes: dict[tuple[int, str, str], tuple[Any, Any]] = {}
    lock = threading.Lock()

    def _create_client_class(self: Any, service_name: str, service_model: Any) -> Any:
        key = (id(self._event_emitter), service_name, service_model.api_version)
        with lock:
            hit = classes.get(key)
        if hit is not None and hit[0] is self._event_emitter:
            return hit[1]
        cls = original(self, service_name, service_model)
        with lock:
            classes[key] = (self._event_emitter, cls)  # the emitter kept alive: its id stays its own
        return cls

    return AttributePatch(
        ClientCreator, "_create_client_class", _create_client_class, "a client class per client"
    )


# -- botocore: the TLS context of a client's connection pool ------------------------------------------
def _ssl_context() -> Patch:
    """Every client builds a TLS context (loading the CA bundle) for a connection pool that never
    connects: moto answers before botocore sends. One default context serves them all."""
    from botocore import httpsession

    original = httpsession.create_urllib3_context
    shared: dict[tuple[Any, ...], ssl.SSLContext] = {}
    lock = threading.Lock()

    def create_urllib3_context(
        ssl_version: Any = None, cert_reqs: Any = None, options: Any = None, ciphers: Any = None
    ) -> ssl.SSLContext:
        key = (ssl_version, cert_reqs, options, ciphers)
        with lock:
            context = shared.get(key)
            if context is None:
                context = shared[key] = original(ssl_version, cert_reqs, options, ciphers)
        return context

    return AttributePatch(
        httpsession, "create_urllib3_context", create_urllib3_context, "a TLS context per client"
    )


# -- botocore: the User-Agent header -------------------------------------------------------------------
def _user_agent() -> Patch:
    """botocore rebuilds the User-Agent string (a dozen sanitised components) twice per request. It
    changes only with the client and the request's feature ids, so it is kept per both."""
    from botocore import useragent

    original = useragent.UserAgentString.to_string
    built: dict[tuple[int, frozenset[str]], tuple[Any, str]] = {}
    lock = threading.Lock()

    def to_string(self: Any) -> str:
        ctx = useragent.get_context()  # type: ignore[attr-defined]
        key = (id(self), frozenset(ctx.features) if ctx is not None else frozenset())
        with lock:
            hit = built.get(key)
        if hit is not None and hit[0] is self:
            return hit[1]
        value: str = original(self)
        with lock:
            built[key] = (self, value)
        return value

    return AttributePatch(useragent.UserAgentString, "to_string", to_string, "a User-Agent built per request")


# -- botocore: SigV4 signatures nobody checks ------------------------------------------------------------
def _unsigned_requests() -> Patch:
    """moto checks no signature (the account is its default account signed or not), yet botocore
    signs every request (a canonical request and an HMAC chain in awscrt). S3 requests are still
    signed: the S3 signer also decides the payload headers (x-amz-content-sha256, chunked uploads
    with checksum trailers) that moto reads."""
    from botocore.signers import RequestSigner

    original = RequestSigner.handler

    def handler(self: Any, operation_name: Any = None, request: Any = None, **kwargs: Any) -> Any:
        if self._service_id.hyphenize() == "s3":
            return original(self, operation_name=operation_name, request=request, **kwargs)
        return None

    return AttributePatch(RequestSigner, "handler", handler, "requests signed for a service that checks none")
