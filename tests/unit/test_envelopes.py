"""Parsing events into their sources' models: errors name the field, never echo the value."""

from __future__ import annotations

from typing import Any

import pytest

from datapipe.envelopes import (
    FraudAlertSnsEvent,
    InvalidEvent,
    LowStockEvent,
    ScheduledEvent,
    TransactionReceivedEvent,
    field_path,
    parse,
    parse_json,
)


def envelope(detail_type: str, detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "e1",
        "detail-type": detail_type,
        "source": "retail.payments",
        "account": "123456789012",
        "time": "2026-11-22T00:10:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("Records", 0, "Sns", "Message"), "Records[0].Sns.Message"),
        (("detail", "object", "key"), "detail.object.key"),
        ((), "(event)"),
    ],
)
def test_field_paths_read_like_the_event(loc: tuple[Any, ...], path: str) -> None:
    assert field_path(loc) == path


def test_an_invalid_value_is_named_but_not_repeated() -> None:
    # GIVEN an authorisation whose account id is not a string and whose time has no offset
    detail = {"transaction_id": "T1", "account_id": ["ACC000123"], "event_time": "2026-11-21T22:41:07"}
    with pytest.raises(InvalidEvent) as err:
        parse(TransactionReceivedEvent, envelope("TransactionReceived", detail), "TransactionReceived event")
    assert set(err.value.problems_dict()) == {"detail.account_id", "detail.event_time"}
    assert "ACC000123" not in str(err.value) and "22:41:07" not in str(err.value)


@pytest.mark.parametrize("event", [None, [], "text", 42])
def test_an_event_that_is_not_an_object_says_so(event: Any) -> None:
    with pytest.raises(InvalidEvent, match="expected an object"):
        parse(ScheduledEvent, event)


def test_json_bodies_are_parsed_with_the_path_of_the_body() -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_json(LowStockEvent, '{"detail-type": "LowStockDetected"}', prefix="body")
    assert set(err.value.problems_dict()) == {"body.detail"}
    with pytest.raises(InvalidEvent) as err:
        parse_json(LowStockEvent, b"\xff\xfe", prefix="body")
    assert err.value.field == "body"
    with pytest.raises(InvalidEvent) as err:
        parse_json(LowStockEvent, None, prefix="body")
    assert err.value.field == "body"


def test_an_sns_event_needs_at_least_one_record() -> None:
    with pytest.raises(InvalidEvent) as err:
        parse(FraudAlertSnsEvent, {"Records": []})
    assert err.value.field == "Records"
