"""End of day, by hand: known accounts, balances, products and rates -> the exact cents.

Every expected figure below is worked out in the comment next to it (not by the code under
test): interest = balance x annual rate / basis, rounded half to even to the currency's minor
units; deposit accounts take ``balance -= amount`` (debit-positive amounts), credit accounts
``balance += amount``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from datapipe.banking.interest import (
    RateConflict,
    RateRow,
    RateTerms,
    daily_accrual,
    rates_in_force,
    year_basis,
)
from datapipe.banking.ledger import (
    Account,
    MasterConflict,
    MissingTerms,
    PostingTotal,
    PriorBalance,
    close_day,
    convert,
    master_accounts,
)
from datapipe.banking.money import rounded

D = Decimal  # short, for the many literals below

LEAP_DAY = date(2028, 2, 29)  # a leap day, and the last day of its month
RATES = {
    "SAV-STD": RateTerms("SAV-STD", D("0.0425"), "ACT/365", date(2028, 1, 1)),
    "SAV-PLUS": RateTerms("SAV-PLUS", D("0.0475"), "ACT/360", date(2028, 1, 1)),
    "SAV-ACT": RateTerms("SAV-ACT", D("0.0365"), "ACT/ACT", date(2028, 1, 1)),
}


def account(
    account_id: str,
    kind: str = "savings",
    product: str = "SAV-STD",
    currency: str = "USD",
    bf: str = "0",
    opened: date = date(2020, 1, 1),
    closed: date | None = None,
    limit: str | None = None,
) -> Account:
    return Account(
        account_id, f"CUST-{account_id}", kind, product, currency, opened, closed,
        D(limit) if limit is not None else None, D(bf),
    )  # fmt: skip


def posting(account_id: str, debits: str, credits: str, n: int = 1, currency: str = "USD") -> PostingTotal:
    return PostingTotal(account_id, currency, n, D(debits), D(credits))


def one(
    day: date, acc: Account, postings: list[PostingTotal] = (), prior: PriorBalance | None = None, fx=None
):  # type: ignore[assignment]
    closed = close_day(
        day,
        {acc.account_id: acc},
        None if prior is None else {acc.account_id: prior},
        list(postings),
        RATES,
        fx or {},
    )
    (row,) = closed.rows
    return row


# ------------------------------------------------------------------ interest, by day count


def test_act_365_accrues_a_365th_of_the_annual_rate() -> None:
    # 10,000.00 x 4.25 % / 365 = 425 / 365 = 1.16438... -> 1.16
    assert daily_accrual(D("10000.00"), D("0.0425"), "ACT/365", LEAP_DAY, "USD") == D("1.16")


def test_act_360_accrues_a_360th() -> None:
    # 10,000.00 x 4.75 % / 360 = 475 / 360 = 1.31944... -> 1.32
    assert daily_accrual(D("10000.00"), D("0.0475"), "ACT/360", LEAP_DAY, "USD") == D("1.32")


def test_act_act_divides_by_the_days_of_the_accrual_year() -> None:
    # 2028 has 366 days: 36,600.00 x 3.65 % / 366 = 1,335.90 / 366 = 3.65 exactly
    assert daily_accrual(D("36600.00"), D("0.0365"), "ACT/ACT", LEAP_DAY, "USD") == D("3.65")
    # 2027 has 365: the same balance earns 1,335.90 / 365 = 3.66
    assert daily_accrual(D("36600.00"), D("0.0365"), "ACT/ACT", date(2027, 6, 1), "USD") == D("3.66")
    # ACT/365 is fixed: the leap day earns the same 1/365 as any day
    assert year_basis("ACT/365", LEAP_DAY) == 365 and year_basis("ACT/ACT", LEAP_DAY) == 366


def test_accrual_rounds_half_to_even() -> None:
    # 900.00 x 5 % / 360 = 45 / 360 = 0.125 exactly -> 0.12 (half-up would give 0.13)
    assert daily_accrual(D("900.00"), D("0.05"), "ACT/360", LEAP_DAY, "USD") == D("0.12")
    # 972.00 x 5 % / 360 = 48.6 / 360 = 0.135 exactly -> 0.14 (the even neighbour is above)
    assert daily_accrual(D("972.00"), D("0.05"), "ACT/360", LEAP_DAY, "USD") == D("0.14")


def test_no_interest_on_a_balance_at_or_below_zero() -> None:
    assert daily_accrual(D("-50.00"), D("0.0425"), "ACT/365", LEAP_DAY, "USD") == D("0.00")
    assert daily_accrual(D("0"), D("0.0425"), "ACT/365", LEAP_DAY, "USD") == D("0.00")


def test_interest_in_a_currency_without_minor_units() -> None:
    # JPY has no minor units: 1,000,000 x 0.1 % / 365 = 2.7397 -> 3 yen
    assert daily_accrual(D("1000000"), D("0.001"), "ACT/365", LEAP_DAY, "JPY") == D("3")


def test_the_rate_in_force_is_the_latest_effective_one_not_tomorrows() -> None:
    rows = [
        RateRow(LEAP_DAY, "SAV-STD", D("0.0400"), "ACT/365", date(2028, 1, 1)),
        RateRow(LEAP_DAY, "SAV-STD", D("0.0425"), "ACT/365", date(2028, 2, 15)),
        RateRow(LEAP_DAY, "SAV-STD", D("0.0450"), "ACT/365", date(2028, 3, 1)),  # announced for tomorrow
    ]
    terms = rates_in_force(rows, LEAP_DAY)
    assert terms["SAV-STD"].annual_rate == D("0.0425") and terms["SAV-STD"].effective_date == date(
        2028, 2, 15
    )
    assert rates_in_force(rows, date(2028, 3, 1))["SAV-STD"].annual_rate == D("0.0450")


def test_two_different_rates_for_one_product_and_day_are_a_conflict() -> None:
    rows = [
        RateRow(LEAP_DAY, "SAV-STD", D("0.0425"), "ACT/365", date(2028, 2, 1)),
        RateRow(LEAP_DAY, "SAV-STD", D("0.0430"), "ACT/365", date(2028, 2, 1)),
    ]
    with pytest.raises(RateConflict, match="SAV-STD"):
        rates_in_force(rows, LEAP_DAY)


# ------------------------------------------------------------------ balances per account type


def test_a_checking_account_takes_debits_out_and_credits_in() -> None:
    # purchase 45.50 + fee 2.50 = 48.00 debits; refund 10.00 + deposit 500.00 = 510.00 credits
    # 1,000.00 - 48.00 + 510.00 = 1,462.00; checking earns no interest
    row = one(
        date(2028, 2, 10),
        account("C1", "checking", "CHK-STD", bf="1000.00"),
        [posting("C1", "48.00", "510.00", 4)],
    )
    assert (row.opening_balance, row.debits, row.credits, row.movement) == (
        D("1000.00"),
        D("48.00"),
        D("510.00"),
        D("462.00"),
    )
    assert (row.interest_accrued, row.closing_balance, row.transactions) == (D("0.00"), D("1462.00"), 4)
    assert not row.overdrawn and row.opening_source == "brought_forward"


def test_a_credit_account_balance_is_what_is_owed() -> None:
    # owed 250.00; purchase 100.00 debit; refund 30.00 + payment 200.00 = 230.00 credits
    # 250.00 + 100.00 - 230.00 = 120.00 owed
    row = one(
        date(2028, 2, 10),
        account("K1", "credit", "CC-STD", bf="250.00", limit="5000.00"),
        [posting("K1", "100.00", "230.00", 3)],
    )
    assert (row.movement, row.closing_balance, row.over_limit) == (D("-130.00"), D("120.00"), False)


def test_overdrawn_and_over_limit_are_flagged() -> None:
    # checking 20.00 - ATM 60.00 = -40.00: overdrawn
    overdrawn = one(
        date(2028, 2, 10), account("C2", "checking", "CHK-STD", bf="20.00"), [posting("C2", "60.00", "0")]
    )
    assert overdrawn.closing_balance == D("-40.00") and overdrawn.overdrawn
    # credit limit 500.00, owed 480.00 + 40.00 = 520.00: over the limit
    over = one(
        date(2028, 2, 10),
        account("K2", "credit", "CC-STD", bf="480.00", limit="500.00"),
        [posting("K2", "40.00", "0")],
    )
    assert over.closing_balance == D("520.00") and over.over_limit


def test_a_savings_day_in_mid_month_accrues_without_crediting() -> None:
    # 10,000.00 + 200.00 deposit = 10,200.00; 10,200.00 x 4.25 % / 365 = 1.18767 -> 1.19
    # month-to-date accrued 5.80 + 1.19 = 6.99, nothing credited
    row = one(
        date(2028, 2, 10),
        account("S1", bf="0"),
        [posting("S1", "0", "200.00")],
        PriorBalance(D("10000.00"), D("5.80")),
    )
    assert (row.opening_balance, row.closing_balance) == (D("10000.00"), D("10200.00"))
    assert (row.interest_accrued, row.accrued_interest_mtd, row.interest_credited) == (
        D("1.19"),
        D("6.99"),
        D("0.00"),
    )
    assert row.opening_source == "previous_close"


def test_the_month_end_credits_the_months_accruals_on_the_leap_day() -> None:
    # Feb 27 and 28 accrued 1.16 each (10,000.00 x 4.25 % / 365): month-to-date 2.32
    # Feb 29 accrues 1.16 on 10,000.00 too; credited 2.32 + 1.16 = 3.48; closing 10,003.48
    row = one(LEAP_DAY, account("S1"), [], PriorBalance(D("10000.00"), D("2.32")))
    assert (row.interest_accrued, row.interest_credited, row.accrued_interest_mtd) == (
        D("1.16"),
        D("3.48"),
        D("0.00"),
    )
    assert row.closing_balance == D("10003.48")
    # and March 1 starts a new month: 10,003.48 x 4.25 % / 365 = 1.16479 -> 1.16 accrued, none credited
    march = one(
        date(2028, 3, 1), account("S1"), [], PriorBalance(row.closing_balance, row.accrued_interest_mtd)
    )
    assert (march.interest_accrued, march.accrued_interest_mtd, march.closing_balance) == (
        D("1.16"),
        D("1.16"),
        D("10003.48"),
    )


def test_act_360_and_act_act_products_side_by_side_on_the_leap_day() -> None:
    plus = one(LEAP_DAY, account("S2", product="SAV-PLUS"), [], PriorBalance(D("10000.00"), D("2.64")))
    # 10,000.00 x 4.75 % / 360 = 1.32; credited 2.64 + 1.32 = 3.96
    assert (plus.interest_accrued, plus.interest_credited, plus.closing_balance) == (
        D("1.32"),
        D("3.96"),
        D("10003.96"),
    )
    act = one(LEAP_DAY, account("S3", product="SAV-ACT"), [], PriorBalance(D("36600.00"), D("7.30")))
    # 36,600.00 x 3.65 % / 366 = 3.65; credited 7.30 + 3.65 = 10.95
    assert (act.interest_accrued, act.interest_credited, act.closing_balance) == (
        D("3.65"),
        D("10.95"),
        D("36610.95"),
    )


def test_an_account_closing_mid_month_is_paid_its_accrued_interest() -> None:
    # closes on Feb 15: 10,000.00 x 4.25 % / 365 = 1.16, credited 5.80 + 1.16 = 6.96
    row = one(
        date(2028, 2, 15), account("S4", closed=date(2028, 2, 15)), [], PriorBalance(D("10000.00"), D("5.80"))
    )
    assert (row.interest_credited, row.closing_balance) == (D("6.96"), D("10006.96"))


def test_postings_in_another_currency_are_converted_half_to_even() -> None:
    # a GBP credit account buys 19.73 USD; at 0.5 GBP per USD that is 9.865 GBP -> 9.86 (even)
    row = one(
        date(2028, 2, 10),
        account("K3", "credit", "CC-GBP", currency="GBP", bf="100.00", limit="1000.00"),
        [posting("K3", "19.73", "0"), posting("K3", "0", "0", 0, currency="GBP")],
        fx={"GBP": D("0.5")},
    )
    assert (row.debits, row.closing_balance) == (D("9.86"), D("109.86"))
    # JPY: 10.00 USD at 150 yen per USD = 1,500 yen
    # EUR -> GBP goes through USD: 92.00 EUR / 0.92 x 0.79 = 79.00
    assert convert(D("10.00"), "USD", "JPY", {"JPY": D("150")}) == D("1500")
    assert convert(D("92.00"), "EUR", "GBP", {"EUR": D("0.92"), "GBP": D("0.79")}) == D("79.00")
    with pytest.raises(MissingTerms, match="CHF"):
        convert(D("1"), "CHF", "USD", {})


# ------------------------------------------------------------------ the day as a whole


def test_transactions_of_accounts_that_are_not_open_are_listed_not_posted() -> None:
    accounts = {
        "A1": account("A1", "checking", "CHK-STD", bf="100.00"),
        "A2": account("A2", "checking", "CHK-STD", closed=date(2028, 2, 1)),
        "A3": account("A3", "checking", "CHK-STD", opened=date(2028, 3, 1)),
    }
    day = date(2028, 2, 10)
    closed = close_day(
        day,
        accounts,
        None,
        [
            posting("A1", "10.00", "0"),
            posting("A2", "5.00", "0"),
            posting("A3", "7.00", "0", 2),
            posting("ZZ9", "1.00", "0"),
        ],
        RATES,
        {},
    )
    assert [r.account_id for r in closed.rows] == ["A1"]  # only A1 is open on Feb 10
    assert [(u.account_id, u.reason) for u in closed.unposted] == [
        ("A2", "account closed on 2028-02-01"),
        ("A3", "account opens on 2028-03-01"),
        ("ZZ9", "account not in the master"),
    ]
    # the journal holds what was posted only: A1's 10.00 in one transaction
    assert closed.journal["USD"].to_dict() == {
        "transactions": 1,
        "debits": "10.00",
        "credits": "0",
        "net": "10.00",
    }
    assert closed.first_day and closed.rows[0].opening_source == "brought_forward"


def test_the_days_totals_and_digest() -> None:
    accounts = {
        "S1": account("S1", bf="10000.00"),
        "C1": account("C1", "checking", "CHK-STD", bf="1000.00"),
    }
    closed = close_day(date(2028, 2, 10), accounts, None, [posting("C1", "48.00", "510.00", 4)], RATES, {})
    assert closed.totals() == {
        "checking/USD": {"accounts": 1, "transactions": 4, "opening": "1000.00", "movement": "462.00",
                         "interest_accrued": "0.00", "interest_credited": "0.00", "closing": "1462.00",
                         "overdrawn": 0, "over_limit": 0},
        "savings/USD": {"accounts": 1, "transactions": 0, "opening": "10000.00", "movement": "0.00",
                        "interest_accrued": "1.16", "interest_credited": "0.00", "closing": "10000.00",
                        "overdrawn": 0, "over_limit": 0},
    }  # fmt: skip
    again = close_day(
        date(2028, 2, 10),
        dict(reversed(accounts.items())),
        None,
        [posting("C1", "48.00", "510.00", 4)],
        RATES,
        {},
    )
    assert again.digest == closed.digest  # the same inputs in another order: the same day
    other = close_day(date(2028, 2, 10), accounts, None, [posting("C1", "48.01", "510.00", 4)], RATES, {})
    assert other.digest != closed.digest  # one cent changes it


def test_a_savings_product_without_a_rate_is_never_guessed() -> None:
    with pytest.raises(MissingTerms, match="SAV-NEW"):
        one(date(2028, 2, 10), account("S9", product="SAV-NEW"))


def test_the_master_refuses_one_account_twice_with_different_data() -> None:
    record = {
        "account_id": "A1", "customer_id": "C1", "account_type": "checking", "product_code": "CHK-STD",
        "currency": "USD", "opened_date": "2020-01-01", "closed_date": None, "credit_limit": None,
        "balance_brought_forward": "10.00",
    }  # fmt: skip
    assert list(master_accounts([record, dict(record)])) == ["A1"]  # delivered twice, identically: fine
    with pytest.raises(MasterConflict):
        master_accounts([record, {**record, "balance_brought_forward": "11.00"}])
    with pytest.raises(MasterConflict, match="before it opens"):
        master_accounts([{**record, "closed_date": "2019-01-01"}])


def test_amounts_are_rounded_to_their_currencys_minor_units() -> None:
    assert rounded(D("1.005"), "USD") == D("1.00") and rounded(D("1.015"), "USD") == D("1.02")
    assert rounded(D("0.0125"), "BHD") == D("0.012") and rounded(D("2.5"), "JPY") == D("2")
