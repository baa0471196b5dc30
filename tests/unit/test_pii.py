"""Card, account and customer ids: masked in what people read, and by the logging layer."""

from __future__ import annotations

import io
import json
import logging

import pytest

from datapipe.fraud import FraudAlert
from datapipe.observability import PiiMaskingFormatter
from datapipe.pii import is_pii_field, mask_id, redact, scrub_text


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("ACC000123", "*****0123"),
        ("CARD000123", "******0123"),
        ("4111111111111111", "************1111"),
        ("A1", "**"),  # short ids give nothing away
        ("ACC1234", "*******"),
        (123456789, "*****6789"),
        (None, None),
        ("", ""),
    ],
)
def test_mask_keeps_the_last_four_of_long_ids_only(raw: object, masked: object) -> None:
    assert mask_id(raw) == masked


@pytest.mark.parametrize("raw", ["ACC000123", "CARD000123", "x" * 40, "A1"])
def test_masking_is_idempotent(raw: str) -> None:
    assert mask_id(mask_id(raw)) == mask_id(raw)


@pytest.mark.parametrize(
    ("name", "pii"),
    [
        ("account_id", True),
        ("card_id", True),
        ("customer_id", True),
        ("accountId", True),
        ("original-account-id", True),
        ("CARD_ID", True),
        ("account_type", False),
        ("transaction_id", False),
        ("card_id_masked", False),
        (3, False),
    ],
)
def test_pii_fields_are_recognised_by_name(name: object, pii: bool) -> None:
    assert is_pii_field(name) is pii


def test_redact_masks_nested_values_and_keeps_everything_else() -> None:
    record = {
        "message": "fraud alert",
        "account_id": "ACC000123",
        "detail": {
            "cards": [{"card_id": "CARD000123", "amount": "10.00"}],
            "customer_id": ["CUS000123", None],
        },
        "transaction_id": "T1",
    }
    assert redact(record) == {
        "message": "fraud alert",
        "account_id": "*****0123",
        "detail": {
            "cards": [{"card_id": "******0123", "amount": "10.00"}],
            "customer_id": ["*****0123", None],
        },
        "transaction_id": "T1",
    }
    assert record["account_id"] == "ACC000123"  # a copy: what the caller holds is unchanged


def test_scrub_text_replaces_each_id_longest_first() -> None:
    text = "5 transactions on card CARD000123 (account ACC000123, not ACC0001234)"
    assert scrub_text(text, ["ACC000123", "CARD000123", "ACC0001234", None]) == (
        "5 transactions on card ******0123 (account *****0123, not ******1234)"
    )


def _log_line(extra: dict[str, object], message: str = "m") -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PiiMaskingFormatter())
    logger = logging.getLogger("test-pii-formatter")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.warning(message, extra=extra)
    return dict(json.loads(stream.getvalue()))


def test_the_log_formatter_masks_ids_whatever_the_call_site_passed() -> None:
    line = _log_line({"account_id": "ACC000123", "alert": {"card_id": "CARD000123"}, "score": 0.9})
    assert (line["account_id"], line["alert"], line["score"]) == ("*****0123", {"card_id": "******0123"}, 0.9)


def test_the_log_formatter_keeps_one_line_within_a_log_event() -> None:
    line = _log_line({"reason": "h" * 300_000})
    assert len(str(line["reason"])) < 9000 and str(line["reason"]).endswith("[300000 characters]")


def _alert() -> FraudAlert:
    return FraudAlert(
        transaction_id="T1",
        account_id="ACC000123",
        card_id="CARD000123",
        customer_id="CUS000123",
        amount="40.00",
        currency="USD",
        merchant="Shop",
        merchant_category="GROCERY",
        channel="POS",
        location_state="CA",
        home_state="CA",
        account_type="credit",
        event_time="2026-11-21T12:04:00Z",
        score=0.65,
        severity="MEDIUM",
        rules=("CARD_VELOCITY",),
        reasons=("5 transactions on card CARD000123 within 10 minutes",),
    )


def test_an_alert_message_carries_masked_ids_only() -> None:
    message = _alert().to_message()
    text = json.dumps(message)
    assert not [raw for raw in ("ACC000123", "CARD000123", "CUS000123") if raw in text]
    assert (message["account_id_masked"], message["card_id_masked"]) == ("*****0123", "******0123")
    assert message["reasons"] == ["5 transactions on card ******0123 within 10 minutes"]
    assert message["transaction_id"] == "T1"  # the key case management looks the alert up by
