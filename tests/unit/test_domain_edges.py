"""Edges of the domain functions that the scenario tests pass through without pinning: exact
messages and dictionaries, boundaries of the calendar, the event path's optional fields."""

from __future__ import annotations

from datetime import UTC, date, datetime
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
    assert alert.to_message() == {
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
    delivered = {f"S{i:03d}": 300 for i in range(1, 61)} | {"online": 500}  # exactly at the floors
    assert missing_deliveries(TX, day, delivered, due) == []
    delivered["online"] = 499
    (late,) = missing_deliveries(TX, day, delivered, due)
    assert late.to_dict() == {
        "dataset": "transactions",
        "source": "online",
        "business_day": "2026-03-02",
        "due_at": "2026-03-03T06:00:00+00:00",
        "rows": 499,
        "min_rows": 500,
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
