"""Explainable fraud rules: the policy, the severity scale, the alert, and the per-event scorer.

Every rule is a yes/no fact an analyst can check on the transaction ("amount above 2000 outside the
home state"); a fired rule contributes its weight and the weights combine by noisy-OR,
``score = 1 - prod(1 - w_i)`` over the fired rules. One rule alone scores exactly its weight, so a
score is always traceable to its reasons, and independent evidence raises the score without ever
passing 1. The dataset path (``datapipe.fraud.table``) and the per-event path here apply the same
rules, thresholds and weights, in the same order, so both give the same score to the same facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from datapipe.fraud.history import ToUsd
from datapipe.fraud.localtime import local_hour
from datapipe.pii import mask_id, scrub_text

# Rule ids, in bit order of the rule bitmask (bit i is RULES[i]).
OUT_OF_STATE_HIGH_AMOUNT = "OUT_OF_STATE_HIGH_AMOUNT"
CARD_VELOCITY = "CARD_VELOCITY"
AMOUNT_ABOVE_USUAL = "AMOUNT_ABOVE_USUAL"
RISKY_MERCHANT_CATEGORY = "RISKY_MERCHANT_CATEGORY"
NIGHT_CARD_PRESENT_LARGE = "NIGHT_CARD_PRESENT_LARGE"
ATM_LARGE_WITHDRAWAL = "ATM_LARGE_WITHDRAWAL"
RULES: tuple[str, ...] = (
    OUT_OF_STATE_HIGH_AMOUNT,
    CARD_VELOCITY,
    AMOUNT_ABOVE_USUAL,
    RISKY_MERCHANT_CATEGORY,
    NIGHT_CARD_PRESENT_LARGE,
    ATM_LARGE_WITHDRAWAL,
)
SEVERITIES: tuple[str, ...] = ("LOW", "MEDIUM", "HIGH", "CRITICAL")  # index = severity code


def supersedes(new_severity: str, previous_severity: str | None) -> bool:
    """A later alert for the same transaction replaces the earlier one only when more severe."""
    if previous_severity is None:
        return True
    return SEVERITIES.index(new_severity) > SEVERITIES.index(previous_severity)


_OUT_OF_STATE, _VELOCITY, _ABOVE_USUAL, _RISKY, _NIGHT, _ATM = (1 << bit for bit in range(len(RULES)))

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_US_PER_HOUR = 3_600_000_000


@dataclass(frozen=True)
class FraudPolicy:
    """Thresholds and weights of the fraud rules. Amounts are in USD: each transaction's amount is
    converted (``to_usd``) before any threshold; hours are local to where it happened.

    Severity: score > ``critical`` is CRITICAL, > ``high`` HIGH, > ``medium`` MEDIUM, else LOW
    (a score equal to a threshold stays in the lower band).

    Rules and default weights (noisy-OR, so one rule alone scores its weight):

    - OUT_OF_STATE_HIGH_AMOUNT 0.75 (HIGH alone): amount > ``high_amount`` and location_state differs
      from home_state -- the seed rule.
    - CARD_VELOCITY 0.65 (MEDIUM alone): ``velocity_count`` or more transactions on the same card
      within ``velocity_window_s`` seconds (inclusive), counting the current one; typical of a
      stolen card being emptied. Transactions without a card_id are never grouped together.
    - AMOUNT_ABOVE_USUAL 0.45 (LOW alone): amount > ``account_multiple`` x the median of the
      account's previous ``usual_history`` purchase amounts (strictly before this transaction,
      whichever file brought them), when there are at least ``min_history`` of them. Card
      amounts are heavy-tailed: about 5% of ordinary purchases are 5x their account's median (the
      generated retail day has 6%), so alone it informs; with another rule it escalates.
    - RISKY_MERCHANT_CATEGORY 0.30 (LOW alone): merchant category in ``risky_categories``; weak on
      its own (most gambling is legitimate), it strengthens other evidence.
    - NIGHT_CARD_PRESENT_LARGE 0.40 (LOW alone): card-present channel, local hour in
      ``night_hours`` [start, end) and amount > ``night_amount``.
    - ATM_LARGE_WITHDRAWAL 0.45 (LOW alone): ATM channel and amount > ``atm_large``.

    Combinations: out-of-state + velocity 0.9125 and out-of-state + above-usual + risky category
    0.904 are CRITICAL; out-of-state + above-usual 0.8625, out-of-state + risky category 0.825,
    velocity + above-usual 0.8075 and velocity + risky category 0.755 are HIGH; a large ATM
    withdrawal at night 0.67 is MEDIUM.
    """

    critical: float = 0.9
    high: float = 0.7
    medium: float = 0.5
    high_amount: float = 2000.0
    velocity_window_s: float = 600.0
    velocity_count: int = 4
    account_multiple: float = 5.0
    min_history: int = 3
    risky_categories: tuple[str, ...] = ("GAMBLING", "CRYPTO", "JEWELRY")
    night_hours: tuple[int, int] = (1, 5)  # local hours of the place of the transaction
    night_amount: float = 1000.0
    card_present_channels: tuple[str, ...] = ("POS", "ATM")
    atm_large: float = 800.0
    usual_history: int = 20
    weight_out_of_state_high_amount: float = 0.75
    weight_card_velocity: float = 0.65
    weight_amount_above_usual: float = 0.45
    weight_risky_merchant_category: float = 0.30
    weight_night_card_present_large: float = 0.40
    weight_atm_large_withdrawal: float = 0.45

    def __post_init__(self) -> None:
        if not 0.0 <= self.medium <= self.high <= self.critical <= 1.0:
            raise ValueError("severity thresholds must satisfy 0 <= medium <= high <= critical <= 1")
        if any(not 0.0 <= w <= 1.0 for w in self.weights):
            raise ValueError("rule weights must be within [0, 1]")
        if self.velocity_count < 2 or self.velocity_window_s <= 0:
            raise ValueError("velocity needs a positive window and a count of at least 2")
        if self.min_history < 1:
            raise ValueError("min_history must be at least 1")
        if self.usual_history < self.min_history:
            raise ValueError("usual_history must be at least min_history")
        start, end = self.night_hours
        if not (0 <= start <= 23 and 0 <= end <= 24):
            raise ValueError("night_hours are local hours: start in 0..23, end in 0..24")

    @property
    def weights(self) -> tuple[float, ...]:
        """Weights in RULES order."""
        return (
            self.weight_out_of_state_high_amount,
            self.weight_card_velocity,
            self.weight_amount_above_usual,
            self.weight_risky_merchant_category,
            self.weight_night_card_present_large,
            self.weight_atm_large_withdrawal,
        )

    @property
    def velocity_window_us(self) -> int:
        """Window in integer microseconds, so both paths compare times exactly."""
        return round(self.velocity_window_s * 1_000_000)

    def is_night(self, hour: int) -> bool:
        start, end = self.night_hours
        return start <= hour < end if start <= end else (hour >= start or hour < end)


DEFAULT_POLICY = FraudPolicy()


def severity(score: float, policy: FraudPolicy = DEFAULT_POLICY) -> str:
    """Severity band of a score; a score equal to a threshold stays in the band below."""
    return SEVERITIES[severity_code(score, policy)]


def severity_code(score: float, policy: FraudPolicy = DEFAULT_POLICY) -> int:
    return int(score > policy.medium) + int(score > policy.high) + int(score > policy.critical)


def combine(mask: int, policy: FraudPolicy = DEFAULT_POLICY) -> float:
    """Noisy-OR ``1 - prod(1 - w_i)`` of the rules set in ``mask``, accumulated in RULES order as
    ``s + w (1 - s)``: the same value, but one rule alone scores exactly its weight (0.3, not
    0.30000000000000004), so a weight set on a threshold stays in the band below it."""
    score = 0.0
    for bit, weight in enumerate(policy.weights):
        if mask >> bit & 1:
            score = score + weight * (1.0 - score)
    return score


@cache
def rule_ids(mask: int) -> tuple[str, ...]:
    return tuple(rule for bit, rule in enumerate(RULES) if mask >> bit & 1)


@dataclass(frozen=True)
class FraudAlert:
    """One alert per transaction: the transaction's identity, its score and why it was flagged."""

    transaction_id: str
    account_id: str | None
    card_id: str | None
    customer_id: str | None
    amount: str  # exact decimal text, e.g. "2500.00"
    currency: str | None
    merchant: str | None
    merchant_category: str | None
    channel: str | None
    location_state: str | None
    home_state: str | None
    account_type: str | None
    event_time: str | None  # ISO 8601, UTC, "Z"
    score: float  # rounded to 4 decimal places
    severity: str
    rules: tuple[str, ...]
    reasons: tuple[str, ...]
    amount_usd: float | None = None
    local_hour: int | None = None

    def to_message(self) -> dict[str, Any]:
        """JSON-safe body of the SNS message (lists, str, float only). Card, account and customer
        ids are masked, in the fields and in the reasons: the message is read by people and
        systems in passing; the full record (raw ids) stays in the FraudAlerts table."""
        ids = (self.account_id, self.card_id, self.customer_id)
        return {
            "transaction_id": self.transaction_id,
            "account_id_masked": mask_id(self.account_id),
            "card_id_masked": mask_id(self.card_id),
            "customer_id_masked": mask_id(self.customer_id),
            "amount": self.amount,
            "currency": self.currency,
            "merchant": self.merchant,
            "merchant_category": self.merchant_category,
            "channel": self.channel,
            "location_state": self.location_state,
            "home_state": self.home_state,
            "account_type": self.account_type,
            "event_time": self.event_time,
            "score": self.score,
            "severity": self.severity,
            "rules": list(self.rules),
            "reasons": [scrub_text(r, ids) for r in self.reasons],
            "amount_usd": self.amount_usd,
            "local_hour": self.local_hour,
        }

    def message_attributes(self) -> dict[str, dict[str, str]]:
        """SNS message attributes the subscriptions' filter policies match on (never empty values)."""
        return {
            "severity": {"DataType": "String", "StringValue": self.severity},
            "account_type": {"DataType": "String", "StringValue": self.account_type or "unknown"},
        }


