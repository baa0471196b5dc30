"""functions/fraud_realtime/app.py imported directly: one authorisation scored as it arrives."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from offline_runtime.emulator.session import drain, observe_topic
from tests.handlers.direct import DirectHandler, direct_handler, eventbridge, sample

IDS = ("ACC000123", "CARD000123", "CUS000123")


@pytest.fixture(scope="module")
def realtime(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "FraudRealtimeFunction") as handler:
        yield handler


def authorisation(realtime: DirectHandler, **detail: Any) -> dict[str, Any]:
    event = copy.deepcopy(sample(realtime.stack, "fraud_realtime_transaction_received.json"))
    event["detail"].update(transaction_id=f"RT-{uuid.uuid4().hex[:12]}", **detail)
    return event


def test_out_of_state_purchase_alerts_without_raw_ids(realtime: DirectHandler) -> None:
    # an account without history (the sample's may have some from other tests: AMOUNT_ABOVE_USUAL)
    account = f"ACC{uuid.uuid4().int % 10**8:08d}"
    topic = observe_topic(realtime.stack, realtime.stack.outputs["FraudAlertsTopicArn"], "direct-realtime")
    r = realtime(authorisation(realtime, account_id=account))
    realtime.stack.wait_idle(60)
    assert r["alert"]["severity"] == "HIGH" and r["alert"]["rules"] == ["OUT_OF_STATE_HIGH_AMOUNT"]
    (published,) = drain(realtime.stack, topic)
    assert published["MessageAttributes"]["severity"]["Value"] == "HIGH"
    everything = published["Message"] + json.dumps(r) + realtime.log_text
    assert not [i for i in (*IDS, account) if i in everything]
    assert json.loads(published["Message"])["card_id_masked"] == "******0123"
    (line,) = realtime.logged("fraud alert")
    assert set(line) >= {"transaction_id", "severity", "score", "rules"} and "reasons" not in line


def test_a_velocity_burst_names_the_card_masked(realtime: DirectHandler) -> None:
    card = f"CARD{uuid.uuid4().int % 10**8:08d}"
    last: dict[str, Any] = {}
    for minute in range(5):
        last = realtime(
            authorisation(
                realtime,
                card_id=card,
                amount="40.00",
                location_state="CA",
                event_time=f"2026-11-21T12:0{minute}:00Z",
            )
        )
    assert last["alert"]["rules"] == ["CARD_VELOCITY"] and last["alert"]["severity"] == "MEDIUM"
    (reason,) = last["alert"]["reasons"]
    assert reason == f"5 transactions on card {'*' * (len(card) - 4)}{card[-4:]} within 10 minutes"
    assert card not in realtime.log_text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account_id": None}, "detail.account_id"),
        ({"transaction_id": ""}, "detail.transaction_id"),
        ({"event_time": "last tuesday"}, "detail.event_time"),
        ({"event_time": "2026-11-21T22:41:07"}, "detail.event_time"),  # no offset: which time zone?
    ],
)
def test_malformed_authorisations_name_the_field(
    realtime: DirectHandler, change: dict[str, Any], field: str
) -> None:
    event = authorisation(realtime)
    event["detail"].update(change)
    with pytest.raises(InvalidEvent) as err:
        realtime(event)
    assert err.value.field == field
    assert not [i for i in IDS if i in str(err.value) + realtime.log_text]


def test_an_event_of_another_detail_type_names_it(realtime: DirectHandler) -> None:
    with pytest.raises(InvalidEvent) as err:
        realtime(eventbridge("TransactionSettled", "retail.payments", {"transaction_id": "T1"}))
    assert err.value.field == "detail-type"
