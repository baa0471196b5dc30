"""Fraud scoring: explainable rules combined by noisy-OR, over a whole table or one event at a time.

``score_table`` scores a published transactions dataset (vectorised); ``score_event`` scores one
transaction as it arrives, with the same rules and weights; both lead to ``FraudAlert``s whose
``rules`` and ``reasons`` say why, with the numbers.
"""

from datapipe.fraud.baseline import score_records_python
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
)
from datapipe.fraud.table import ScoredTransactions, score_table

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
    "FraudPolicy",
    "ScoredTransactions",
    "combine",
    "score_event",
    "score_records_python",
    "score_table",
    "severity",
]
