"""Fraud rules pinned exactly at, just below and just above every threshold, with the reasons an
analyst reads (written to kill the mutants ``make mutate`` found surviving in datapipe.fraud:
rules, history, localtime). Expected values come from the policy's docstring by hand: noisy-OR of
the weights, severities strictly above 0.5 / 0.7 / 0.9, velocity 4 within 600 s inclusive ...
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from datapipe.fraud import rules
from datapipe.fraud.history import (
    CARD_RETENTION_US,
    FraudHistory,
    merge_account,
    merge_card,
    txn_ref,
    updated_history,
)
from datapipe.fraud.localtime import STATE_ZONES, local_hour, zone_for
from datapipe.fraud.rules import (
    ATM_LARGE_WITHDRAWAL,
    CARD_VELOCITY,
    DEFAULT_POLICY,
    NIGHT_CARD_PRESENT_LARGE,
    OUT_OF_STATE_HIGH_AMOUNT,
    RISKY_MERCHANT_CATEGORY,
    Facts,
    FraudPolicy,
    amount_value,
    combine,
    iso_utc,
    rule_ids,
    score_event,
    severity,
    supersedes,
    to_micros,
)

NOON = datetime(2026, 3, 2, 17, tzinfo=UTC)  # 12:00 in New York (EST)
OUT, VEL, USUAL, RISKY, NIGHT, ATM = (1 << b for b in range(6))


def exactly(message: str) -> str:
    """A pytest ``match`` for the whole message (a mutated message text must fail)."""
    return f"^{re.escape(message)}$"


SEVERITY_MSG = "severity thresholds must satisfy 0 <= medium <= high <= critical <= 1"


def txn(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "transaction_id": "TX1",
        "account_id": "ACC0001234",
        "card_id": "CARD00005678",
        "customer_id": "CUS0009999",
        "amount": "10.00",
        "currency": "USD",
        "merchant": "Corner Shop",
        "merchant_category": "GROCERY",
        "channel": "ONLINE",
        "location_state": "NY",
        "home_state": "NY",
        "account_type": "CHECKING",
        "event_time": NOON.isoformat(),
    }
    base.update(kw)
    return base


def score(
    t: dict[str, Any], times: tuple[float, ...] = (), median: float | None = None, n: int = 0, **kw: Any
):  # type: ignore[no-untyped-def]
    return score_event(t, times, median, n, **kw)


# ------------------------------------------------------------------ severity and combination


def test_supersedes_only_a_strictly_higher_severity() -> None:
    assert supersedes("LOW", None)
    assert supersedes("HIGH", "MEDIUM") and supersedes("CRITICAL", "LOW")
    assert not supersedes("MEDIUM", "MEDIUM")
    assert not supersedes("LOW", "HIGH")


@pytest.mark.parametrize(
    ("value", "band"),
    [
        (0.0, "LOW"),
        (0.5, "LOW"),
        (0.5000001, "MEDIUM"),
        (0.7, "MEDIUM"),
        (0.7000001, "HIGH"),
        (0.9, "HIGH"),
        (0.9000001, "CRITICAL"),
        (1.0, "CRITICAL"),
    ],
)
def test_severity_bands_keep_a_threshold_in_the_band_below(value: float, band: str) -> None:
    assert severity(value) == band
    assert rules.severity_code(value) == rules.SEVERITIES.index(band)


def test_severity_uses_the_policy_given() -> None:
    strict = FraudPolicy(medium=0.1, high=0.2, critical=0.3)
    assert severity(0.25, strict) == "HIGH" and rules.severity_code(0.31, strict) == 3


def test_combine_is_noisy_or_in_rules_order() -> None:
    assert combine(0) == 0.0
    assert combine(RISKY) == 0.3  # exactly its weight
    assert combine(OUT) == 0.75 and combine(VEL) == 0.65 and combine(NIGHT) == 0.4
    assert combine(OUT | VEL) == pytest.approx(0.9125)
    assert combine(OUT | USUAL | RISKY) == pytest.approx(0.90375)  # the docstring's 0.904
    assert combine(NIGHT | ATM) == pytest.approx(0.67)
    assert combine(0b111111) == pytest.approx(1 - 0.25 * 0.35 * 0.55 * 0.7 * 0.6 * 0.55)
    assert combine(ATM, FraudPolicy(weight_atm_large_withdrawal=0.2)) == 0.2


def test_rule_ids_in_bit_order() -> None:
    assert rule_ids(0) == ()
    assert rule_ids(OUT | USUAL) == (OUT_OF_STATE_HIGH_AMOUNT, "AMOUNT_ABOVE_USUAL")
    assert rule_ids(0b111111) == rules.RULES
    assert rule_ids(ATM | VEL) == (CARD_VELOCITY, ATM_LARGE_WITHDRAWAL)


# ------------------------------------------------------------------ the policy


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"medium": 0.8, "high": 0.7}, SEVERITY_MSG),
        ({"high": 0.95, "critical": 0.9}, SEVERITY_MSG),
        ({"critical": 1.01}, SEVERITY_MSG),
        ({"medium": -0.01}, SEVERITY_MSG),
        ({"weight_card_velocity": 1.01}, "rule weights must be within [0, 1]"),
        ({"weight_atm_large_withdrawal": -0.01}, "rule weights must be within [0, 1]"),
        ({"velocity_count": 1}, "velocity needs a positive window and a count of at least 2"),
        ({"velocity_window_s": 0.0}, "velocity needs a positive window and a count of at least 2"),
        ({"min_history": 0, "usual_history": 5}, "min_history must be at least 1"),
        ({"min_history": 5, "usual_history": 4}, "usual_history must be at least min_history"),
        ({"night_hours": (24, 5)}, "night_hours are local hours: start in 0..23, end in 0..24"),
        ({"night_hours": (-1, 5)}, "night_hours are local hours: start in 0..23, end in 0..24"),
        ({"night_hours": (1, 25)}, "night_hours are local hours: start in 0..23, end in 0..24"),
        ({"night_hours": (1, -1)}, "night_hours are local hours: start in 0..23, end in 0..24"),
    ],
)
def test_policy_refuses_inconsistent_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=exactly(message)):
        FraudPolicy(**kwargs)


def test_policy_accepts_its_limits() -> None:
    FraudPolicy(medium=0.0, high=0.0, critical=0.0)
    FraudPolicy(medium=1.0, high=1.0, critical=1.0)
    FraudPolicy(weight_card_velocity=0.0, weight_out_of_state_high_amount=1.0)
    FraudPolicy(velocity_count=2, velocity_window_s=0.001)
    FraudPolicy(min_history=1, usual_history=1)
    FraudPolicy(night_hours=(0, 24))
    FraudPolicy(night_hours=(23, 0))


def test_policy_weights_and_window() -> None:
    assert DEFAULT_POLICY.weights == (0.75, 0.65, 0.45, 0.30, 0.40, 0.45)
    assert DEFAULT_POLICY.velocity_window_us == 600_000_000
    assert FraudPolicy(velocity_window_s=0.0000015).velocity_window_us == 2


@pytest.mark.parametrize(
    ("hours", "night", "day"),
    [
        ((1, 5), (1, 2, 4), (0, 5, 12, 23)),
        ((22, 4), (22, 23, 0, 3), (4, 12, 21)),
        ((0, 24), (0, 12, 23), ()),
        ((5, 5), (), (4, 5, 6)),
    ],
)
def test_is_night(hours: tuple[int, int], night: tuple[int, ...], day: tuple[int, ...]) -> None:
    policy = FraudPolicy(night_hours=hours)
    assert all(policy.is_night(h) for h in night)
    assert not any(policy.is_night(h) for h in day)


# ------------------------------------------------------------------ text helpers and parsing


def test_numbers_and_windows_as_an_analyst_writes_them() -> None:
    assert rules._num(2000.0) == "2000"
    assert rules._num(2000.5) == "2000.5"
    assert rules._num(0.25) == "0.25"
    assert rules._num(1000.10) == "1000.1"
    assert rules._num(10.0) == "10"
    assert rules._window_text(600) == "10 minutes"
    assert rules._window_text(60) == "1 minute"
    assert rules._window_text(120) == "2 minutes"
    assert rules._window_text(90) == "90 seconds"
    assert rules._window_text(30.5) == "30.5 seconds"


def test_iso_utc_and_to_micros() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc(1) == "1970-01-01T00:00:00.000001Z"
    assert iso_utc(1_500_000) == "1970-01-01T00:00:01.500000Z"
    assert to_micros(None) is None and to_micros("") is None
    assert to_micros("1970-01-01T00:00:01Z") == 1_000_000
    assert to_micros("1970-01-01 00:00:01") == 1_000_000  # naive text is UTC
    assert to_micros("1970-01-01T01:00:01+01:00") == 1_000_000
    assert to_micros(datetime(1970, 1, 1, 0, 0, 2)) == 2_000_000
    assert to_micros(datetime(1970, 1, 1, 0, 0, 2, 7, tzinfo=UTC)) == 2_000_007
    assert to_micros(1.5) == 1_500_000 and to_micros(2) == 2_000_000
    assert to_micros(Decimal("0.0000025")) == 2


def test_amount_value_keeps_the_exact_text() -> None:
    assert amount_value(None) is None and amount_value("") is None
    assert amount_value("abc") is None
    assert amount_value("NaN") is None and amount_value("Infinity") is None
    assert amount_value("12") == ("12.00", 12.0)
    assert amount_value("12.3") == ("12.30", 12.3)
    assert amount_value("12.345") == ("12.345", 12.345)
    assert amount_value(Decimal("5.1")) == ("5.10", 5.1)
    assert amount_value(7) == ("7.00", 7.0)
    assert amount_value("-3.5") == ("-3.50", -3.5)
    assert amount_value("1E+3") == ("1000.00", 1000.0)


# ------------------------------------------------------------------ each rule at its threshold


@pytest.mark.parametrize(("amount", "fires"), [("2000.00", False), ("2000.01", True)])
def test_out_of_state_high_amount_threshold(amount: str, fires: bool) -> None:
    alert = score(txn(amount=amount, location_state="CA", home_state="NY"))
    if not fires:
        assert alert is None
        return
    assert alert is not None and alert.rules == (OUT_OF_STATE_HIGH_AMOUNT,)
    assert alert.score == 0.75 and alert.severity == "HIGH"
    assert alert.reasons == ("amount 2000.01 USD above 2000 USD outside home state (CA vs NY)",)


def test_out_of_state_needs_both_states_and_a_difference() -> None:
    assert score(txn(amount="5000.00")) is None  # in its home state
    assert score(txn(amount="5000.00", location_state=None, home_state="NY")) is None
    assert score(txn(amount="5000.00", location_state="CA", home_state=None)) is None
    assert score(txn(amount=None, location_state="CA")) is None


def test_card_velocity_counts_the_current_one_within_the_inclusive_window() -> None:
    t0 = NOON.timestamp()
    at_edge = (t0 - 600, t0 - 300, t0 - 1)
    alert = score(txn(), at_edge)
    assert alert is not None and alert.rules == (CARD_VELOCITY,) and alert.severity == "MEDIUM"
    assert alert.reasons == ("4 transactions on card CARD00005678 within 10 minutes",)
    assert score(txn(), (t0 - 600.000001, t0 - 300, t0 - 1)) is None  # just outside: 3
    assert score(txn(), (t0 - 300, t0 - 1, t0 + 1)) is None  # a later one is ignored
    assert score(txn(), (t0 - 300, t0 - 1, t0)) is not None  # the same instant counts
    assert score(txn(card_id=None), at_edge) is None
    assert score(txn(card_id=""), at_edge) is None
    assert score(txn(event_time=None), at_edge) is None
    five = score(txn(), (t0 - 5, t0 - 4, t0 - 3, t0 - 2))
    assert five is not None and five.reasons[0].startswith("5 transactions on card")
    assert score(txn(), (t0 - 1,), policy=FraudPolicy(velocity_count=2)) is not None


@pytest.mark.parametrize(
    ("amount", "history", "fires"), [("500.00", 3, False), ("500.01", 3, True), ("900", 2, False)]
)
def test_amount_above_usual_threshold(amount: str, history: int, fires: bool) -> None:
    alert = score(txn(amount=amount), median=100.0, n=history)
    assert (alert is not None) is fires
    if alert is not None:
        assert alert.rules == ("AMOUNT_ABOVE_USUAL",) and alert.score == 0.45 and alert.severity == "LOW"
        assert alert.reasons == (
            "amount 500.01 USD is 5.0x the account's usual 100.00 USD "
            "(median of its previous 3 transactions; limit 5x)",
        )


def test_amount_above_usual_needs_a_median() -> None:
    assert score(txn(amount="900.00"), median=None, n=10) is None
    alert = score(txn(amount="600.00"), median=100.0, n=20)
    assert alert is not None and "6.0x" in alert.reasons[0] and "previous 20 transactions" in alert.reasons[0]


def test_risky_merchant_category() -> None:
    alert = score(txn(merchant_category="GAMBLING", merchant="Lucky Star"))
    assert alert is not None and alert.rules == (RISKY_MERCHANT_CATEGORY,) and alert.severity == "LOW"
    assert alert.reasons == ("merchant category GAMBLING (Lucky Star) is high-risk",)
    assert score(txn(merchant_category="CRYPTO")) is not None
    assert score(txn(merchant_category="JEWELRY")) is not None
    assert score(txn(merchant_category="gambling")) is None


def night(hour: int, minute: int = 30) -> str:
    """UTC text of ``hour:minute`` New York time (EST, UTC-5) on 2026-03-02."""
    return (datetime(2026, 3, 2, hour, minute, tzinfo=UTC) + timedelta(hours=5)).isoformat()


@pytest.mark.parametrize(
    ("hour", "amount", "channel", "fires"),
    [
        (1, "1000.01", "POS", True),
        (4, "1000.01", "POS", True),
        (5, "1000.01", "POS", False),
        (0, "1000.01", "POS", False),
        (2, "1000.00", "POS", False),
        (2, "1000.01", "ONLINE", False),
    ],
)
def test_night_card_present_large(hour: int, amount: str, channel: str, fires: bool) -> None:
    alert = score(txn(event_time=night(hour), amount=amount, channel=channel))
    assert (alert is not None) is fires
    if alert is not None:
        assert alert.rules == (NIGHT_CARD_PRESENT_LARGE,) and alert.score == 0.4
        assert alert.local_hour == hour
        assert alert.reasons == (
            f"card-present POS amount 1000.01 USD above 1000 USD at {hour:02d}:30 local time "
            "(night hours 01:00-05:00)",
        )


def test_night_uses_the_given_offset_then_the_state() -> None:
    utc_2am = datetime(2026, 3, 2, 2, 15, tzinfo=UTC).isoformat()
    # 02:15 UTC is 21:15 in New York: not night there, night on a terminal at UTC+0
    assert score(txn(event_time=utc_2am, amount="1500.00", channel="POS")) is None
    at_utc = score(txn(event_time=utc_2am, amount="1500.00", channel="POS", event_utc_offset_minutes=0))
    assert at_utc is not None and at_utc.local_hour == 2
    texted = score(txn(event_time=utc_2am, amount="1500", channel="POS", event_utc_offset_minutes="60"))
    assert texted is not None and texted.local_hour == 3
    blank = score(txn(event_time=utc_2am, amount="1500.00", channel="POS", event_utc_offset_minutes=""))
    assert blank is None  # no offset: New York time
    abroad = score(
        txn(event_time=utc_2am, amount="1500.00", channel="POS", location_state="NY", location_country="FR")
    )
    assert abroad is not None and abroad.local_hour == 2  # outside the US: UTC


@pytest.mark.parametrize(
    ("amount", "channel", "fires"), [("800.00", "ATM", False), ("800.01", "ATM", True), ("900", "POS", False)]
)
def test_atm_large_withdrawal(amount: str, channel: str, fires: bool) -> None:
    alert = score(txn(amount=amount, channel=channel))
    assert (alert is not None) is fires
    if alert is not None:
        assert alert.rules == (ATM_LARGE_WITHDRAWAL,) and alert.score == 0.45
        assert alert.reasons == ("ATM withdrawal 800.01 USD above 800 USD",)


def test_a_large_atm_withdrawal_at_night_is_medium_with_both_reasons() -> None:
    alert = score(txn(event_time=night(3, 5), amount="1200.00", channel="ATM"))
    assert alert is not None and alert.rules == (NIGHT_CARD_PRESENT_LARGE, ATM_LARGE_WITHDRAWAL)
    assert alert.score == 0.67 and alert.severity == "MEDIUM"
    assert alert.reasons == (
        "card-present ATM amount 1200.00 USD above 1000 USD at 03:05 local time (night hours 01:00-05:00)",
        "ATM withdrawal 1200.00 USD above 800 USD",
    )


# ------------------------------------------------------------------ currencies


def test_amounts_are_converted_to_usd_before_any_threshold() -> None:
    calls: list[tuple[float, str, date]] = []

    def to_usd(amount: float, currency: str, on: date) -> float:
        calls.append((amount, currency, on))
        return amount / 150

    late = datetime(2026, 3, 2, 23, 30, tzinfo=UTC).isoformat()
    yen = txn(amount="2500", currency="JPY", location_state="CA", event_time=late)
    assert score(yen, to_usd=to_usd) is None  # about 17 USD out of state: nothing
    assert calls == [(2500.0, "JPY", date(2026, 3, 2))]
    big = score(txn(amount="450000", currency="JPY", location_state="CA"), to_usd=to_usd)
    assert big is not None and big.amount_usd == 3000.0 and big.rules == (OUT_OF_STATE_HIGH_AMOUNT,)
    assert big.reasons == ("amount 450000.00 JPY (3000.00 USD) above 2000 USD outside home state (CA vs NY)",)
    assert big.currency == "JPY" and big.amount == "450000.00"
    assert score(txn(amount="450000", currency="JPY", location_state="CA")) is None  # no rates
    no_time = txn(amount="450000", currency="JPY", location_state="CA", event_time=None)
    assert score(no_time, to_usd=to_usd) is None


@pytest.mark.parametrize("error", [LookupError, ValueError, ArithmeticError])
def test_a_currency_without_a_rate_fires_no_amount_rule(error: type[Exception]) -> None:
    def no_rate(amount: float, currency: str, on: date) -> float:
        raise error("no rate")

    t = txn(amount="9999", currency="XXX", location_state="CA", merchant_category="GAMBLING")
    alert = score(t, to_usd=no_rate)
    assert alert is not None and alert.rules == (RISKY_MERCHANT_CATEGORY,) and alert.amount_usd is None


def test_a_missing_currency_is_usd() -> None:
    alert = score(txn(amount="2500.00", currency=None, location_state="CA"))
    assert alert is not None and alert.amount_usd == 2500.0 and alert.currency is None
    assert alert.reasons[0].startswith("amount 2500.00 above 2000 USD")


# ------------------------------------------------------------------ the alert


def test_alert_fields_message_and_attributes() -> None:
    t = txn(amount="2500.5", location_state="CA", merchant_category="GAMBLING", account_type=None)
    alert = score(t)
    assert alert is not None
    assert alert.transaction_id == "TX1" and alert.amount == "2500.50"
    assert alert.event_time == "2026-03-02T17:00:00Z" and alert.local_hour == 9  # Los Angeles
    assert alert.score == round(0.75 + 0.3 * 0.25, 4) == 0.825 and alert.severity == "HIGH"
    assert alert.amount_usd == 2500.5 and alert.account_type is None
    message = alert.to_message()
    assert message["account_id_masked"] == "******1234"
    assert message["card_id_masked"] == "********5678"
    assert message["customer_id_masked"] == "******9999"
    assert "account_id" not in message and "card_id" not in message
    assert message["rules"] == [OUT_OF_STATE_HIGH_AMOUNT, RISKY_MERCHANT_CATEGORY]
    assert message["reasons"] == list(alert.reasons)
    assert message["score"] == 0.825 and message["severity"] == "HIGH" and message["amount"] == "2500.50"
    assert message["merchant"] == "Corner Shop" and message["location_state"] == "CA"
    assert message["event_time"] == "2026-03-02T17:00:00Z" and message["local_hour"] == 9
    assert alert.message_attributes() == {
        "severity": {"DataType": "String", "StringValue": "HIGH"},
        "account_type": {"DataType": "String", "StringValue": "unknown"},
    }
    checking = score(txn(amount="2500.00", location_state="CA"))
    assert checking is not None
    assert checking.message_attributes()["account_type"]["StringValue"] == "CHECKING"


def test_velocity_reason_masks_the_card_in_the_message() -> None:
    t0 = NOON.timestamp()
    alert = score(txn(), (t0 - 3, t0 - 2, t0 - 1))
    assert alert is not None
    assert alert.to_message()["reasons"] == ["4 transactions on card ********5678 within 10 minutes"]


def test_make_alert_text_fields_and_rounding() -> None:
    facts = Facts("12.00", "EUR", None, None, None, None, None, None, 1, None, 0, None, 13.456, None)
    record = {"transaction_id": None, "account_id": 12345, "channel": "ATM"}
    alert = rules.make_alert(record, ATM, 0.123456, facts, DEFAULT_POLICY)
    assert alert.transaction_id == "" and alert.account_id == "12345" and alert.card_id is None
    assert alert.event_time is None and alert.score == 0.1235 and alert.amount_usd == 13.46
    assert alert.reasons == ("ATM withdrawal 12.00 EUR (13.46 USD) above 800 USD",)


def test_reasons_without_usd_value_or_with_a_zero_median() -> None:
    facts = Facts("600.00", None, None, None, None, None, None, None, 1, 0.0, 4, None)
    (text,) = rules.reasons(USUAL, facts, DEFAULT_POLICY)
    assert text.startswith("amount 600.00 is infx the account's usual 0.00 USD")
    plain = Facts("600.00", "USD", None, None, None, None, None, None, 1, 100.0, 4, None)
    assert "is 6.0x" in rules.reasons(USUAL, plain, DEFAULT_POLICY)[0]
    assert (
        rules.reasons(
            USUAL, Facts("1", None, None, None, None, None, None, None, 1, None, 0, None), DEFAULT_POLICY
        )
        == ()
    )
    utc = Facts("1500.00", "USD", None, None, None, "POS", None, None, 1, None, 0, 7_200_000_000 + 60_000_000)
    assert rules.reasons(NIGHT, utc, DEFAULT_POLICY) == (
        "card-present POS amount 1500.00 USD above 1000 USD at 02:01 local time (night hours 01:00-05:00)",
    )
    assert (
        rules.reasons(
            NIGHT, Facts("1", None, None, None, None, "POS", None, None, 1, None, 0, None), DEFAULT_POLICY
        )
        == ()
    )


# ------------------------------------------------------------------ history across files


def test_merge_card_keeps_the_retention_window_inclusive() -> None:
    old = [(0, "a"), (10, "b")]
    assert merge_card(old, [(110, "c"), (10, "b")], 100) == [(10, "b"), (110, "c")]
    assert merge_card(old, [(111, "c")], 100) == [(111, "c")]
    assert merge_card([], [], 100) == []
    # equal times: the old rows first, in their order, then the new ones in theirs
    assert merge_card([(5, "b"), (5, "a")], [(5, "0"), (4, "z")], 1) == [
        (4, "z"),
        (5, "b"),
        (5, "a"),
        (5, "0"),
    ]


def test_merge_account_is_a_union_by_id_keeping_the_last() -> None:
    old = [(1, "a", 10.0), (2, "b", 20.0)]
    assert merge_account(old, [(2, "b", 20.0), (3, "c", 30.0)], 2) == [(2, "b", 20.0), (3, "c", 30.0)]
    assert merge_account(old, [(0, "z", 5.0)], 5) == [(0, "z", 5.0), (1, "a", 10.0), (2, "b", 20.0)]
    assert merge_account(old, [(4, "a", 11.0)], 5) == [(2, "b", 20.0), (4, "a", 11.0)]  # re-sent id
    tied = [(5, "b", 1.0), (5, "a", 2.0)]
    assert merge_account(tied, [(5, "b", 1.0)], 5) == tied  # a replayed row keeps its place
    assert merge_account(tied, [(5, "b", 3.0)], 5) == [(5, "a", 2.0), (5, "b", 3.0)]  # a changed one moves


def test_updated_history_merges_only_usable_rows_and_leaves_the_old_state_alone() -> None:
    before = FraudHistory({"C1": [(1, "t0")]}, {"A1": [(1, "t0", 5.0)]})
    cards = ["C1", "C2", None, "C3", "C4", "C1"]
    accounts = ["A1", "A2", "A3", None, "A4", "A1"]
    ids = ["t1", "t2", "t3", "t4", None, "t6"]
    micros = np.array([10, 20, 30, 40, 50, 60])
    has_time = np.array([True, True, True, True, True, False])
    usd = np.array([1.0, 0.0, 3.0, 4.0, 5.0, 6.0])
    has_usd = np.array([True, True, True, True, True, True])
    out = updated_history(before, cards, accounts, ids, micros, has_time, usd, has_usd, keep=20)
    t1, t2, t3, t4 = (txn_ref(f"t{k}") for k in range(1, 5))  # the history keeps digests of the ids
    assert out.cards == {"C1": [(1, "t0"), (10, t1)], "C2": [(20, t2)], "C3": [(40, t4)]}
    assert out.accounts == {"A1": [(1, "t0", 5.0), (10, t1, 1.0)], "A3": [(30, t3, 3.0)]}
    assert before.cards == {"C1": [(1, "t0")]} and before.accounts == {"A1": [(1, "t0", 5.0)]}
    unknown_usd = updated_history(
        FraudHistory(),
        ["C1"],
        ["A1"],
        ["t1"],
        np.array([5]),
        np.array([True]),
        np.array([9.0]),
        np.array([False]),
        20,
    )
    assert unknown_usd.accounts == {} and unknown_usd.cards == {"C1": [(5, t1)]}
    short = updated_history(
        FraudHistory({"C1": [(0, "t0")]}, {}),
        ["C1"],
        [None],
        ["t1"],
        np.array([CARD_RETENTION_US + 1]),
        np.array([True]),
        np.array([0.0]),
        np.array([False]),
        20,
    )
    assert short.cards == {"C1": [(CARD_RETENTION_US + 1, t1)]}
    kept = updated_history(
        FraudHistory({}, {"A1": [(1, "x", 1.0), (2, "y", 2.0)]}),
        [None],
        ["A1"],
        ["z"],
        np.array([3]),
        np.array([True]),
        np.array([3.0]),
        np.array([True]),
        keep=2,
    )
    assert kept.accounts == {"A1": [(2, "y", 2.0), (3, txn_ref("z"), 3.0)]}


def test_history_rows_flatten_for_the_table_path() -> None:
    h = FraudHistory({"C1": [(1, "a"), (2, "b")], "C2": [(3, "c")]}, {"A1": [(1, "a", 9.0)]})
    assert h.card_rows() == (["C1", "C1", "C2"], [1, 2, 3], ["a", "b", "c"])
    assert h.card_rows(["C2", "C9"]) == (["C2"], [3], ["c"])
    assert h.account_rows() == (["A1"], [1], ["a"], [9.0])
    assert h.account_rows(["A9"]) == ([], [], [], [])
    assert CARD_RETENTION_US == 86_400_000_000


# ------------------------------------------------------------------ local time


# 2026-01-15 12:00 UTC (no daylight saving anywhere in the US), hour by zone
WINTER_NOON_UTC = int(datetime(2026, 1, 15, 12, tzinfo=UTC).timestamp() * 1_000_000)
HOUR_BY_STATE = {
    **dict.fromkeys(
        [
            "CT",
            "DC",
            "DE",
            "FL",
            "GA",
            "IN",
            "KY",
            "MA",
            "MD",
            "ME",
            "MI",
            "NC",
            "NH",
            "NJ",
            "NY",
            "OH",
            "PA",
            "RI",
            "SC",
            "VA",
            "VT",
            "WV",
        ],
        7,
    ),  # Eastern
    **dict.fromkeys(
        ["AL", "AR", "IA", "IL", "KS", "LA", "MN", "MO", "MS", "ND", "NE", "OK", "SD", "TN", "TX", "WI"], 6
    ),  # Central
    **dict.fromkeys(["CO", "ID", "MT", "NM", "UT", "WY", "AZ"], 5),  # Mountain (Arizona: no DST anyway)
    **dict.fromkeys(["CA", "NV", "OR", "WA"], 4),  # Pacific
    "AK": 3,
    "HI": 2,
    "PR": 8,
    "VI": 8,
    "GU": 22,
    "MP": 22,
    "AS": 1,
}


def test_every_state_and_territory_has_its_zone() -> None:
    assert set(STATE_ZONES) == set(HOUR_BY_STATE)
    assert {s: local_hour(WINTER_NOON_UTC, None, s) for s in HOUR_BY_STATE} == HOUR_BY_STATE


def test_arizona_keeps_standard_time_in_summer() -> None:
    summer = int(datetime(2026, 7, 15, 12, tzinfo=UTC).timestamp() * 1_000_000)
    assert local_hour(summer, None, "AZ") == 5 and local_hour(summer, None, "CO") == 6
    assert zone_for("AZ") == "America/Phoenix" and zone_for("CO") == "America/Denver"


def test_zone_for_and_local_hour_fallbacks() -> None:
    assert zone_for("CA", "US") == "America/Los_Angeles" and zone_for("CA", "") == "America/Los_Angeles"
    assert zone_for("CA", "MX") is None
    assert zone_for(None) is None and zone_for("") is None and zone_for("ZZ") is None
    assert local_hour(WINTER_NOON_UTC, -480, "NY") == 4  # the source's offset wins
    assert local_hour(WINTER_NOON_UTC, 0, "CA") == 12
    assert local_hour(WINTER_NOON_UTC, 330, None) == 17
    assert local_hour(WINTER_NOON_UTC, None, "ZZ") == 12
    assert local_hour(WINTER_NOON_UTC, None, "CA", "CA") == 12  # country CA: UTC, not California


def test_the_alert_message_field_by_field() -> None:
    t = txn(
        amount="3000",
        currency="EUR",
        location_state="CA",
        channel="POS",
        account_type="SAVINGS",
        merchant_category="JEWELRY",
        merchant="Gold & Co",
        event_utc_offset_minutes=-480,
    )
    alert = score(t, to_usd=lambda amount, currency, on: amount * 1.1)
    assert alert is not None
    assert alert.to_message() == {
        "transaction_id": "TX1",
        "account_id_masked": "******1234",
        "card_id_masked": "********5678",
        "customer_id_masked": "******9999",
        "amount": "3000.00",
        "currency": "EUR",
        "merchant": "Gold & Co",
        "merchant_category": "JEWELRY",
        "channel": "POS",
        "location_state": "CA",
        "home_state": "NY",
        "account_type": "SAVINGS",
        "event_time": "2026-03-02T17:00:00Z",
        "score": 0.825,
        "severity": "HIGH",
        "rules": [OUT_OF_STATE_HIGH_AMOUNT, RISKY_MERCHANT_CATEGORY],
        "reasons": [
            "amount 3000.00 EUR (3300.00 USD) above 2000 USD outside home state (CA vs NY)",
            "merchant category JEWELRY (Gold & Co) is high-risk",
        ],
        "amount_usd": 3300.0,
        "local_hour": 9,
    }
    assert (alert.account_id, alert.card_id, alert.customer_id) == (
        "ACC0001234",
        "CARD00005678",
        "CUS0009999",
    )
    assert alert.home_state == "NY" and alert.channel == "POS" and alert.merchant == "Gold & Co"


def test_updated_history_goes_on_after_an_unusable_row() -> None:
    out = updated_history(
        FraudHistory(),
        ["C1", "C2", "C3"],
        ["A1", "A2", "A3"],
        [None, "t2", "t3"],
        np.array([10, 20, 30]),
        np.array([True, False, True]),
        np.array([1.0, 2.0, 3.0]),
        np.array([True, True, True]),
        keep=20,
    )
    t3 = txn_ref("t3")
    assert out.cards == {"C3": [(30, t3)]} and out.accounts == {"A3": [(30, t3, 3.0)]}


def test_an_ordinary_amount_gives_no_usual_amount_reason() -> None:
    alert = score(txn(amount="499.99", merchant_category="CRYPTO", merchant="Coins"), median=100.0, n=3)
    assert alert is not None and alert.rules == (RISKY_MERCHANT_CATEGORY,)
    assert alert.reasons == ("merchant category CRYPTO (Coins) is high-risk",)


def test_an_alert_without_an_amount_has_empty_amount_text() -> None:
    alert = score(txn(amount=None, merchant_category="GAMBLING", merchant="Lucky"))
    assert alert is not None and alert.amount == "" and alert.amount_usd is None
    assert alert.to_message()["amount"] == ""


def test_the_alert_severity_uses_the_policy_it_was_scored_with() -> None:
    stricter_high = FraudPolicy(high=0.8, critical=0.95)
    t = txn(amount="2500.00", location_state="CA")
    alert = score(t, policy=stricter_high)
    assert alert is not None and alert.score == 0.75 and alert.severity == "MEDIUM"
    default = score(t)
    assert default is not None and default.severity == "HIGH"


def test_the_usual_amount_ratio_is_in_usd() -> None:
    yen = txn(amount="90000", currency="JPY")
    alert = score(yen, median=100.0, n=3, to_usd=lambda amount, currency, on: amount / 150)
    assert alert is not None and alert.rules == ("AMOUNT_ABOVE_USUAL",)
    assert alert.reasons == (
        "amount 90000.00 JPY (600.00 USD) is 6.0x the account's usual 100.00 USD "
        "(median of its previous 3 transactions; limit 5x)",
    )
    small = Facts("600.00", "USD", None, None, None, None, None, None, 1, 0.5, 4, None)
    assert "is 1200.0x the account's usual 0.50 USD" in rules.reasons(USUAL, small, DEFAULT_POLICY)[0]
