"""Fraud scoring: explainable rules combined by noisy-OR, over a whole table or one event at a time.

``score_table`` scores a published transactions dataset (vectorised); ``score_event`` scores one
transaction as it arrives, with the same rules and weights; both lead to ``FraudAlert``s whose
``rules`` and ``reasons`` say why, with the numbers.
"""

from typing import Any

from datapipe.fraud.baseline import score_records_python
from datapipe.fraud.history import FraudHistory, ToUsd
from datapipe.fraud.rules import (
    AMOUNT_ABOVE_USUAL,
    ATM_LARGE_WITHDRAWAL,
    CARD_VELOCITY,
    DEFAULT_POLICY,
    NIGHT_CARD_PRESENT_LARGE,
    OUT_OF_STATE_HIGH_AMOUNT,
    RISKY_MERCHANT_CATEGORY,
    RULES,
    SEVERITIES,
    FraudAlert,
    FraudPolicy,
    combine,
    score_event,
    severity,
    supersedes,
)

# The real-time path needs only ``rules``: the vectorised table path (numpy, pyarrow) loads on
# first use, so the per-event function's cold start does not pay for it.
_LAZY = {"ScoredTransactions", "score_table", "history_delta", "merged_history"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from datapipe.fraud import table

        return getattr(table, name)
    raise AttributeError(f"module 'datapipe.fraud' has no attribute {name!r}")


__all__ = [
    "AMOUNT_ABOVE_USUAL",
    "ATM_LARGE_WITHDRAWAL",
    "CARD_VELOCITY",
    "DEFAULT_POLICY",
    "NIGHT_CARD_PRESENT_LARGE",
    "OUT_OF_STATE_HIGH_AMOUNT",
    "RISKY_MERCHANT_CATEGORY",
    "RULES",
    "SEVERITIES",
    "FraudAlert",
    "FraudHistory",
    "FraudPolicy",
    "ScoredTransactions",
    "ToUsd",
    "combine",
    "history_delta",
    "merged_history",
    "policy_from_settings",
    "score_event",
    "score_records_python",
    "score_table",
    "severity",
    "supersedes",
]


def policy_from_settings(settings: Any) -> FraudPolicy:
    """The deployment's severity thresholds (template parameters) over the default rules."""
    return FraudPolicy(
        critical=settings.critical_severity_threshold,
        high=settings.high_severity_threshold,
        medium=settings.medium_severity_threshold,
    )
