"""Reconciliation of a closed day from its written rows: each check, and the accounts it lists."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from datapipe.banking.ledger import JournalLine, Unposted
from datapipe.banking.reconcile import reconcile

D = Decimal  # short, for the many literals below

DAY = date(2028, 2, 29)


def row(
    account: str, opening: str, movement: str, credited: str, closing: str, n: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "account_id": account, "opened_date": extra.get("opened", date(2020, 1, 1)),
        "closed_date": extra.get("closed"),
        "opening_balance": D(opening), "movement": D(movement), "interest_credited": D(credited),
        "closing_balance": D(closing), "transactions": n,
    }  # fmt: skip


def prev(account: str, closing: str, closed: date | None = None) -> dict[str, Any]:
    return {"account_id": account, "closing_balance": D(closing), "closed_date": closed}


def journal(n: int, debits: str, credits: str) -> dict[str, JournalLine]:
    return {"USD": JournalLine(n, D(debits), D(credits))}


def published(n: int, debits: str, credits: str) -> dict[str, dict[str, Any]]:
    return {"USD": {"transactions": n, "debits": D(debits), "credits": D(credits)}}


def test_a_day_that_adds_up_reconciles() -> None:
    # S1: 10,000.00 + 0 + 3.48 credited = 10,003.48, the month's accruals 1.16 x 3 = 3.48
    # C1: 1,000.00 + 462.00 = 1,462.00 from 4 transactions (48.00 debits, 510.00 credits)
    rows = [row("S1", "10000.00", "0", "3.48", "10003.48"), row("C1", "1000.00", "462.00", "0", "1462.00", 4)]
    result = reconcile(
        DAY, rows, [prev("S1", "10000.00"), prev("C1", "1000.00")],
        published(4, "48.00", "510.00"), journal(4, "48.00", "510.00"), [], {"S1": D("3.48")},
    )  # fmt: skip
    assert result.status == "OK" and result.breaks == []
    assert all(c["passed"] for c in result.checks.values()) and len(result.checks) == 5
    assert result.summary() == {
        "status": "OK",
        "checks": result.checks,
        "breaks": 0,
        "accounts_with_breaks": 0,
    }


def test_an_opening_that_is_not_yesterdays_closing_is_a_break() -> None:
    rows = [row("S1", "10000.00", "0", "0", "10000.00"), row("N1", "50.00", "0", "0", "50.00", opened=DAY)]
    result = reconcile(
        DAY, rows, [prev("S1", "9999.99"), prev("G1", "5.00"), prev("X1", "0", closed=date(2028, 2, 28))],
        {}, {}, [], {},
    )  # fmt: skip
    assert result.status == "MISMATCH"
    # S1 opened at 10,000.00 over yesterday's 9,999.99; G1 vanished without closing; X1 closed
    # yesterday (fine), N1 opened today (fine)
    assert [(b.account_id, b.expected, b.actual) for b in result.breaks] == [
        ("S1", "9999.99", "10000.00"),
        ("G1", "a balance on the day", "none"),
    ]
    assert result.accounts == ["G1", "S1"]


def test_an_old_account_without_a_previous_closing_is_a_break() -> None:
    result = reconcile(DAY, [row("S1", "100.00", "0", "0", "100.00")], [], {}, {}, [], {})
    assert [b.reason for b in result.breaks] == ["opened before the day but has no previous closing"]


def test_the_ledgers_first_day_has_no_previous_day_to_compare() -> None:
    assert reconcile(DAY, [row("S1", "100.00", "0", "0", "100.00")], None, {}, {}, [], {}).status == "OK"


def test_a_closing_that_is_not_opening_plus_movement_plus_interest_is_a_break() -> None:
    # 1,000.00 + 462.00 + 0 = 1,462.00, not 1,462.01
    result = reconcile(DAY, [row("C1", "1000.00", "462.00", "0", "1462.01")], None, {}, {}, [], {})
    (b,) = result.breaks
    assert (b.check, b.account_id, b.expected, b.actual) == ("balance_identity", "C1", "1462.00", "1462.01")


def test_published_transactions_an_account_could_not_take_are_breaks_with_the_account() -> None:
    # 5 published (58.00 / 510.00), 4 posted (48.00 / 510.00): one 10.00 purchase on an unknown account
    rows = [row("C1", "1000.00", "462.00", "0", "1462.00", 4)]
    lost = Unposted("ZZ9", "USD", 1, D("10.00"), D("0"), "account not in the master")
    result = reconcile(
        DAY, rows, None, published(5, "58.00", "510.00"), journal(4, "48.00", "510.00"), [lost], {}
    )
    check = result.checks["movements_equal_published"]
    assert not check["passed"] and check["currencies"]["USD"]["equal"] is False
    assert [(b.account_id, b.expected, b.actual) for b in result.breaks] == [
        (None, "5 / 58.00 / 510.00 USD", "4 / 48.00 / 510.00 USD"),
        ("ZZ9", "an open account", "1 transaction(s), 10.00 debit / 0 credit USD"),
    ]
    assert result.accounts == ["ZZ9"] and result.summary()["accounts_with_breaks"] == 1


def test_counts_on_the_accounts_must_add_up_to_what_was_posted() -> None:
    result = reconcile(
        DAY, [row("C1", "0", "0", "0", "0", 3)], None, published(4, "1", "0"), journal(4, "1", "0"), [], {}
    )
    assert not result.checks["transactions_counted"]["passed"]
    assert (
        result.checks["transactions_counted"]["posted"] == 4
        and result.checks["transactions_counted"]["counted"] == 3
    )


def test_interest_credited_must_be_the_months_accruals() -> None:
    # credited 3.48 but the month's rows accrued 1.16 + 1.16 + 1.17 = 3.49
    result = reconcile(
        DAY, [row("S1", "10000.00", "0", "3.48", "10003.48")], None, {}, {}, [], {"S1": D("3.49")}
    )
    (b,) = result.breaks
    assert (b.check, b.expected, b.actual) == ("interest_credited_equals_accruals", "3.49", "3.48")
