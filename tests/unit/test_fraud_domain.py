"""Fraud in the right units: USD before thresholds, local time for "night", the usual amount and
velocity across files and channels, escalation, one case per burst; and the property that the
same transactions get the same scores however they are split into files."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from datapipe.fraud import (
    CARD_VELOCITY,
    NIGHT_CARD_PRESENT_LARGE,
    OUT_OF_STATE_HIGH_AMOUNT,
    FraudHistory,
    FraudPolicy,
    merged_history,
    score_event,
    score_records_python,
    score_table,
    supersedes,
)
from datapipe.fraud.alerts import ESCALATED, NEW, NOT_HIGHER, DynamoAlertLedger, DynamoCaseBook, subject_of
from datapipe.fraud.history import txn_ref
from datapipe.fraud.localtime import local_hour, zone_for
from datapipe.fraud.profiles import DynamoFraudProfiles, profile_key
from datapipe.fraud.table import history_delta

UNITS_PER_USD = {"USD": 1.0, "JPY": 150.0, "EUR": 0.92, "GBP": 0.79}
MARCH = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
SCHEMA = pa.schema(
    [
        ("transaction_id", pa.string()),
        ("account_id", pa.string()),
        ("card_id", pa.string()),
        ("amount", pa.decimal128(18, 4)),
        ("currency", pa.string()),
        ("channel", pa.string()),
        ("merchant", pa.string()),
        ("merchant_category", pa.string()),
        ("location_state", pa.string()),
        ("home_state", pa.string()),
        ("account_type", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("event_utc_offset_minutes", pa.int32()),
    ]
)


def to_usd(amount: float, currency: str, on_date: date) -> float:
    """A small rates table (the real one is the fx_rates reference dataset)."""
    return amount / UNITS_PER_USD[currency]


def txn(i: int = 1, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "transaction_id": f"T{i:06d}",
        "account_id": "ACC1",
        "card_id": "CARD1",
        "amount": Decimal("25.00"),
        "currency": "USD",
        "channel": "POS",
        "merchant": "FreshMart",
        "merchant_category": "GROCERY",
        "location_state": "CA",
        "home_state": "CA",
        "account_type": "checking",
        "event_time": MARCH,
        "event_utc_offset_minutes": None,
    }
    base.update(kw)
    return base


def table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


# ------------------------------------------------------------------ currency


def test_2500_yen_out_of_state_is_17_dollars_not_a_high_alert() -> None:
    # before: 2,500 compared with the 2,000 USD limit as if it were dollars -> HIGH, paged by SMS
    row = txn(amount=Decimal("2500"), currency="JPY", location_state="NV")
    scored = score_table(table([row]), to_usd=to_usd)
    assert scored.amount_usd is not None and scored.amount_usd[0] == pytest.approx(16.67, abs=0.01)
    assert scored.rules[0] == 0 and score_event(row, [], None, 0, to_usd=to_usd) is None
    # 400,000 yen (2,666.67 USD) out of state is the seed rule's case
    big = txn(amount=Decimal("400000"), currency="JPY", location_state="NV")
    alert = score_table(table([big]), to_usd=to_usd).alerts(table([big]))[0]
    assert alert.rules == (OUT_OF_STATE_HIGH_AMOUNT,) and alert.severity == "HIGH"
    assert (
        alert.reasons[0]
        == "amount 400000.0000 JPY (2666.67 USD) above 2000 USD outside home state (NV vs CA)"
    )
    event = score_event(big, [], None, 0, to_usd=to_usd)
    assert event is not None and (event.rules, event.severity, event.amount_usd) == (
        alert.rules,
        alert.severity,
        alert.amount_usd,
    )


def test_without_a_rate_an_amount_rule_cannot_fire_and_the_row_is_counted() -> None:
    rows = [txn(1, amount=Decimal("900000"), currency="JPY", location_state="NV"), txn(2, currency="XTS")]
    scored = score_table(table(rows))  # no converter: only USD rows have a USD value
    assert scored.unconverted == 2 and not scored.fired(OUT_OF_STATE_HIGH_AMOUNT).any()
    assert score_table(table(rows), to_usd=to_usd).unconverted == 1  # XTS has no rate


@pytest.mark.parametrize(("usd", "fires"), [("2000.00", False), ("2000.01", True)])
def test_the_limit_applies_to_the_usd_amount_exactly(usd: str, fires: bool) -> None:
    eur = (Decimal(usd) * Decimal("0.92")).quantize(Decimal("0.0001"))
    row = txn(amount=eur, currency="EUR", location_state="NV")
    to_eur = {"EUR": float(eur) / float(usd)}
    scored = score_table(table([row]), to_usd=lambda a, c, d: a / to_eur[c])
    assert bool(scored.fired(OUT_OF_STATE_HIGH_AMOUNT)[0]) is fires


# ------------------------------------------------------------------ local time


def test_night_is_local_time_not_utc() -> None:
    # before: "night" was 01-05 UTC: a 02:00 California purchase was not night, a 6 pm one was
    two_am_pst = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # PST (UTC-8) before the March 8 change
    six_pm_pst = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)
    rows = [
        txn(1, amount=Decimal("1500.00"), event_time=two_am_pst, card_id="C1"),
        txn(2, amount=Decimal("1500.00"), event_time=six_pm_pst, card_id="C2"),
    ]
    scored = score_table(table(rows))
    assert scored.local_hour is not None and scored.local_hour.tolist() == [2, 18]
    assert scored.fired(NIGHT_CARD_PRESENT_LARGE).tolist() == [True, False]
    assert score_records_python(rows) == scored.score.tolist()


def test_the_sources_offset_wins_over_the_state_and_dst_is_followed() -> None:
    summer = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)  # 02:30 PDT (UTC-7)
    rows = [
        txn(1, amount=Decimal("1500.00"), event_time=summer, card_id="C1"),
        txn(2, amount=Decimal("1500.00"), event_time=summer, card_id="C2", event_utc_offset_minutes=60),
        txn(
            3, amount=Decimal("1500.00"), event_time=summer, card_id="C3", location_state="ZZ"
        ),  # unknown: UTC
    ]
    scored = score_table(table(rows))
    assert scored.local_hour is not None and scored.local_hour.tolist() == [2, 10, 9]
    assert local_hour(int(summer.timestamp() * 1e6), None, "CA") == 2
    assert zone_for("TX") == "America/Chicago" and zone_for("CA", "MX") is None


# ------------------------------------------------------------------ across files and channels


def test_velocity_counts_the_card_across_files_and_channels() -> None:
    pos = table([txn(i, event_time=MARCH + timedelta(minutes=i), channel="POS") for i in (0, 2)])
    online = table([txn(i, event_time=MARCH + timedelta(minutes=i), channel="ONLINE") for i in (4, 6)])
    first = score_table(pos)
    history = merged_history(None, pos, first)
    second = score_table(online, history=history)
    assert second.velocity.tolist() == [3, 4]  # per file and channel it was [1, 2]
    assert second.fired(CARD_VELOCITY).tolist() == [False, True]


def test_usual_amount_comes_from_the_accounts_earlier_files() -> None:
    day1 = table([txn(i, amount=Decimal("40.00"), event_time=MARCH + timedelta(hours=i)) for i in range(5)])
    day2 = table([txn(9, amount=Decimal("1000.00"), event_time=MARCH + timedelta(days=1))])
    history = merged_history(None, day1, score_table(day1))
    alone, with_history = score_table(day2), score_table(day2, history=history)
    assert np.isnan(alone.account_median[0]) and alone.rules[0] == 0
    assert with_history.account_median[0] == 40.0 and with_history.account_history[0] == 5
    assert with_history.rules[0] != 0


def test_a_replayed_file_does_not_count_twice() -> None:
    rows = table([txn(i, event_time=MARCH + timedelta(minutes=i)) for i in range(3)])
    history = merged_history(None, rows, score_table(rows))
    again = score_table(rows, history=history)  # its own rows in the history are not "earlier"
    assert again.velocity.tolist() == [1, 2, 3]
    assert merged_history(history, rows, again).cards == history.cards


rates = st.sampled_from(["USD", "USD", "USD", "EUR", "JPY"])


@st.composite
def day_of_transactions(draw: Any) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 45))
    gaps = draw(st.lists(st.integers(0, 400), min_size=n, max_size=n))  # zeros: equal times
    t = MARCH
    rows = []
    for i in range(n):
        t += timedelta(seconds=gaps[i])
        currency = draw(rates)
        amount = Decimal(draw(st.sampled_from([5, 20, 40, 60, 300, 1200, 2600]))) * Decimal(
            str(UNITS_PER_USD[currency])
        )
        rows.append(
            txn(
                i,
                account_id=draw(st.sampled_from(["A1", "A2", "A3"])),
                card_id=draw(st.sampled_from(["C1", "C2", "C3", None])),
                amount=amount.quantize(Decimal("0.0001")),
                currency=currency,
                channel=draw(st.sampled_from(["POS", "ATM", "ONLINE"])),
                location_state=draw(st.sampled_from(["CA", "NV", "NY"])),
                event_time=t,
            )
        )
    return rows


@pytest.mark.slow  # many examples: left out of `make mutate`, run by `make test`
@settings(max_examples=60, deadline=None, database=None)
@given(rows=day_of_transactions(), data=st.data())
def test_same_transactions_same_scores_however_split_into_files(
    rows: list[dict[str, Any]], data: Any
) -> None:
    """Files in time order (each one's transactions after the previous ones'), rows within a file
    in any order: every transaction scores as it does in one table. Before: the usual amount was
    the median of the same file and velocity was per file (CRITICAL 6 per file vs 35 as one table)."""
    policy = FraudPolicy(min_history=2, usual_history=4)  # small, so the bound is exercised
    whole = score_table(table(rows), policy, to_usd)
    expected = dict(zip((r["transaction_id"] for r in rows), whole.score.tolist(), strict=True))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(rows) - 1)), max_size=5)))
    history: FraudHistory | None = None
    got: dict[str, float] = {}
    for lo, hi in zip([0, *cuts], [*cuts, len(rows)], strict=True):
        if lo >= hi:
            continue
        part = data.draw(st.permutations(rows[lo:hi]))
        scored = score_table(table(part), policy, to_usd, history)
        got.update(zip((r["transaction_id"] for r in part), scored.score.tolist(), strict=True))
        history = merged_history(history, table(part), scored)
    assert got == expected
    assert score_records_python(rows, policy, to_usd) == whole.score.tolist()


@pytest.mark.slow  # large input: left out of `make mutate`, run by `make test`
def test_large_table_with_history_takes_the_chunked_window_path() -> None:
    rng = random.Random(5)
    n = 140_000  # > 2 chunks of the usual-amount window, > the parallel threshold
    rows = {
        "transaction_id": [f"T{i:07d}" for i in range(n)],
        "account_id": [f"A{rng.randrange(3000)}" for _ in range(n)],
        "card_id": [f"C{rng.randrange(5000)}" for _ in range(n)],
        "amount": pa.array(
            [Decimal(rng.randrange(100, 500_000)) / 100 for _ in range(n)], pa.decimal128(18, 4)
        ),
        "currency": ["USD"] * n,
        "event_time": pa.array(
            [MARCH + timedelta(seconds=rng.randrange(86_400)) for _ in range(n)], pa.timestamp("us", tz="UTC")
        ),
    }
    big = pa.table(rows)
    half = n // 2
    order = np.argsort(np.asarray(big.column("event_time").cast(pa.int64())), kind="stable")
    ordered = big.take(pa.array(order))
    first, second = ordered.slice(0, half), ordered.slice(half)
    h = merged_history(None, first, score_table(first))
    whole = score_table(ordered)
    split = score_table(second, history=h)
    assert np.array_equal(whole.score[half:], split.score)
    assert np.array_equal(whole.account_median[half:], split.account_median, equal_nan=True)


# ------------------------------------------------------------------ escalation and cases (moto)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        c = boto3.client("dynamodb", region_name="us-east-1")
        for name, key in (("alerts", "transaction_id"), ("cases", "case_id"), ("profiles", "profile_key")):
            c.create_table(
                TableName=name,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            )
        yield c


def an_alert(i: int, severity_amount: str, card: str = "CARD9") -> Any:
    rows = [txn(i, card_id=card, amount=Decimal(severity_amount), location_state="NV")]
    return score_table(table(rows)).alerts(table(rows))[0]


def test_a_higher_severity_supersedes_the_earlier_alert(dynamodb: Any) -> None:
    ledger = DynamoAlertLedger("alerts", client=dynamodb)
    rows = [txn(1, amount=Decimal("2500.00"), location_state="NV", merchant_category="GAMBLING")]
    high = score_table(table(rows)).alerts(table(rows))[0]
    medium = type(high)(**{**high.__dict__, "severity": "MEDIUM"})
    critical = type(high)(**{**high.__dict__, "severity": "CRITICAL"})
    # before: the real-time MEDIUM claimed the transaction and the later CRITICAL was dropped
    assert ledger.claim(medium, "realtime") == (NEW, None)
    assert ledger.claim(critical, "dataset") == (ESCALATED, "MEDIUM")
    assert ledger.claim(high, "dataset") == (NOT_HIGHER, None)
    assert ledger.claim(critical, "dataset") == (NOT_HIGHER, None)  # equal: not re-sent
    ledger.release(critical, "MEDIUM")  # its publish failed: back to MEDIUM, a retry escalates again
    assert ledger.claim(critical, "dataset") == (ESCALATED, "MEDIUM")
    assert supersedes("CRITICAL", "MEDIUM") and not supersedes("MEDIUM", "MEDIUM") and supersedes("LOW", None)


def test_a_burst_of_20_on_one_card_opens_one_case_with_20_alerts(dynamodb: Any) -> None:
    # before: a card-testing burst of 20 opened 20 cases
    book = DynamoCaseBook("cases", client=dynamodb)
    rows = [
        txn(i, card_id="CARD7", amount=Decimal("1.00"), event_time=MARCH + timedelta(seconds=10 * i))
        for i in range(20)
    ]
    alerts = score_table(table(rows)).alerts(table(rows))
    assert len(alerts) == 17  # the 4th swipe on is a velocity alert
    updates = [book.add(a, MARCH) for a in alerts]
    assert [u.opened for u in updates] == [True] + [False] * 16
    assert len({u.case_id for u in updates}) == 1
    assert book.add(alerts[3], MARCH).added is False  # a redelivered alert is not counted again
    case = dynamodb.get_item(TableName="cases", Key={"case_id": {"S": updates[0].case_id}})["Item"]
    assert int(case["alerts"]["N"]) == 17 and len(case["alert_ids"]["SS"]) == 17
    assert "CARD7" not in str(case)  # the subject is a digest, not the card number
    # another card is another case; a closed case makes the next alert open a new one
    other = book.add(an_alert(99, "2500.00", card="CARD8"), MARCH)
    assert other.opened and other.case_id != updates[0].case_id
    book.close(updates[0].case_id)
    assert book.add(an_alert(98, "2500.00", card="CARD7"), MARCH).opened


def test_case_severity_is_the_highest_of_its_alerts(dynamodb: Any) -> None:
    book = DynamoCaseBook("cases", client=dynamodb)
    high = an_alert(1, "2500.00")
    first = book.add(type(high)(**{**high.__dict__, "severity": "MEDIUM"}), MARCH)
    assert book.add(high, MARCH).severity == "HIGH"
    low = an_alert(3, "2500.00")
    assert book.add(type(low)(**{**low.__dict__, "severity": "LOW"}), MARCH).severity == "HIGH"
    assert subject_of(high).startswith("card:") and first.opened


def refs(*ids: str) -> list[str]:
    return [txn_ref(i) for i in ids]


def test_profiles_are_merged_not_overwritten(dynamodb: Any) -> None:
    profiles = DynamoFraudProfiles("profiles", client=dynamodb)
    pos = table([txn(i, amount=Decimal("40.00"), event_time=MARCH + timedelta(minutes=i)) for i in range(3)])
    online = table(
        [
            txn(10 + i, amount=Decimal("60.00"), event_time=MARCH + timedelta(minutes=i, seconds=30))
            for i in range(2)
        ]
    )
    profiles.save(history_delta(pos, score_table(pos)), keep=20)
    profiles.save(history_delta(online, score_table(online)), keep=20)  # another file, same card/account
    profiles.save(history_delta(online, score_table(online)), keep=20)  # replayed: no change
    loaded = profiles.load(["CARD1"], ["ACC1"])
    assert [i for _, i in loaded.cards["CARD1"]] == refs(
        "T000000", "T000010", "T000001", "T000011", "T000002"
    )
    assert [v for _, _, v in loaded.accounts["ACC1"]] == [40.0, 60.0, 40.0, 60.0, 40.0]
    assert profiles.load(["CARD2"], ["ACC2"]).cards == {}


def _calls(client: Any) -> list[str]:
    seen: list[str] = []
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: seen.append(model.name))
    return seen


def test_save_after_load_writes_from_what_load_read_without_a_get_per_profile(dynamodb: Any) -> None:
    profiles = DynamoFraudProfiles("profiles", client=dynamodb)
    first = table(
        [txn(i, amount=Decimal("40.00"), event_time=MARCH + timedelta(minutes=i)) for i in range(3)]
    )
    profiles.save(history_delta(first, score_table(first)), keep=20)
    later = table([txn(5, amount=Decimal("70.00"), event_time=MARCH + timedelta(hours=1))])
    calls = _calls(dynamodb)
    profiles.load(["CARD1"], ["ACC1"])
    assert profiles.save(history_delta(later, score_table(later)), keep=20) == 2  # the card and the account
    assert calls == ["BatchGetItem", "PutItem", "PutItem"]
    loaded = profiles.load(["CARD1"], ["ACC1"])
    assert [i for _, i in loaded.cards["CARD1"]] == refs("T000000", "T000001", "T000002", "T000005")


def test_a_profile_changed_between_load_and_save_is_re_read_and_merged_not_overwritten(dynamodb: Any) -> None:
    mine = DynamoFraudProfiles("profiles", client=dynamodb)
    other = DynamoFraudProfiles("profiles", client=dynamodb)
    base = table([txn(1, amount=Decimal("40.00"), event_time=MARCH)])
    mine.save(history_delta(base, score_table(base)), keep=20)
    mine.load(["CARD1"], ["ACC1"])  # read version 1
    online = table([txn(2, amount=Decimal("60.00"), event_time=MARCH + timedelta(minutes=1))])
    other.save(history_delta(online, score_table(online)), keep=20)  # version 2 meanwhile
    pos = table([txn(3, amount=Decimal("50.00"), event_time=MARCH + timedelta(minutes=2))])
    mine.save(history_delta(pos, score_table(pos)), keep=20)
    loaded = mine.load(["CARD1"], ["ACC1"])
    assert [i for _, i in loaded.cards["CARD1"]] == refs("T000001", "T000002", "T000003")
    assert [v for _, _, v in loaded.accounts["ACC1"]] == [40.0, 60.0, 50.0]


def test_a_replayed_file_writes_no_profile(dynamodb: Any) -> None:
    profiles = DynamoFraudProfiles("profiles", client=dynamodb)
    rows = table([txn(i, amount=Decimal("40.00"), event_time=MARCH + timedelta(minutes=i)) for i in range(3)])
    assert profiles.save(history_delta(rows, score_table(rows)), keep=20) == 2
    calls = _calls(dynamodb)
    profiles.load(["CARD1"], ["ACC1"])
    assert profiles.save(history_delta(rows, score_table(rows)), keep=20) == 0
    assert calls == ["BatchGetItem"]


def _stored(client: Any, key: str) -> dict[str, Any]:
    return dict(client.get_item(TableName="profiles", Key={"profile_key": {"S": key}})["Item"])


def test_a_profile_written_as_json_still_loads_and_the_next_write_packs_it(dynamodb: Any) -> None:
    """Items a deployed table holds from before the packed format (JSON text ``recent`` with the
    transaction ids) read as the same history; a replay leaves them alone, a change rewrites them."""
    rows = table([txn(i, amount=Decimal("40.00"), event_time=MARCH + timedelta(minutes=i)) for i in range(3)])
    micros = [int((MARCH + timedelta(minutes=i)).timestamp() * 1_000_000) for i in range(3)]
    ids = [f"T{i:06d}" for i in range(3)]
    card, account = profile_key("card", "CARD1"), profile_key("account", "ACC1")
    old_card = [[t, i] for t, i in zip(micros, ids, strict=True)]
    old_account = [[t, i, 40.0] for t, i in zip(micros, ids, strict=True)]
    for key, recent in ((card, old_card), (account, old_account)):
        dynamodb.put_item(
            TableName="profiles",
            Item={"profile_key": {"S": key}, "recent": {"S": json.dumps(recent)}, "version": {"N": "3"}},
        )
    profiles = DynamoFraudProfiles("profiles", client=dynamodb)
    loaded = profiles.load(["CARD1"], ["ACC1"])
    assert loaded.cards["CARD1"] == sorted(zip(micros, refs(*ids), strict=True))
    assert loaded.accounts["ACC1"] == sorted((t, r, 40.0) for t, r in zip(micros, refs(*ids), strict=True))
    # the same rows again (a replay of the file the old items came from): nothing written
    assert profiles.save(history_delta(rows, score_table(rows)), keep=20) == 0
    assert "recent" in _stored(dynamodb, card)
    later = table([txn(7, amount=Decimal("55.00"), event_time=MARCH + timedelta(hours=2))])
    profiles.load(["CARD1"], ["ACC1"])
    assert profiles.save(history_delta(later, score_table(later)), keep=20) == 2
    for key in (card, account):
        item = _stored(dynamodb, key)
        assert set(item) == {"profile_key", "rows", "version"} and item["version"]["N"] == "4"
    again = profiles.load(["CARD1"], ["ACC1"])
    assert again.cards["CARD1"] == sorted(
        [*loaded.cards["CARD1"], (micros[0] + 7_200_000_000, txn_ref("T000007"))]
    )
    assert [v for _, _, v in again.accounts["ACC1"]] == [40.0, 40.0, 40.0, 55.0]


def test_profile_items_fit_a_write_unit_and_hold_no_transaction_id(dynamodb: Any) -> None:
    """An account's last 20 amounts and a card's 59 transactions in a day are one write unit
    (1 KB) each; as JSON text with these 23-character ids they were 1,087 and 2,719 bytes (2 and 3
    write units). No transaction id is stored in the clear."""
    from offline_runtime.emulator.metering import item_size

    profiles = DynamoFraudProfiles("profiles", client=dynamodb)
    busy = [
        txn(
            i,
            amount=Decimal("12.34") + i,
            event_time=MARCH + timedelta(minutes=20 * i),
            transaction_id=f"TX-{i:020d}",
        )
        for i in range(59)
    ]
    profiles.save(history_delta(table(busy), score_table(table(busy))), keep=20)
    card, account = (
        _stored(dynamodb, profile_key("card", "CARD1")),
        _stored(dynamodb, profile_key("account", "ACC1")),
    )
    assert item_size(account) <= 1024 and item_size(card) <= 1024, (item_size(account), item_size(card))
    assert "TX-" not in str(card) + str(account)
    loaded = profiles.load(["CARD1"], ["ACC1"])
    assert len(loaded.cards["CARD1"]) == 59 and len(loaded.accounts["ACC1"]) == 20
    assert [v for _, _, v in loaded.accounts["ACC1"]] == [float(Decimal("12.34") + i) for i in range(39, 59)]


def test_files_scored_through_the_stored_profiles_score_as_one_table(dynamodb: Any) -> None:
    """The split property through DynamoDB: each file loads the packed profiles, is scored and
    saved. Equal times inside files and across the cuts (an earlier file's rows count first)."""
    rng = random.Random(13)
    policy = FraudPolicy(min_history=2, usual_history=4)
    rows, t = [], MARCH
    for i in range(80):
        t += timedelta(seconds=0 if i in (7, 8, 30, 31, 55) else rng.choice([0, 0, 5, 60, 400]))
        rows.append(
            txn(
                i,
                account_id=rng.choice(["A1", "A2"]),
                card_id=rng.choice(["C1", "C2", None]),
                amount=Decimal(rng.choice([5, 20, 40, 300, 1200])),
                event_time=t,
            )
        )
    whole = score_table(table(rows), policy, to_usd)
    profiles = DynamoFraudProfiles("profiles", client=dynamodb)
    got: list[float] = []
    cuts = [0, 7, 8, 30, 31, 55, 80]
    for lo, hi in itertools.pairwise(cuts):
        part = list(reversed(rows[lo:hi]))
        history = profiles.load(
            [str(r["card_id"]) for r in part if r["card_id"]], [r["account_id"] for r in part]
        )
        scored = score_table(table(part), policy, to_usd, history)
        got += list(reversed(scored.score.tolist()))
        profiles.save(history_delta(table(part), scored), keep=policy.usual_history)
    assert sum(a["event_time"] == b["event_time"] for a, b in itertools.pairwise(rows)) > 10
    assert got == whole.score.tolist()


def test_at_equal_times_an_earlier_files_transaction_counts_first() -> None:
    """The history knows earlier transactions by digest only, so a later file's transaction at the
    same microsecond comes after them whatever its id (within a file: transaction-id order)."""
    first = table([txn(5, event_time=MARCH), txn(6, event_time=MARCH)])
    history = merged_history(None, first, score_table(first))
    later = table([txn(1, event_time=MARCH), txn(2, event_time=MARCH)])
    assert score_table(later, history=history).velocity.tolist() == [3, 4]
    assert score_table(later).velocity.tolist() == [1, 2]
