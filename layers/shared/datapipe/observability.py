"""Logger, Tracer and Metrics for every function, made one way, with PII masked in every log line.

Each handler module calls ``instruments()`` once at import (one execution environment, one set):
service name, namespace and level come from the function's POWERTOOLS_* variables. Log records
go through ``PiiMaskingFormatter``: any field named like a card, account or customer id is
masked (``datapipe.pii``) whatever the call site passed, nested values included; call sites
still log ids only where they need to (the logging layer is the net, not the plan).
``Instruments.handler`` stacks the Powertools decorators in one order for all handlers and logs
an ``InvalidEvent`` (the field and why) before the Lambda runtime reports it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from datapipe.envelopes import InvalidEvent
from datapipe.pii import redact

R = TypeVar("R")
Handler = Callable[[Any, LambdaContext], R]


MAX_LOGGED_STRING = 8192  # a CloudWatch log event holds 256 KB; one field never fills it


def _capped(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_LOGGED_STRING:
        return f"{value[:MAX_LOGGED_STRING]}… [{len(value)} characters]"
    if isinstance(value, dict):
        return {k: _capped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_capped(v) for v in value]
    return value


class PiiMaskingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, with card/account/customer ids masked in the whole record (and
    very long strings cut, so one line stays one CloudWatch log event)."""

    def serialize(self, log: Any) -> str:
        return super().serialize(_capped(redact(log)))


@dataclass(frozen=True)
class Instruments:
    logger: Logger
    tracer: Tracer
    metrics: Metrics

    def handler(self, fn: Handler[R]) -> Handler[R]:
        """The one decorator stack of every handler: Lambda context in the logs, a trace segment,
        metrics flushed at the end, and an invalid event logged with the field that is wrong."""

        @functools.wraps(fn)
        def logged(event: Any, context: LambdaContext) -> R:
            try:
                return fn(event, context)
            except InvalidEvent as exc:
                self.metrics.add_metric(name="InvalidEvents", unit=MetricUnit.Count, value=1)
                self.logger.error(
                    "invalid event",
                    extra={"error_type": "InvalidEvent", "field": exc.field, "problems": exc.problems_dict()},
                )
                raise

        traced = self.tracer.capture_lambda_handler(logged)
        measured = self.metrics.log_metrics(traced, raise_on_empty_metrics=False)
        return self.logger.inject_lambda_context(measured, clear_state=True)  # type: ignore[no-any-return]


def instruments() -> Instruments:
    """Logger, Tracer and Metrics of the function this process runs (its POWERTOOLS_* variables)."""
    return Instruments(
        logger=Logger(logger_formatter=PiiMaskingFormatter(utc=True)),
        tracer=Tracer(),
        metrics=Metrics(),
    )
