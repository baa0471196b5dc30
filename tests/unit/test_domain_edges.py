"""Edges of the domain functions that the scenario tests pass through without pinning: exact
messages and dictionaries, boundaries of the calendar, the event path's optional fields."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from datapipe.contracts import default_registry
from datapipe.fraud import FraudPolicy, score_event
from datapipe.fraud.rules import _window_text, severity
from datapipe.inventory.orders import CREATED, PurchaseOrder
from datapipe.inventory.stock import StockItem, low_stock_from_record
from datapipe.quality import checks
from datapipe.quality.deliveries import delivered_rows_for_day, members_of_file, missing_deliveries
from tests.unit.gate_support import staged

TX = default_registry().get("transactions")
INV = default_registry().get("inventory_movements")
AT = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)


def txn(**kw: Any) -> dict[str, Any]:
    base = {
        "transaction_id": "T1",
        "account_id": "A1",
        "card_id": "C1",
        "customer_id": "U1",
        "amount": "2500.00",
        "currency": "USD",
        "merchant": "M",
        "merchant_category": "GROCERY",
        "channel": "POS",
        "location_state": "NV",
        "home_state": "CA",
        "account_type": "credit",
        "event_time": "2026-03-02T20:00:00Z",
    }
    return base | kw


def test_alert_message_and_attributes_exactly() -> None:
    alert = score_event(txn(), [], None, 0)
    assert alert is not None
    assert alert.to_message() == {  # ids masked in what people are sent (issue 9: no ids in alerts)
        "transaction_id": "T1",
        "account_id_masked": "**",
        "card_id_masked": "**",
        "customer_id_masked": "**",
        "amount": "2500.00",
        "currency": "USD",
        "merchant": "M",
        "merchant_category": "GROCERY",
        "channel": "POS",
        "location_state": "NV",
        "home_state": "CA",
        "account_type": "credit",
        "event_time": "2026-03-02T20:00:00Z",
        "score": 0.75,
        "severity": "HIGH",
        "rules": ["OUT_OF_STATE_HIGH_AMOUNT"],
        "reasons": ["amount 2500.00 USD above 2000 USD outside home state (NV vs CA)"],
        "amount_usd": 2500.0,
        "local_hour": 12,  # 20:00 UTC in Nevada (PST)
    }
    assert alert.message_attributes() == {
        "severity": {"DataType": "String", "StringValue": "HIGH"},
        "account_type": {"DataType": "String", "StringValue": "credit"},
    }
    anonymous = score_event(txn(account_type=None), [], None, 0)
    assert anonymous is not None
    assert anonymous.message_attributes()["account_type"] == {"DataType": "String", "StringValue": "unknown"}


@pytest.mark.parametrize(
    ("seconds", "text"), [(60, "1 minute"), (600, "10 minutes"), (90, "90 seconds"), (30.5, "30.5 seconds")]
)
def test_window_text(seconds: float, text: str) -> None:
    assert _window_text(seconds) == text


def test_event_path_optional_fields() -> None:
    # no currency: taken as USD
    assert score_event(txn(currency=None), [], None, 0) is not None
    # a foreign amount without a time cannot be converted (no rate date): no amount rule
    eur = txn(currency="EUR", event_time=None)
    assert score_event(eur, [], None, 0, to_usd=lambda a, c, d: a) is None
    # with a time and a converter it is converted; a failing converter means no amount rule
    assert score_event(txn(currency="EUR"), [], None, 0, to_usd=lambda a, c, d: a * 2) is not None
    assert score_event(txn(currency="EUR", amount="1200.00"), [], None, 0, to_usd=lambda a, c, d: a) is None

    def no_rate(a: float, c: str, d: date) -> float:
        raise LookupError(c)

    assert score_event(txn(currency="EUR"), [], None, 0, to_usd=no_rate) is None
    # local time: the offset wins, an empty offset counts as none
    night = txn(amount="1500.00", location_state="CA", event_time="2026-03-02T10:00:00Z")
    assert score_event(night, [], None, 0) is not None  # 02:00 in California
    assert score_event(night | {"event_utc_offset_minutes": 480}, [], None, 0) is None  # 18:00
    assert score_event(night | {"event_utc_offset_minutes": ""}, [], None, 0) is not None
    alert = score_event(night | {"event_utc_offset_minutes": -420}, [], None, 0)
    assert alert is not None and alert.local_hour == 3
    # velocity counts only earlier times within the window, and never without a card
    t = datetime(2026, 3, 2, 20, tzinfo=UTC).timestamp()
    earlier = [t - 600, t - 300, t - 1, t + 1, t - 601]
    quiet = txn(amount="5.00", location_state="CA")
    fast = score_event(quiet, earlier, None, 0)
    assert fast is not None and fast.rules == ("CARD_VELOCITY",) and "4 transactions" in fast.reasons[0]
    assert score_event(quiet | {"card_id": ""}, earlier, None, 0) is None
    # the usual amount needs min_history transactions
    assert score_event(quiet | {"amount": "100.00"}, [], 10.0, 2) is None
    usual = score_event(quiet | {"amount": "100.00"}, [], 10.0, 3)
    assert usual is not None and usual.rules == ("AMOUNT_ABOVE_USUAL",)
    assert score_event(quiet | {"amount": "50.00"}, [], 10.0, 3) is None  # exactly 5x: not above


def test_severity_bands_at_their_thresholds() -> None:
    policy = FraudPolicy()
    assert [severity(s, policy) for s in (0.5, 0.5000001, 0.7, 0.7000001, 0.9, 0.9000001)] == [
        "LOW",
        "MEDIUM",
        "MEDIUM",
        "HIGH",
        "HIGH",
        "CRITICAL",
    ]


def test_missing_delivery_dict_and_boundaries() -> None:
    day = date(2026, 3, 2)
    due = datetime(2026, 3, 3, 6, tzinfo=UTC)
    delivered = {f"S{i:03d}": 20 for i in range(1, 61)} | {"online": 50}  # exactly at the floors
    assert missing_deliveries(TX, day, delivered, due) == []
    delivered["online"] = 49
    (late,) = missing_deliveries(TX, day, delivered, due)
    assert late.to_dict() == {
        "dataset": "transactions",
        "source": "online",
        "business_day": "2026-03-02",
        "due_at": "2026-03-03T06:00:00+00:00",
        "rows": 49,
        "min_rows": 50,
        "reason": "too few rows",
    }


def test_a_line_not_yet_due_does_not_hide_the_lines_after_it() -> None:
    from dataclasses import replace

    lines = (
        replace(TX.quality.deliveries[0], sources=("A",), due_by_hour=23),
        replace(TX.quality.deliveries[1], sources=("B",), due_by_hour=1),
    )
    contract = replace(TX, quality=replace(TX.quality, deliveries=lines))
    missing = missing_deliveries(contract, date(2026, 3, 2), {}, datetime(2026, 3, 3, 2, tzinfo=UTC))
    assert [m.source for m in missing] == ["B"]


def test_delivered_rows_for_day_sums_the_days_records_only() -> None:
    records: list[dict[str, object]] = [
        {"sources": {"S001": {"day": "2026-03-02", "rows": 10}, "S002": {"day": "2026-03-01", "rows": 5}}},
        {"sources": {"S001": {"day": "2026-03-02", "rows": 7}}},
        {"sources": {"S003": "not a dict"}},
        {"rows_published": 99},
    ]
    assert delivered_rows_for_day(records, date(2026, 3, 2)) == {"S001": 17}


def test_members_of_file_follow_the_weekdays() -> None:
    assert members_of_file(INV, "region-02", None)[0] == "S011"
    assert members_of_file(INV, "region-02", date(2026, 3, 8))[-1] == "S020"  # a Sunday: every day listed
    assert members_of_file(INV, "region-99", None) == ()
    assert members_of_file(TX, "S001", None) == ()  # one source per file: not a multi-source file


def test_column_profile_of_one_row_and_of_none() -> None:
    one = staged(TX, 1, amount=[12.5])
    assert checks.column_profile(one, "amount") == {"mean": 12.5, "stddev": 0.0}
    assert checks.column_profile(one.slice(0, 0), "amount") == {}
    assert checks.column_profile(one, None) == {}
    two = staged(TX, 2, amount=[10.0, 30.0])
    assert checks.column_profile(two, "amount") == {"mean": 20.0, "stddev": 10.0}


def test_check_result_dict_and_assessment_dict() -> None:
    result = checks._result(TX, "validity", 0.12345678, {"k": 1})
    assert result.to_dict() == {
        "name": "validity",
        "score": 0.123457,
        "passed": False,
        "critical": False,
        "threshold": 0.95,
        "details": {"k": 1},
        "floor": 0.8,
        "veto": True,
    }
    assessment = checks.assess(TX, [result])
    assert assessment.to_dict()["all_passed"] is False and assessment.to_dict()["vetoes"] == ["validity"]
    assert (
        checks._result(TX, "validity", 1.7, {}).score == 1.0
        and checks._result(TX, "validity", -1, {}).score == 0.0
    )


def test_purchase_order_validation() -> None:
    with pytest.raises(ValueError, match="unknown status"):
        PurchaseOrder("PO-1", "S001", "P0001", 1, status="LOST")
    po = PurchaseOrder("PO-1", "S001", "P0001", 1)
    assert po.status == CREATED and po.delivered_by is None and po.delivered_qty == 0
    with pytest.raises(ValueError, match="positive quantity"):
        PurchaseOrder("PO-1", "S001", "P0001", -1)


def test_stock_item_refuses_a_negative_on_order() -> None:
    with pytest.raises(ValueError, match="on_order"):
        StockItem("S001", "P0001", 1, 1, on_order=-1)
    assert StockItem("S001", "P0001", 5, 1, on_order=0).position == 5


def test_low_stock_detected_at_from_the_record() -> None:
    def img(on_hand: int, on_order: int = 0) -> dict[str, Any]:
        return {
            "store_id": {"S": "S001"},
            "product_id": {"S": "P0001"},
            "on_hand": {"N": str(on_hand)},
            "on_order": {"N": str(on_order)},
            "reorder_threshold": {"N": "20"},
        }

    record = {
        "eventID": "e",
        "eventName": "MODIFY",
        "dynamodb": {"OldImage": img(30), "NewImage": img(10, 4)},
    }
    low = low_stock_from_record(
        record | {"dynamodb": record["dynamodb"] | {"ApproximateCreationDateTime": AT}}
    )
    assert low is not None and low.detected_at == AT and (low.on_order, low.position) == (4, 14)
    assert not low.unscanned_delivery_suspected
    epoch = low_stock_from_record(
        record | {"dynamodb": record["dynamodb"] | {"ApproximateCreationDateTime": AT.timestamp()}}
    )
    assert epoch is not None and epoch.detected_at == AT
    # on order already covers it: not low
    covered = {
        "eventID": "e",
        "eventName": "MODIFY",
        "dynamodb": {"OldImage": img(30), "NewImage": img(10, 10)},
    }
    assert low_stock_from_record(covered) is None


# ------------------------------------------------------------------ the event path at every boundary


@pytest.mark.parametrize(
    ("fields", "rules"),
    [
        ({"amount": "2000.00"}, ()),
        ({"amount": "2000.01"}, ("OUT_OF_STATE_HIGH_AMOUNT",)),
        ({"amount": "1000.00", "location_state": "CA", "event_time": "2026-03-02T10:00:00Z"}, ()),
        (
            {"amount": "1000.01", "location_state": "CA", "event_time": "2026-03-02T10:00:00Z"},
            ("NIGHT_CARD_PRESENT_LARGE",),
        ),
        ({"amount": "800.00", "location_state": "CA", "channel": "ATM"}, ()),
        ({"amount": "800.01", "location_state": "CA", "channel": "ATM"}, ("ATM_LARGE_WITHDRAWAL",)),
        (
            {
                "amount": "2500.00",
                "channel": "ATM",
                "event_time": "2026-03-02T10:00:00Z",
                "merchant_category": "CRYPTO",
            },
            (
                "OUT_OF_STATE_HIGH_AMOUNT",
                "RISKY_MERCHANT_CATEGORY",
                "NIGHT_CARD_PRESENT_LARGE",
                "ATM_LARGE_WITHDRAWAL",
            ),
        ),
    ],
)
def test_event_path_rules_at_their_thresholds(fields: dict[str, Any], rules: tuple[str, ...]) -> None:
    alert = score_event(txn(**fields), [], None, 0)
    assert (alert.rules if alert else ()) == rules


def test_event_velocity_window_is_inclusive_at_both_ends_and_combines_with_other_rules() -> None:
    t = datetime(2026, 3, 2, 20, tzinfo=UTC).timestamp()
    at_edges = [t - 600, t - 600, t]  # exactly a window back, and at the same instant
    alert = score_event(txn(), at_edges, None, 0)
    assert alert is not None and alert.rules == ("OUT_OF_STATE_HIGH_AMOUNT", "CARD_VELOCITY")
    assert alert.score == 0.9125 and alert.severity == "CRITICAL"
    assert "4 transactions on card C1 within 10 minutes" in alert.reasons


def test_event_conversion_uses_the_transactions_date_and_country() -> None:
    seen: list[tuple[str, date]] = []

    def rates(amount: float, currency: str, on: date) -> float:
        seen.append((currency, on))
        return amount * 2

    alert = score_event(txn(currency="EUR", amount="1000.01"), [], None, 0, to_usd=rates)
    assert seen == [("EUR", date(2026, 3, 2))] and alert is not None and alert.amount_usd == 2000.02
    # a store outside the US: its state code is not a US state, so local time is UTC (20:00)
    abroad = txn(
        amount="1500.00", location_state="CA", location_country="MX", event_time="2026-03-02T10:00:00Z"
    )
    assert score_event(abroad, [], None, 0) is None  # 10:00 UTC: not night
    home = score_event(abroad | {"location_country": "US"}, [], None, 0)
    assert home is not None and home.local_hour == 2


def test_every_reason_with_its_numbers() -> None:
    t = datetime(2026, 3, 2, 10, tzinfo=UTC).timestamp()  # 02:00 in California
    rich = txn(
        amount="2500.00",
        channel="ATM",
        merchant="LuckyBet",
        merchant_category="GAMBLING",
        location_state="NV",
        event_time="2026-03-02T10:00:00Z",
        currency="EUR",
    )
    alert = score_event(rich, [t - 1, t - 2, t - 3], 40.0, 20, to_usd=lambda a, c, d: a)
    assert alert is not None
    assert alert.reasons == (
        "amount 2500.00 EUR (2500.00 USD) above 2000 USD outside home state (NV vs CA)",
        "4 transactions on card C1 within 10 minutes",
        "amount 2500.00 EUR (2500.00 USD) is 62.5x the account's usual 40.00 USD "
        "(median of its previous 20 transactions; limit 5x)",
        "merchant category GAMBLING (LuckyBet) is high-risk",
        "card-present ATM amount 2500.00 EUR (2500.00 USD) above 1000 USD at 02:00 local time "
        "(night hours 01:00-05:00)",
        "ATM withdrawal 2500.00 EUR (2500.00 USD) above 800 USD",
    )
    assert alert.severity == "CRITICAL" and alert.event_time == "2026-03-02T10:00:00Z"
    usual_zero = score_event(txn(amount="10.00", location_state="CA"), [], 0.0, 3)
    assert usual_zero is not None and "inf" in usual_zero.reasons[0]
    no_currency = score_event(txn(currency=None), [], None, 0)
    assert no_currency is not None and no_currency.reasons[0].startswith("amount 2500.00 above 2000 USD")


def test_alerts_follow_the_policy_passed() -> None:
    strict = FraudPolicy(high=0.74, critical=0.8)
    alert = score_event(txn(), [], None, 0, strict)
    assert alert is not None and alert.severity == "HIGH" and alert.score == 0.75
    assert (
        score_event(txn(), [], None, 0, FraudPolicy(weight_out_of_state_high_amount=0.95)).severity
        == "CRITICAL"
    )  # type: ignore[union-attr]
    fractional = FraudPolicy(high_amount=2000.5, velocity_window_s=90)
    assert score_event(txn(amount="2000.50"), [], None, 0, fractional) is None
    half = score_event(txn(amount="2000.51"), [], None, 0, fractional)
    assert (
        half is not None
        and half.reasons[0] == "amount 2000.51 USD above 2000.5 USD outside home state (NV vs CA)"
    )


# ------------------------------------------------------------------ demand window edges


def test_demand_window_is_exactly_28_days() -> None:
    from datapipe.inventory.demand import daily_demand, merge_daily_sales, replenishment_for

    newest = date(2026, 3, 28)
    kept = merge_daily_sales(
        {"2026-03-01": 5}, {newest.isoformat(): 1}
    )  # 27 days back: the window's first day
    assert kept == {"2026-03-01": 5, "2026-03-28": 1}
    dropped = merge_daily_sales({"2026-02-28": 5}, {newest.isoformat(): 1})  # 28 days back: out
    assert dropped == {"2026-03-28": 1}
    assert merge_daily_sales({"2026-03-01": 1}, {"2026-03-01": 0}) == {"2026-03-01": 1}  # zero is allowed
    with pytest.raises(ValueError, match="units sold must be >= 0, got -1 on 2026-03-01"):
        merge_daily_sales({}, {"2026-03-01": -1})
    assert merge_daily_sales({}, {}) == {}
    d = daily_demand({"2026-01-01": 28, "2026-03-28": 0}, as_of=newest)
    assert (d.days, d.avg_daily_sales) == (28, 0.0)  # the old day is outside the 28-day span
    assert daily_demand({}, as_of=newest) == type(d)(0.0, 0.0, 0)
    single = daily_demand({"2026-03-28": 6}, as_of=newest)
    assert (single.avg_daily_sales, single.daily_sales_std, single.days) == (6.0, 0.0, 1)
    with pytest.raises(ValueError, match="as_of 2026-03-27 is before the first day with sales 2026-03-28"):
        daily_demand({"2026-03-28": 6}, as_of=date(2026, 3, 27))
    r = replenishment_for(type(d)(10.123456789, 2.0, 7), lead_time_days=4, review_days=0, service_z=2.0)
    assert (r.avg_daily_sales, r.daily_sales_std, r.safety_stock, r.reorder_point) == (10.123457, 2.0, 8, 49)


def test_delivered_rows_count_a_record_without_rows_as_zero() -> None:
    records: list[dict[str, object]] = [
        {"sources": "not a dict"},
        {"sources": {"S001": {"day": "2026-03-02"}}},
        {"sources": {"S001": {"day": "2026-03-02", "rows": 4}}},
    ]
    assert delivered_rows_for_day(records, date(2026, 3, 2)) == {"S001": 4}
    (missing,) = [
        m
        for m in missing_deliveries(
            TX,
            date(2026, 3, 2),
            {"online": 600} | {f"S{i:03d}": 300 for i in range(2, 61)},
            datetime(2026, 3, 4, tzinfo=UTC),
        )
    ]
    assert (missing.dataset, missing.min_rows, missing.reason) == ("transactions", 20, "not delivered")


def test_inventory_refusals_say_what_is_wrong() -> None:
    from datapipe.inventory.orders import SENT, IllegalTransition
    from datapipe.inventory.stock import detect_crossing, item_from_image, safety_stock_for

    with pytest.raises(ValueError, match=r"^safety_stock must be >= 0, got -1$"):
        StockItem("S", "P", 1, 1, safety_stock=-1)
    with pytest.raises(ValueError, match=r"^min_order_qty must be >= 0, got -1$"):
        StockItem("S", "P", 1, 1, min_order_qty=-1)
    po = PurchaseOrder("PO-7", "S", "P", 3).to(SENT)
    with pytest.raises(IllegalTransition, match=r"^PO-7: SENT -> CREATED is not allowed$"):
        po.to(CREATED)
    with pytest.raises(ValueError, match=r"^a delivery brings a positive quantity, got 0$"):
        po.receive(0, "d")
    assert po.receive(1, "d").delivered_qty == 1  # one unit is a delivery
    with pytest.raises(
        ValueError, match=r"^stock image lacks required attribute\(s\): on_hand, reorder_threshold$"
    ):
        item_from_image({"store_id": {"S": "S"}, "product_id": {"S": "P"}})
    with pytest.raises(ValueError, match=r"^attribute on_hand is not a number: 'x'$"):
        item_from_image(
            {
                "store_id": {"S": "S"},
                "product_id": {"S": "P"},
                "on_hand": {"N": "x"},
                "reorder_threshold": {"N": "1"},
            }
        )
    with pytest.raises(ValueError, match=r"^attribute on_hand must be finite, got Infinity$"):
        item_from_image(
            {
                "store_id": {"S": "S"},
                "product_id": {"S": "P"},
                "on_hand": {"N": "Infinity"},
                "reorder_threshold": {"N": "1"},
            }
        )
    with pytest.raises(
        ValueError, match=r"^MODIFY record without OldImage: the stream must be NEW_AND_OLD_IMAGES$"
    ):
        detect_crossing("MODIFY", None, StockItem("S", "P", 1, 1))
    for name, args in (
        ("daily_sales_std", (-1.0, 1.0)),
        ("lead_time_days", (1.0, -1.0)),
        ("review_days", (1.0, 1.0, -1.0)),
    ):
        with pytest.raises(ValueError, match=rf"^{name} must be a finite number >= 0"):
            safety_stock_for(*args)
    with pytest.raises(ValueError, match=r"^service_z must be a finite number >= 0"):
        safety_stock_for(1.0, 1.0, 1.0, -0.1)


def test_mean_of_a_zero_column_is_zero() -> None:
    assert checks.column_profile(staged(TX, 2, amount=[0.0, 0.0]), "amount") == {"mean": 0.0, "stddev": 0.0}


def test_usd_amount_is_rounded_to_cents_in_the_alert() -> None:
    alert = score_event(txn(currency="EUR"), [], None, 0, to_usd=lambda a, c, d: a * 1.0012345)
    assert alert is not None and alert.amount_usd == 2503.09


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"medium": -0.01}, "severity thresholds must satisfy 0 <= medium <= high <= critical <= 1"),
        ({"medium": 0.71}, "severity thresholds must satisfy 0 <= medium <= high <= critical <= 1"),
        ({"high": 0.91}, "severity thresholds must satisfy 0 <= medium <= high <= critical <= 1"),
        ({"critical": 1.01}, "severity thresholds must satisfy 0 <= medium <= high <= critical <= 1"),
        ({"weight_card_velocity": 1.01}, "rule weights must be within [0, 1]"),
        ({"weight_atm_large_withdrawal": -0.01}, "rule weights must be within [0, 1]"),
        ({"velocity_count": 1}, "velocity needs a positive window and a count of at least 2"),
        ({"velocity_window_s": 0}, "velocity needs a positive window and a count of at least 2"),
        ({"min_history": 0}, "min_history must be at least 1"),
        ({"min_history": 5, "usual_history": 4}, "usual_history must be at least min_history"),
        ({"night_hours": (-1, 5)}, "night_hours are local hours: start in 0..23, end in 0..24"),
        ({"night_hours": (24, 5)}, "night_hours are local hours: start in 0..23, end in 0..24"),
        ({"night_hours": (1, 25)}, "night_hours are local hours: start in 0..23, end in 0..24"),
        ({"night_hours": (1, -1)}, "night_hours are local hours: start in 0..23, end in 0..24"),
    ],
)
def test_fraud_policy_refuses_nonsense(kwargs: dict[str, Any], message: str) -> None:
    import re

    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        FraudPolicy(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"medium": 0.0, "high": 0.0, "critical": 0.0},
        {"medium": 1.0, "high": 1.0, "critical": 1.0},
        {"weight_card_velocity": 0.0, "weight_risky_merchant_category": 1.0},
        {"velocity_count": 2, "velocity_window_s": 0.001},
        {"min_history": 1, "usual_history": 1},
        {"night_hours": (0, 24)},
        {"night_hours": (23, 0)},
    ],
)
def test_fraud_policy_accepts_its_limits(kwargs: dict[str, Any]) -> None:
    policy = FraudPolicy(**kwargs)
    assert all(getattr(policy, k) == v for k, v in kwargs.items())


def test_night_hours_wrapping_midnight() -> None:
    policy = FraudPolicy(night_hours=(22, 3))
    assert [policy.is_night(h) for h in (21, 22, 23, 0, 2, 3, 4)] == [
        False,
        True,
        True,
        True,
        True,
        False,
        False,
    ]
    plain = FraudPolicy()
    assert [plain.is_night(h) for h in (0, 1, 4, 5)] == [False, True, True, False]


def test_history_merge_rules() -> None:
    import numpy as np

    from datapipe.fraud.history import (
        CARD_RETENTION_US,
        FraudHistory,
        merge_account,
        merge_card,
        txn_ref,
        updated_history,
    )

    day = CARD_RETENTION_US
    assert merge_card([(0, "a")], [(day, "b")], day) == [(0, "a"), (day, "b")]  # exactly a retention back
    assert merge_card([(0, "a")], [(day + 1, "b")], day) == [(day + 1, "b")]
    assert merge_card([], [], day) == []
    assert merge_account([(1, "a", 5.0), (2, "b", 6.0)], [(3, "c", 7.0), (1, "a", 9.0)], 2) == [
        (2, "b", 6.0),
        (3, "c", 7.0),
    ]
    history = FraudHistory({"C0": [(1, "old")]}, {"A0": [(1, "old", 3.0)]})
    out = updated_history(
        history,
        cards=["C1", None, "C1", "C2", "C3"],
        accounts=["A1", "A1", None, "A1", "A1"],
        ids=["t1", "t2", "t3", None, "t5"],
        micros=np.array([10, 20, 30, 40, 50]),
        has_time=np.array([True, True, True, True, False]),
        usd=np.array([5.0, -2.0, 7.0, 8.0, 9.0]),
        has_usd=np.array([True, True, True, True, True]),
        keep=20,
    )
    t1, t3 = txn_ref("t1"), txn_ref("t3")  # the history keeps digests of the ids
    assert out.cards == {"C0": [(1, "old")], "C1": [(10, t1), (30, t3)]}  # no id / no time: skipped
    assert out.accounts == {"A0": [(1, "old", 3.0)], "A1": [(10, t1, 5.0)]}  # refunds are not "usual"
    assert history.cards == {"C0": [(1, "old")]}  # the input history is not modified
    assert out.card_rows() == (["C0", "C1", "C1"], [1, 10, 30], ["old", t1, t3])
    assert out.card_rows(["C1", "nope"]) == (["C1", "C1"], [10, 30], [t1, t3])
    assert out.account_rows() == (["A0", "A1"], [1, 10], ["old", t1], [3.0, 5.0])
    assert out.account_rows(["A1"]) == (["A1"], [10], [t1], [5.0])


def test_event_times_and_amounts_as_they_arrive() -> None:
    from datapipe.fraud.localtime import zone_for
    from datapipe.fraud.rules import amount_value, to_micros

    ten = int(datetime(2026, 3, 2, 10, tzinfo=UTC).timestamp()) * 1_000_000
    assert to_micros("2026-03-02T10:00:00Z") == ten
    assert to_micros("2026-03-02T10:00:00") == ten  # naive: UTC
    assert to_micros(datetime(2026, 3, 2, 10)) == ten
    assert to_micros("2026-03-02T11:00:00+01:00") == ten
    assert to_micros(1.5) == 1_500_000 and to_micros(0) == 0
    assert to_micros("") is None and to_micros(None) is None
    assert amount_value("") is None and amount_value(None) is None and amount_value("abc") is None
    assert amount_value("NaN") is None and amount_value("Infinity") is None
    assert amount_value("7") == ("7.00", 7.0) and amount_value(Decimal("2.5")) == ("2.50", 2.5)
    assert amount_value("1.2345") == ("1.2345", 1.2345)
    assert zone_for("CA", "") == "America/Los_Angeles" and zone_for("CA", None) == zone_for("CA", "US")
    assert zone_for("", "US") is None and zone_for("XX") is None


def test_distribution_against_a_zero_baseline() -> None:
    from datapipe.quality.history import _relative_shift

    assert _relative_shift(0.0, 0.0) == 0.0
    assert _relative_shift(0.5, 0.0) == float("inf")
    assert _relative_shift(3.0, 2.0) == 0.5 and _relative_shift(1.0, -2.0) == 1.5


def test_differ_rate_counts_unknown_states_as_not_differing() -> None:
    table = staged(TX, 4, location_state=["NV", None, "CA", "CA"], home_state=["CA", "CA", "CA", None])
    (rule,) = [r for r in checks.business_checks(TX, table, AT) if r.name == "out_of_home_state_share"]
    assert rule.details["differ_rate"] == 0.25


# ------------------------------------------------------------------ what each gate check tells the operator


def test_check_details_are_exact() -> None:
    from datetime import timedelta

    from datapipe.quality import history
    from datapipe.quality.sources import history_by_source, source_stats
    from tests.unit.gate_support import MemoryIdRegistry, day_times, published_history, tx_day

    day = date(2026, 3, 2)
    at = datetime(2026, 3, 3, 2, tzinfo=UTC)
    table = tx_day(TX, "S001", day, 10)
    registry = MemoryIdRegistry()
    registry.claim(
        "transactions", table.column("transaction_id").to_pylist()[:3], "r-old", at, timedelta(days=1)
    )
    assert history.cross_file_uniqueness_check(TX, table, "me", registry, at).to_dict() == {
        "name": "cross_file_uniqueness",
        "score": 0.7,
        "passed": False,
        "critical": False,
        "threshold": 0.95,
        "details": {
            "checked": True,
            "column": "transaction_id",
            "retention_days": 35,
            "already_published": 3,
            "rows": 10,
            "published_by_runs": ["r-old"],
            "example_ids": ["TS00120260302000000", "TS00120260302000001", "TS00120260302000002"],
        },
        "floor": None,
        "veto": False,
    }
    assert history.cross_file_uniqueness_check(TX, table.slice(0, 0), "me", registry, at).score == 1.0
    from dataclasses import replace

    no_policy = replace(TX, quality=replace(TX.quality, dedupe=None))
    assert history.cross_file_uniqueness_check(no_policy, table, "me", registry, at).details == {
        "checked": False,
        "reason": "no dedupe policy",
    }
    assert history.cross_file_uniqueness_check(TX, table, "me", None, at).details == {
        "checked": False,
        "reason": "no id registry wired: duplicates are still refused at publish",
    }

    region = staged(INV, 3, store_id=["S001", "S002", "S099"], event_time=day_times(day, 3))
    key = "inventory_movements/x/region-01.csv"
    earlier = staged(INV, 3, store_id=["S001", "S003", "S004"], event_time=day_times(day, 3))
    seen = history_by_source(INV, published_history(INV, [(key, earlier)]))
    deliveries = history.deliveries_check(INV, key, source_stats(INV, region, key), seen)
    assert deliveries.score == pytest.approx(1 / 3) and not deliveries.passed
    assert deliveries.details == {
        "file_source": "region-01",
        "business_day": "2026-03-02",
        "calendar_sources": 10,
        "expected_sources": 3,  # the calendar's members that have delivered before
        "missing_sources": ["S003", "S004"],
        "unexpected_sources": ["S099"],
    }
    new_region = history.deliveries_check(INV, key, source_stats(INV, region, key))  # nobody delivered yet
    assert new_region.passed and new_region.details["expected_sources"] == 0
    single = history.deliveries_check(
        TX, "k/pos-S200.csv", source_stats(TX, tx_day(TX, "S200", day, 3), "k/pos-S200.csv")
    )
    assert (single.score, single.passed) == (1.0, True)
    assert single.details == {
        "file_source": "S200",
        "business_day": "2026-03-02",
        "not_in_calendar": ["S200"],
        "not_expected_that_day": [],
    }
    weekdays_only = replace(
        TX,
        quality=replace(
            TX.quality, deliveries=(replace(TX.quality.deliveries[0], weekdays=(1, 2, 3, 4, 5)),)
        ),
    )
    sunday = date(2026, 3, 8)
    off_day = history.deliveries_check(
        weekdays_only, "k/pos-S001.csv", source_stats(TX, tx_day(TX, "S001", sunday, 3), "k/pos-S001.csv")
    )
    assert off_day.details["not_expected_that_day"] == ["S001"] and off_day.passed

    base = published_history(TX, [("transactions/d/pos-S001.csv", tx_day(TX, "S001", day, 10, amount=20.0))])
    shape, day_check = history.enhanced_checks(
        TX, tx_day(TX, "S001", day, 10, amount=30.0), "k/pos-S001-x.csv", "me", base
    )
    assert shape.to_dict() == {
        "name": "distribution_shape",
        "score": 0.5,
        "passed": True,
        "critical": False,
        "threshold": 0.5,
        "details": {
            "column": "amount",
            "statistic": "quantiles of |value|",
            "max_shift": 0.5,
            "sources": [
                {
                    "source": "S001",
                    "quantiles": {"p10": 30.0, "p50": 30.0, "p90": 30.0},
                    "baseline": {"p10": 20.0, "p50": 20.0, "p90": 20.0},
                    "basis": "same source",
                    "observations": 1,
                    "relative_shift": {"p10": 0.5, "p50": 0.5, "p90": 0.5},
                    "passed": True,
                }
            ],
            "failing": [],
        },
        "floor": None,
        "veto": False,
    }
    assert day_check.to_dict() == {
        "name": "source_day_not_yet_delivered",
        "score": 0.0,
        "passed": False,
        "critical": False,
        "threshold": 1.0,
        "details": {
            "already_delivered": [{"source": "S001", "day": "2026-03-02", "published_by_runs": ["hist-0"]}]
        },
        "floor": None,
        "veto": False,
    }
    # this run's own history record is not "already delivered"
    _, own = history.enhanced_checks(TX, tx_day(TX, "S001", day, 10), "k/pos-S001.csv", "hist-0", base)
    assert own.passed and own.details == {"already_delivered": []}
    no_column = replace(TX, quality=replace(TX.quality, distribution_column=None))
    plain = history.distribution_check(no_column, source_stats(no_column, table, "k/pos-S001.csv"), {})
    assert plain.passed and plain.details == {"baseline": "no distribution column in the contract"}
    first = history.distribution_check(TX, source_stats(TX, table, "k/pos-S001.csv"), {})
    assert first.passed and first.score == 1.0
    assert first.details["sources"] == [{"source": "S001", "baseline": "none: nothing to compare with"}]


def test_content_check_counts_missing_and_unparsable_cells() -> None:
    table = staged(TX, 10)
    required = len(TX.required_columns)
    man = {
        "counts": {"rows_in": 13, "rows_valid": 10, "rows_rejected": 3},
        "rejects_by_rule": {"customer_id:required": 2, "*:ragged_row": 1, "transaction_id:unique": 1},
    }
    completeness, validity, uniqueness = checks.content_checks(TX, table, man)
    assert completeness.details == {"missing_required_cells": 2 + required, "required_cells": 13 * required}
    assert completeness.score == 1 - (2 + required) / (13 * required)
    assert (
        validity.score == 10 / 13
        and validity.details["rows_valid"] == 10
        and validity.details["rows_in"] == 13
    )
    assert validity.details["top_rejects"] == man["rejects_by_rule"]
    assert uniqueness.score == 1 - 1 / 13
    assert uniqueness.details == {
        "duplicates_rejected": 1,
        "duplicates_staged": 0,
        "unique_columns": ["transaction_id"],
    }


def test_business_check_details_and_criticality() -> None:
    from dataclasses import replace

    table = staged(TX, 4, event_time=[AT - timedelta_hours(h) for h in (1, 47, 48, 49)])
    freshness, share = checks.business_checks(TX, table, AT)
    assert freshness.to_dict() == {
        "name": "freshness",
        "score": 0.75,
        "passed": True,
        "critical": False,
        "threshold": 0.0,
        "details": {"fresh_rows": 3, "rows": 4, "window_hours": 48.0, "arrival": "2026-03-02T20:00:00+00:00"},
        "floor": None,
        "veto": False,
    }
    assert share.details == {
        "differ_rate": 1.0,
        "max_rate": 0.25,
        "description": "share of transactions outside the home state stays plausible",
    }
    assert share.score == 0.25 and share.threshold == 0.0 and not share.critical
    critical = replace(TX, quality=replace(TX.quality, critical_checks=("schema", "out_of_home_state_share")))
    (_, crit) = checks.business_checks(critical, table, AT)
    assert crit.critical
    empty = checks.business_checks(TX, table.slice(0, 0), AT)
    assert [(r.name, r.score) for r in empty] == [("freshness", 0.0), ("out_of_home_state_share", 1.0)]


def timedelta_hours(hours: int) -> Any:
    from datetime import timedelta

    return timedelta(hours=hours)
