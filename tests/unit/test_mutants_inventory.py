"""Replenishment pinned exactly at, just below and just above each limit, with the messages an
operator reads (written to kill the mutants ``make mutate`` found surviving in datapipe.inventory:
stock, demand, orders). Expected numbers are worked out by hand from the formulas in the
docstrings: order-up-to d x (L + R) + SS - position in whole cases, SS = ceil(z sigma sqrt(L + R)),
reorder point = ceil(d L + SS), demand over calendar days.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from datapipe.inventory.demand import (
    DEMAND_WINDOW_DAYS,
    Demand,
    daily_demand,
    merge_daily_sales,
    reorder_point_gap,
    replenishment_for,
)
from datapipe.inventory.orders import (
    CANCELLED,
    CLOSED,
    CREATED,
    DELIVERED,
    SENT,
    IllegalTransition,
    PurchaseOrder,
    item_key,
)
from datapipe.inventory.stock import (
    StockItem,
    crossing_id,
    detect_crossing,
    item_from_image,
    low_stock_from_record,
    reorder_point_for,
    safety_stock_for,
    suggested_order_quantity,
)


def item(on_hand: int = 5, threshold: int = 10, **kw: Any) -> StockItem:
    return StockItem("S001", "P001", on_hand, threshold, **kw)


def exactly(message: str) -> str:
    """A pytest ``match`` for the whole message (a mutated message text must fail)."""
    return f"^{re.escape(message)}$"


# ------------------------------------------------------------------ stock items


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"avg_daily_sales": -0.5}, "avg_daily_sales must be a finite number >= 0, got -0.5"),
        ({"avg_daily_sales": math.nan}, "avg_daily_sales must be a finite number >= 0, got nan"),
        ({"lead_time_days": -1.0}, "lead_time_days must be a finite number >= 0, got -1.0"),
        ({"review_days": math.inf}, "review_days must be a finite number >= 0, got inf"),
        ({"safety_stock": -1}, "safety_stock must be >= 0, got -1"),
        ({"min_order_qty": -1}, "min_order_qty must be >= 0, got -1"),
        ({"case_pack": 0}, "case_pack must be >= 1, got 0"),
        ({"on_order": -1}, "on_order must be >= 0, got -1"),
    ],
)
def test_stock_item_refuses_impossible_parameters(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        item(**kwargs)
    assert str(err.value) == message


def test_stock_item_accepts_its_limits() -> None:
    ok = item(avg_daily_sales=0.0, lead_time_days=0.0, review_days=0.0, safety_stock=0, min_order_qty=0)
    assert ok.case_pack == 1 and ok.on_order == 0


@pytest.mark.parametrize(
    ("on_hand", "on_order", "position", "low", "unscanned"),
    [
        (9, 0, 9, True, False),
        (10, 0, 10, False, False),
        (4, 6, 10, False, False),
        (-40, 9, 9, True, True),
        (0, 0, 0, True, False),
    ],
)
def test_position_and_threshold(
    on_hand: int, on_order: int, position: int, low: bool, unscanned: bool
) -> None:
    it = item(on_hand, 10, on_order=on_order)
    assert (it.position, it.below_threshold, it.unscanned_delivery_suspected) == (position, low, unscanned)


def test_stream_image_is_parsed_with_defaults() -> None:
    image = {
        "store_id": {"S": "S001"},
        "product_id": {"S": "P001"},
        "on_hand": {"N": "12"},
        "reorder_threshold": {"N": "20.0"},
    }
    assert item_from_image(image) == StockItem("S001", "P001", 12, 20, 0.0, 0.0, 1.0, 0, 1, 1, 0)
    full = {
        **image,
        "avg_daily_sales": {"N": "2.5"},
        "lead_time_days": {"N": "3"},
        "review_days": {"N": "7"},
        "safety_stock": {"N": "4"},
        "min_order_qty": {"N": "6"},
        "case_pack": {"N": "12"},
        "on_order": {"N": "24"},
        "note": {"NULL": True},
    }
    assert item_from_image(full) == StockItem("S001", "P001", 12, 20, 2.5, 3.0, 7.0, 4, 6, 12, 24)
    nulls = {**image, "avg_daily_sales": {"NULL": True}, "case_pack": {"NULL": True}}
    assert item_from_image(nulls).avg_daily_sales == 0.0 and item_from_image(nulls).case_pack == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"on_hand": None, "reorder_threshold": {"NULL": True}},
            "stock image lacks required attribute(s): on_hand, reorder_threshold",
        ),
        ({"on_hand": {"N": "abc"}}, "attribute on_hand is not a number: 'abc'"),
        ({"on_hand": {"N": "1.5"}}, "attribute on_hand must be an integer, got 1.5"),
        ({"on_hand": {"N": "Infinity"}}, "attribute on_hand must be finite, got Infinity"),
        ({"on_hand": {"S": "12"}}, "attribute on_hand must be a number (N), got a string: '12'"),
        ({"store_id": {"N": "1"}}, "attribute store_id must be a string (S), got a number"),
        ({"on_hand": {"BOOL": True}}, "attribute on_hand has unsupported type BOOL (expected S or N)"),
        (
            {"on_hand": {"N": "1", "S": "1"}},
            "attribute on_hand is not in DynamoDB attribute-value form: {'N': '1', 'S': '1'}",
        ),
        ({"on_hand": "12"}, "attribute on_hand is not in DynamoDB attribute-value form: '12'"),
        ({"lead_time_days": {"S": "2"}}, "attribute lead_time_days must be a number (N), got a string: '2'"),
        ({"case_pack": {"N": "2.5"}}, "attribute case_pack must be an integer, got 2.5"),
    ],
)
def test_malformed_images_name_the_attribute(change: dict[str, Any], message: str) -> None:
    image: dict[str, Any] = {
        "store_id": {"S": "S001"},
        "product_id": {"S": "P001"},
        "on_hand": {"N": "12"},
        "reorder_threshold": {"N": "20"},
    }
    for name, value in change.items():
        if value is None:
            del image[name]
        else:
            image[name] = value
    with pytest.raises(ValueError) as err:
        item_from_image(image)
    assert str(err.value) == message


# ------------------------------------------------------------------ crossings


def test_detect_crossing_rules() -> None:
    low, fine, lower = item(9), item(10), item(8)
    assert detect_crossing("INSERT", None, low) is True
    assert detect_crossing("INSERT", None, fine) is False
    assert detect_crossing("MODIFY", fine, low) is True
    assert detect_crossing("MODIFY", low, lower) is False  # stays low: one crossing, one order
    assert detect_crossing("MODIFY", item(11), fine) is False
    assert detect_crossing("MODIFY", low, fine) is False  # a restock
    assert detect_crossing("MODIFY", item(12, 10), item(12, 13)) is True  # threshold raised
    assert detect_crossing("REMOVE", fine, low) is False
    assert detect_crossing("REMOVE", None, None) is False


def test_detect_crossing_refuses_incomplete_records() -> None:
    with pytest.raises(
        ValueError,
        match=exactly("unknown stream event name 'UPDATE'; expected one of ('INSERT', 'MODIFY', 'REMOVE')"),
    ):
        detect_crossing("UPDATE", None, item())
    with pytest.raises(
        ValueError, match=exactly("INSERT record without NewImage: the stream must carry new images")
    ):
        detect_crossing("INSERT", None, None)
    with pytest.raises(
        ValueError, match=exactly("MODIFY record without NewImage: the stream must carry new images")
    ):
        detect_crossing("MODIFY", item(), None)
    with pytest.raises(
        ValueError, match=exactly("MODIFY record without OldImage: the stream must be NEW_AND_OLD_IMAGES")
    ):
        detect_crossing("MODIFY", None, item())


# ------------------------------------------------------------------ order quantity and parameters


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        # target 3 x (2 + 1) + 4 = 13; position 5 -> 8 units -> cases of 6 -> 12
        (
            {"on_hand": 5, "avg_daily_sales": 3.0, "lead_time_days": 2.0, "safety_stock": 4, "case_pack": 6},
            12,
        ),
        ({"on_hand": 5, "avg_daily_sales": 3.0, "lead_time_days": 2.0, "safety_stock": 4}, 8),
        # negative stock counts as 0: 13 units -> 18 in cases of 6
        (
            {
                "on_hand": -40,
                "avg_daily_sales": 3.0,
                "lead_time_days": 2.0,
                "safety_stock": 4,
                "case_pack": 6,
            },
            18,
        ),
        # open orders count: position 5 + 6 -> 2 units
        ({"on_hand": 5, "on_order": 6, "avg_daily_sales": 3.0, "lead_time_days": 2.0, "safety_stock": 4}, 2),
        # minimum order 20 -> 24 in cases of 6
        (
            {
                "on_hand": 5,
                "avg_daily_sales": 3.0,
                "lead_time_days": 2.0,
                "min_order_qty": 20,
                "case_pack": 6,
            },
            24,
        ),
        ({"on_hand": 30, "avg_daily_sales": 3.0, "lead_time_days": 2.0}, 1),  # target met: one unit
        ({"on_hand": 30, "min_order_qty": 0, "case_pack": 4}, 4),  # at least one case
        # review period 7: 2 x (3 + 7) = 20 - 5 -> 15
        ({"on_hand": 5, "avg_daily_sales": 2.0, "lead_time_days": 3.0, "review_days": 7.0}, 15),
        # 2.5 x (1.1 + 0.1) is 3.0000000000000004 in floats: 3 units, not 4
        ({"on_hand": 0, "avg_daily_sales": 2.5, "lead_time_days": 1.1, "review_days": 0.1}, 3),
        (
            {"on_hand": 0, "avg_daily_sales": 2.5, "lead_time_days": 1.1, "review_days": 0.1, "case_pack": 3},
            3,
        ),
        ({"on_hand": 0, "avg_daily_sales": 1.1, "lead_time_days": 1.0, "review_days": 0.0}, 2),  # ceil(1.1)
    ],
)
def test_suggested_order_quantity(kwargs: dict[str, Any], expected: int) -> None:
    params = dict(kwargs)  # parametrize's dict is shared between runs: never mutate it
    on_hand = params.pop("on_hand")
    assert suggested_order_quantity(item(on_hand, 10, **params)) == expected


def test_safety_stock_and_reorder_point() -> None:
    assert safety_stock_for(2.0, 3.0, 1.0) == 7  # ceil(1.65 x 2 x sqrt(4)) = ceil(6.6)
    assert safety_stock_for(2.0, 3.0) == 7  # review period defaults to one day
    assert safety_stock_for(1.0, 8.0, 1.0, 2.0) == 6  # z 2 x 1 x 3
    assert safety_stock_for(0.0, 3.0) == 0 and safety_stock_for(2.0, 0.0, 0.0) == 0
    assert safety_stock_for(1.0, 3.0, 1.0, 0.0) == 0
    assert reorder_point_for(3.0, 2.0, 7) == 13
    assert reorder_point_for(2.4, 2.0, 0) == 5  # ceil(4.8)
    assert reorder_point_for(2.5, 2.0, 0) == 5
    assert reorder_point_for(0.0, 5.0, 3) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1.0, 3.0, 1.0, 1.65), "daily_sales_std must be a finite number >= 0, got -1.0"),
        ((1.0, math.nan, 1.0, 1.65), "lead_time_days must be a finite number >= 0, got nan"),
        ((1.0, 3.0, -0.5, 1.65), "review_days must be a finite number >= 0, got -0.5"),
        ((1.0, 3.0, 1.0, -1.0), "service_z must be a finite number >= 0, got -1.0"),
        ((1.0, 3.0, 1.0, math.inf), "service_z must be a finite number >= 0, got inf"),
        ((math.inf, 3.0, 1.0, 1.65), "daily_sales_std must be a finite number >= 0, got inf"),
    ],
)
def test_safety_stock_refuses_impossible_inputs(args: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError) as err:
        safety_stock_for(*args)
    assert str(err.value) == message


def test_crossing_id_is_deterministic_per_stream_record() -> None:
    expected = hashlib.sha256(b'["S001","P001","evt-1"]').hexdigest()[:24]
    assert crossing_id("S001", "P001", "evt-1") == expected and len(expected) == 24
    assert crossing_id("S001", "P001", "evt-2") != expected
    assert crossing_id("S00", "1P001", "evt-1") != expected


# ------------------------------------------------------------------ stream records


def image(on_hand: int, threshold: int = 10, **extra: Any) -> dict[str, Any]:
    out = {
        "store_id": {"S": "S001"},
        "product_id": {"S": "P001"},
        "on_hand": {"N": str(on_hand)},
        "reorder_threshold": {"N": str(threshold)},
    }
    out.update({k: {"N": str(v)} for k, v in extra.items()})
    return out


def record(
    old: dict[str, Any] | None, new: dict[str, Any] | None, name: str = "MODIFY", **kw: Any
) -> dict[str, Any]:
    change: dict[str, Any] = {}
    if old is not None:
        change["OldImage"] = old
    if new is not None:
        change["NewImage"] = new
    change.update(kw)
    return {"eventName": name, "eventID": "evt-1", "dynamodb": change}


def test_low_stock_event_from_a_crossing() -> None:
    new = image(-4, 10, avg_daily_sales=3, lead_time_days=2, safety_stock=4, case_pack=6, on_order=0)
    event = low_stock_from_record(record(image(12), new, ApproximateCreationDateTime=1772452800))
    assert event is not None
    assert event.to_detail() == {
        "store_id": "S001",
        "product_id": "P001",
        "on_hand": -4,
        "reorder_threshold": 10,
        "suggested_order_qty": 18,
        "avg_daily_sales": 3.0,
        "lead_time_days": 2.0,
        "safety_stock": 4,
        "crossing_id": crossing_id("S001", "P001", "evt-1"),
        "detected_at": "2026-03-02T12:00:00Z",
        "stream_event_id": "evt-1",
        "on_order": 0,
        "position": 0,
        "unscanned_delivery_suspected": True,
    }


def test_low_stock_detected_at() -> None:
    aware = datetime(2026, 3, 2, 7, tzinfo=timezone(timedelta(hours=-5)))
    event = low_stock_from_record(record(image(12), image(9), ApproximateCreationDateTime=aware))
    assert event is not None and event.detected_at == datetime(2026, 3, 2, 12, tzinfo=UTC)
    assert event.detected_at.utcoffset() == timedelta(0)
    now = datetime(2026, 3, 2, 13, tzinfo=UTC)
    fallback = low_stock_from_record(record(image(12), image(9)), now=now)
    assert fallback is not None and fallback.detected_at == now
    clock = low_stock_from_record(record(image(12), image(9)))
    assert clock is not None and clock.detected_at.tzinfo is not None
    assert abs(clock.detected_at - datetime.now(UTC)) < timedelta(minutes=5)
    fraction = low_stock_from_record(record(image(12), image(9), ApproximateCreationDateTime="1772452800.5"))
    assert fraction is not None and fraction.detected_at == datetime(2026, 3, 2, 12, 0, 0, 500000, tzinfo=UTC)


def test_low_stock_not_a_crossing_and_bad_records() -> None:
    assert low_stock_from_record(record(image(9), image(8))) is None
    assert low_stock_from_record(record(image(12), None, "REMOVE")) is None
    assert low_stock_from_record(record(None, image(3), "INSERT")) is not None
    assert low_stock_from_record({"eventName": "REMOVE", "eventID": "e"}) is None
    with pytest.raises(ValueError, match=exactly("stream record lacks eventName")):
        low_stock_from_record({"eventID": "evt-1"})
    with pytest.raises(ValueError, match=exactly("stream record lacks eventID")):
        low_stock_from_record({"eventName": "MODIFY"})
    with pytest.raises(ValueError, match=exactly("stream record lacks eventID")):
        low_stock_from_record({"eventName": "MODIFY", "eventID": ""})
    with pytest.raises(
        ValueError, match=exactly("MODIFY record without OldImage: the stream must be NEW_AND_OLD_IMAGES")
    ):
        low_stock_from_record(record({}, image(3)))


# ------------------------------------------------------------------ demand


def test_merge_daily_sales_adds_per_day_and_keeps_four_weeks() -> None:
    assert DEMAND_WINDOW_DAYS == 28
    merged = merge_daily_sales({"2026-03-01": 2}, {"2026-03-01": 3, "2026-03-02": 0})
    assert merged == {"2026-03-01": 5, "2026-03-02": 0}
    days = {"2026-02-01": 9, "2026-02-02": 4}
    windowed = merge_daily_sales(days, {"2026-03-01": 1})
    assert windowed == {"2026-02-02": 4, "2026-03-01": 1}  # 1 March - 27 days = 2 February
    assert list(merge_daily_sales({"2026-03-02": 1, "2026-03-01": 1}, {})) == ["2026-03-01", "2026-03-02"]
    assert merge_daily_sales({"2026-03-01": 1, "2026-03-03": 1}, {}, window_days=2) == {"2026-03-03": 1}
    assert merge_daily_sales({}, {}) == {}
    with pytest.raises(ValueError) as err:
        merge_daily_sales({}, {"2026-03-01": -1})
    assert str(err.value) == "units sold must be >= 0, got -1 on 2026-03-01"


def test_daily_demand_over_calendar_days() -> None:
    week = daily_demand({"2026-03-02": 12}, date(2026, 3, 8))
    assert week.days == 7 and week.avg_daily_sales == pytest.approx(12 / 7)
    assert week.daily_sales_std == pytest.approx(12 * math.sqrt(6) / 7)  # one 12 and six zeros
    window = daily_demand({"2026-01-01": 100, "2026-03-01": 28}, date(2026, 3, 28))
    assert window == Demand(1.0, pytest.approx(math.sqrt(27)), 28)  # type: ignore[arg-type]
    assert daily_demand({"2026-03-01": 28}, date(2026, 3, 3), window_days=2) == Demand(0.0, 0.0, 2)
    one = daily_demand({"2026-03-01": 5}, date(2026, 3, 1))
    assert one == Demand(5.0, 0.0, 1)
    assert daily_demand({}, date(2026, 3, 1)) == Demand(0.0, 0.0, 0)
    with pytest.raises(
        ValueError, match=exactly("as_of 2026-02-28 is before the first day with sales 2026-03-01")
    ):
        daily_demand({"2026-03-01": 5}, date(2026, 2, 28))


def test_replenishment_from_demand_and_the_reorder_point_gap() -> None:
    rep = replenishment_for(Demand(2.0, 1.0, 28), 3.0, 1.0)
    assert (rep.safety_stock, rep.reorder_point) == (4, 10)  # ceil(1.65 x 2) = 4; 2 x 3 + 4
    assert (rep.avg_daily_sales, rep.daily_sales_std) == (2.0, 1.0)
    assert replenishment_for(Demand(2.0, 1.0, 28), 3.0, 1.0, service_z=2.0).safety_stock == 4
    assert replenishment_for(Demand(2.0, 1.0, 28), 3.0, 1.0, service_z=2.5).safety_stock == 5
    assert replenishment_for(Demand(1 / 3, 0.1234567891, 3), 0.0, 1.0).avg_daily_sales == 0.333333
    assert replenishment_for(Demand(1 / 3, 0.1234567891, 3), 0.0, 1.0).daily_sales_std == 0.123457
    assert replenishment_for(Demand(2.0, 0.0, 28), 3.0, 8.0).reorder_point == 6  # uses L, not L + R
    assert replenishment_for(Demand(0.0, 1.0, 28), 3.0, 6.0).safety_stock == 5  # ceil(1.65 x 3)
    assert reorder_point_gap(7, rep) == 3
    assert reorder_point_gap(10, rep) == 0 and reorder_point_gap(12, rep) == 0


# ------------------------------------------------------------------ purchase orders


def test_purchase_order_validation() -> None:
    with pytest.raises(ValueError, match=exactly("a purchase order needs a positive quantity, got 0")):
        PurchaseOrder("PO1", "S001", "P001", 0)
    with pytest.raises(ValueError, match=exactly("unknown status 'LOST'")):
        PurchaseOrder("PO1", "S001", "P001", 5, status="LOST")
    assert PurchaseOrder("PO1", "S001", "P001", 1).status == CREATED


def test_purchase_order_lifecycle_and_what_is_on_order() -> None:
    po = PurchaseOrder("PO1", "S001", "P001", 12)
    assert po.is_open and po.on_order == 12
    sent = po.to(SENT)
    assert sent.is_open and sent.on_order == 12 and sent.status == SENT
    done = sent.receive(10, "M7")
    assert (done.status, done.delivered_qty, done.delivered_by, done.on_order) == (DELIVERED, 10, "M7", 0)
    assert not done.is_open
    assert po.receive(3, "M8").status == DELIVERED  # a delivery may beat the confirmation
    assert po.to(CANCELLED).on_order == 0 and sent.to(CLOSED).on_order == 0
    for status in (DELIVERED, CLOSED, CANCELLED):
        assert not PurchaseOrder("PO1", "S001", "P001", 12, status=status).is_open


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (CREATED, CLOSED),
        (SENT, CANCELLED),
        (SENT, SENT),
        (DELIVERED, SENT),
        (CLOSED, DELIVERED),
        (CANCELLED, SENT),
        (CREATED, CREATED),
    ],
)
def test_illegal_transitions(start: str, target: str) -> None:
    po = PurchaseOrder("PO9", "S001", "P001", 4, status=start)
    with pytest.raises(IllegalTransition) as err:
        po.to(target)
    assert str(err.value) == f"PO9: {start} -> {target} is not allowed"
    assert isinstance(err.value, ValueError)


def test_receive_refuses_nothing_and_closed_orders() -> None:
    po = PurchaseOrder("PO1", "S001", "P001", 12, status=SENT)
    with pytest.raises(ValueError) as err:
        po.receive(0, "M1")
    assert str(err.value) == "a delivery brings a positive quantity, got 0"
    assert po.receive(1, "M1").delivered_qty == 1
    with pytest.raises(IllegalTransition):
        PurchaseOrder("PO1", "S001", "P001", 12, status=CLOSED).receive(5, "M1")


def test_item_key() -> None:
    assert item_key("S001", "P001") == "S001#P001"


def test_low_stock_event_carries_the_open_orders_and_the_position() -> None:
    new = image(2, 10, on_order=6, avg_daily_sales=1, lead_time_days=4)
    event = low_stock_from_record(record(image(12), new, ApproximateCreationDateTime=1772452800))
    assert event is not None
    assert (event.on_hand, event.on_order, event.position) == (2, 6, 8)
    assert event.suggested_order_qty == 1  # target 1 x (4 + 1) = 5 is below the position 8: one unit
    assert event.unscanned_delivery_suspected is False


def test_detected_at_is_utc_whatever_the_machine_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    aware = datetime(2026, 3, 2, 7, tzinfo=timezone(timedelta(hours=-5)))
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        event = low_stock_from_record(record(image(12), image(9), ApproximateCreationDateTime=aware))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert event is not None and event.detected_at.utcoffset() == timedelta(0)
    assert event.to_detail()["detected_at"] == "2026-03-02T12:00:00Z"


def test_two_days_of_demand_have_a_deviation() -> None:
    assert daily_demand({"2026-03-01": 2}, date(2026, 3, 2)) == Demand(1.0, 1.0, 2)  # 2 then 0