@dataclass(frozen=True)
class Facts:
    """What the rules saw for one transaction, kept to write the reasons with the actual numbers."""

    amount_text: str
    currency: str | None
    location_state: str | None
    home_state: str | None
    card_id: str | None
    channel: str | None
    merchant: str | None
    merchant_category: str | None
    velocity: int
    account_median: float | None
    account_history: int
    event_us: int | None
    amount_usd: float | None = None
    local_hour: int | None = None


def _num(value: float) -> str:
    """2000.0 -> "2000", 2000.5 -> "2000.5": thresholds as an analyst writes them."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _window_text(seconds: float) -> str:
    if seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute" if minutes == 1 else f"{minutes} minutes"
    return f"{_num(seconds)} seconds"


def reasons(mask: int, facts: Facts, policy: FraudPolicy) -> tuple[str, ...]:
    """One human sentence per fired rule, in RULES order, with the numbers that made it fire."""
    f = facts
    money = f"{f.amount_text} {f.currency or ''}".rstrip()
    if f.amount_usd is not None and (f.currency or "USD") != "USD":
        money += f" ({f.amount_usd:.2f} USD)"
    out: list[str] = []
    if mask & _OUT_OF_STATE:
        out.append(
            f"amount {money} above {_num(policy.high_amount)} USD outside home state "
            f"({f.location_state} vs {f.home_state})"
        )
    if mask & _VELOCITY:
        out.append(
            f"{f.velocity} transactions on card {f.card_id} within {_window_text(policy.velocity_window_s)}"
        )
    if mask & _ABOVE_USUAL and f.account_median is not None:
        usd = f.amount_usd if f.amount_usd is not None else float(Decimal(f.amount_text))
        ratio = usd / f.account_median if f.account_median > 0 else float("inf")
        out.append(
            f"amount {money} is {ratio:.1f}x the account's usual {f.account_median:.2f} USD "
            f"(median of its previous {f.account_history} transactions; "
            f"limit {_num(policy.account_multiple)}x)"
        )
    if mask & _RISKY:
        out.append(f"merchant category {f.merchant_category} ({f.merchant}) is high-risk")
    if mask & _NIGHT and f.event_us is not None:
        at = _EPOCH + f.event_us * _MICRO
        start, end = policy.night_hours
        hour = at.hour if f.local_hour is None else f.local_hour
        out.append(
            f"card-present {f.channel} amount {money} above {_num(policy.night_amount)} USD at "
            f"{hour:02d}:{at:%M} local time (night hours {start:02d}:00-{end:02d}:00)"
        )
    if mask & _ATM:
        out.append(f"ATM withdrawal {money} above {_num(policy.atm_large)} USD")
    return tuple(out)


# The transaction's descriptive fields an alert carries as text (its record and the stored claim).
ALERT_TEXT_FIELDS = (
    "account_id",
    "card_id",
    "customer_id",
    "currency",
    "merchant",
    "merchant_category",
    "channel",
    "location_state",
    "home_state",
    "account_type",
)


def alert_texts(record: Mapping[str, Any]) -> dict[str, Any]:
    """``ALERT_TEXT_FIELDS`` of a record, as text (None stays None)."""
    return {name: None if record.get(name) is None else str(record[name]) for name in ALERT_TEXT_FIELDS}


def make_alert(
    record: Mapping[str, Any], mask: int, score: float, facts: Facts, policy: FraudPolicy
) -> FraudAlert:
    """The alert for one transaction whose rules fired (``mask`` != 0)."""

    return FraudAlert(
        transaction_id=str(record.get("transaction_id") or ""),
        amount=facts.amount_text,
        **alert_texts(record),
        event_time=None if facts.event_us is None else iso_utc(facts.event_us),
        score=round(score, 4),
        severity=severity(score, policy),
        rules=rule_ids(mask),
        reasons=reasons(mask, facts, policy),
        amount_usd=None if facts.amount_usd is None else round(facts.amount_usd, 2),
        local_hour=facts.local_hour,
    )


def iso_utc(micros: int) -> str:
    """ISO 8601 with "Z"; microseconds only when present."""
    at = _EPOCH + micros * _MICRO
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if at.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def to_micros(value: Any) -> int | None:
    """Epoch microseconds of an event time: ISO 8601 text, datetime (naive = UTC) or epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return int((value - _EPOCH) // _MICRO)
    return round(float(value) * 1_000_000)


def amount_value(value: Any) -> tuple[str, float] | None:
    """(exact text with at least 2 decimals, float) of an amount; the float is the correctly rounded
    value of the decimal, i.e. the same number the dataset path computes from decimal128 cents."""
    if value is None or value == "":
        return None
    try:
        exact = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    if not exact.is_finite():
        return None
    exponent = exact.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        exact = exact.quantize(Decimal("0.01"))
    return f"{exact:f}", float(exact)


def score_event(
    txn: Mapping[str, Any],
    recent_card_times: Sequence[float],
    account_median: float | None,
    account_history: int,
    policy: FraudPolicy = DEFAULT_POLICY,
    to_usd: ToUsd | None = None,
) -> FraudAlert | None:
    """Score one transaction as it arrives; None when no rule fires.

    ``recent_card_times``: epoch seconds of this card's earlier transactions (any that fall outside
    the window or after this one are ignored). ``account_median`` / ``account_history``: the
    account's usual (median) USD amount before this transaction and how many transactions it is
    based on (``AccountProfile.usual_before``). ``to_usd`` converts the amount (without it only a
    USD amount has a USD value, and the amount rules cannot fire on any other).
    """
    parsed = amount_value(txn.get("amount"))
    event_us = to_micros(txn.get("event_time"))
    currency = txn.get("currency") or "USD"
    amount: float | None = None
    if parsed is not None:
        if currency == "USD":
            amount = parsed[1]
        elif to_usd is not None and event_us is not None:
            try:
                amount = float(to_usd(parsed[1], str(currency), (_EPOCH + event_us * _MICRO).date()))
            except (LookupError, ValueError, ArithmeticError):
                amount = None
    card = txn.get("card_id") or None
    location, home = txn.get("location_state"), txn.get("home_state")
    channel = txn.get("channel")
    offset = txn.get("event_utc_offset_minutes")
    hour = (
        None
        if event_us is None
        else local_hour(
            event_us, None if offset in (None, "") else int(offset), location, txn.get("location_country")
        )
    )

    velocity = 1
    if card is not None and event_us is not None:
        low = event_us - policy.velocity_window_us
        for earlier in recent_card_times:
            t = round(float(earlier) * 1_000_000)
            if low <= t <= event_us:
                velocity += 1

    mask = 0
    if amount is not None and amount > policy.high_amount and location is not None and home is not None:
        mask |= _OUT_OF_STATE if location != home else 0
    if card is not None and event_us is not None and velocity >= policy.velocity_count:
        mask |= _VELOCITY
    if (
        amount is not None
        and account_median is not None
        and account_history >= policy.min_history
        and amount > policy.account_multiple * account_median
    ):
        mask |= _ABOVE_USUAL
    if txn.get("merchant_category") in policy.risky_categories:
        mask |= _RISKY
    if (
        amount is not None
        and hour is not None
        and channel in policy.card_present_channels
        and policy.is_night(hour)
        and amount > policy.night_amount
    ):
        mask |= _NIGHT
    if amount is not None and channel == "ATM" and amount > policy.atm_large:
        mask |= _ATM
    if not mask:
        return None
    facts = Facts(
        amount_text="" if parsed is None else parsed[0],
        currency=txn.get("currency"),
        location_state=location,
        home_state=home,
        card_id=card,
        channel=channel,
        merchant=txn.get("merchant"),
        merchant_category=txn.get("merchant_category"),
        velocity=velocity,
        account_median=account_median,
        account_history=account_history,
        event_us=event_us,
        amount_usd=amount,
        local_hour=hour,
    )
    return make_alert(txn, mask, combine(mask, policy), facts, policy)
