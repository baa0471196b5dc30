"""Plain per-record Python implementation of the fraud rules: the yardstick the vectorised path is
benchmarked and cross-checked against (a dict per record, a deque per card, a list per account).
Not used in production. Same definitions as ``score_table``: USD amounts, local hours, order by
(event time, transaction id), velocity over the card's window, usual amount = median of the
account's previous ``usual_history`` positive USD amounts."""

from __future__ import annotations

import statistics
from collections import defaultdict, deque
from typing import Any

from datapipe.fraud.history import ToUsd
from datapipe.fraud.localtime import local_hour
from datapipe.fraud.rules import _EPOCH, _MICRO, DEFAULT_POLICY, FraudPolicy, amount_value, combine, to_micros


def _usd(rec: dict[str, Any], amount: float | None, t: int | None, to_usd: ToUsd | None) -> float | None:
    if amount is None:
        return None
    currency = rec.get("currency")
    if currency == "USD":
        return amount
    if to_usd is None or currency is None or t is None:
        return None
    try:
        return float(to_usd(1.0, str(currency), (_EPOCH + t * _MICRO).date())) * amount
    except (LookupError, ValueError, ArithmeticError):
        return None


def score_records_python(
    records: list[dict[str, Any]], policy: FraudPolicy = DEFAULT_POLICY, to_usd: ToUsd | None = None
) -> list[float]:
    """Scores of ``records`` (same fields as the transactions table), in input order."""
    n = len(records)
    times = [to_micros(rec.get("event_time")) for rec in records]
    amounts: list[float | None] = []
    for i, rec in enumerate(records):
        parsed = amount_value(rec.get("amount"))
        amounts.append(_usd(rec, None if parsed is None else parsed[1], times[i], to_usd))
    ids = [str(rec.get("transaction_id") or "") for rec in records]
    timed = sorted((i for i in range(n) if times[i] is not None), key=lambda i: (times[i], ids[i], i))

    velocity = [1] * n
    window = policy.velocity_window_us
    recent: dict[str, deque[int]] = defaultdict(deque)
    for i in timed:
        card = records[i].get("card_id")
        if not card:
            continue
        t = times[i]
        assert t is not None
        dq = recent[card]
        while dq and dq[0] < t - window:
            dq.popleft()
        dq.append(t)
        velocity[i] = len(dq)

    median: list[float | None] = [None] * n
    history = [0] * n
    previous: dict[str, list[float]] = defaultdict(list)
    for i in timed:
        account = records[i].get("account_id")
        if not account:
            continue
        before = previous[account][-policy.usual_history :]
        history[i] = len(before)
        median[i] = statistics.median(before) if before else None
        amount = amounts[i]
        if amount is not None and amount > 0:
            previous[account].append(amount)

    scores: list[float] = []
    for i, rec in enumerate(records):
        amount, t = amounts[i], times[i]
        location, home, channel = rec.get("location_state"), rec.get("home_state"), rec.get("channel")
        offset = rec.get("event_utc_offset_minutes")
        hour = None if t is None else local_hour(t, offset, location, rec.get("location_country"))
        mask = 0  # bit i = RULES[i]
        if (
            amount is not None
            and amount > policy.high_amount
            and None not in (location, home)
            and location != home
        ):
            mask |= 1
        if rec.get("card_id") and t is not None and velocity[i] >= policy.velocity_count:
            mask |= 2
        m = median[i]
        if (
            amount is not None
            and m is not None
            and history[i] >= policy.min_history
            and amount > policy.account_multiple * m
        ):
            mask |= 4
        if rec.get("merchant_category") in policy.risky_categories:
            mask |= 8
        if (
            amount is not None
            and hour is not None
            and channel in policy.card_present_channels
            and policy.is_night(hour)
            and amount > policy.night_amount
        ):
            mask |= 16
        if amount is not None and channel == "ATM" and amount > policy.atm_large:
            mask |= 32
        scores.append(combine(mask, policy))
    return scores
