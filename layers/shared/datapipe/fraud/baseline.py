"""Plain per-record Python implementation of the fraud rules: the yardstick the vectorised path is
benchmarked and cross-checked against (a dict per record, a deque per card, a list per account).
Not used in production."""

from __future__ import annotations

import statistics
from collections import defaultdict, deque
from typing import Any

from datapipe.fraud.rules import DEFAULT_POLICY, FraudPolicy, amount_value, combine, to_micros


def score_records_python(records: list[dict[str, Any]], policy: FraudPolicy = DEFAULT_POLICY) -> list[float]:
    """Scores of ``records`` (same fields as the transactions table), in input order."""
    amounts: list[float | None] = []
    times: list[int | None] = []
    per_account: dict[str, list[float]] = defaultdict(list)
    for rec in records:
        parsed = amount_value(rec.get("amount"))
        amount = None if parsed is None else parsed[1]
        amounts.append(amount)
        times.append(to_micros(rec.get("event_time")))
        if rec.get("account_id") and amount is not None:
            per_account[rec["account_id"]].append(amount)
    medians = {acc: statistics.median(values) for acc, values in per_account.items()}

    # velocity: walk the records in time order (ties in input order), one sliding deque per card
    velocity = [1] * len(records)
    window = policy.velocity_window_us
    recent: dict[str, deque[int]] = defaultdict(deque)
    timed = [i for i, t in enumerate(times) if t is not None and records[i].get("card_id")]
    for i in sorted(timed, key=lambda i: (times[i], i)):
        t = times[i]
        assert t is not None
        dq = recent[records[i]["card_id"]]
        while dq and dq[0] < t - window:
            dq.popleft()
        dq.append(t)
        velocity[i] = len(dq)

    scores: list[float] = []
    for i, rec in enumerate(records):
        amount, t = amounts[i], times[i]
        account = rec.get("account_id")
        history = len(per_account[account]) if account in per_account else 0
        median = medians.get(account) if account else None
        location, home, channel = rec.get("location_state"), rec.get("home_state"), rec.get("channel")
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
        if (
            amount is not None
            and median is not None
            and history >= policy.min_history
            and amount > policy.account_multiple * median
        ):
            mask |= 4
        if rec.get("merchant_category") in policy.risky_categories:
            mask |= 8
        if (
            amount is not None
            and t is not None
            and channel in policy.card_present_channels
            and policy.is_night(t // 3_600_000_000 % 24)
            and amount > policy.night_amount
        ):
            mask |= 16
        if amount is not None and channel == "ATM" and amount > policy.atm_large:
            mask |= 32
        scores.append(combine(mask, policy))
    return scores
