"""Properties of a day's close, over generated accounts and postings: nothing lost, nothing
doubled, every cent where the signing convention puts it."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from datapipe.banking.interest import RateTerms
from datapipe.banking.ledger import Account, PostingTotal, PriorBalance, close_day

DAY = date(2028, 2, 29)  # a leap day and a month end: interest is credited
CENTS = st.integers(min_value=0, max_value=5_000_000).map(lambda c: Decimal(c) / 100)
RATES = {
    "SAV": RateTerms("SAV", Decimal("0.0425"), "ACT/365", date(2028, 2, 1)),
    "SAV360": RateTerms("SAV360", Decimal("0.051"), "ACT/360", date(2028, 2, 1)),
}


@st.composite
def days(draw: st.DrawFn) -> tuple[dict[str, Account], dict[str, PriorBalance], list[PostingTotal]]:
    n = draw(st.integers(min_value=1, max_value=8))
    accounts, prior, postings = {}, {}, []
    for i in range(n):
        kind = draw(st.sampled_from(["checking", "savings", "credit"]))
        product = draw(st.sampled_from(["SAV", "SAV360"])) if kind == "savings" else "OTHER"
        acc = Account(
            f"A{i:03d}",
            f"C{i:03d}",
            kind,
            product,
            "USD",
            date(2020, 1, 1),
            None,
            Decimal(10_000) if kind == "credit" else None,
            Decimal(0),
        )
        accounts[acc.account_id] = acc
        accrued = Decimal(draw(st.integers(0, 5_000))) / 100 if kind == "savings" else Decimal(0)
        prior[acc.account_id] = PriorBalance(draw(CENTS), accrued)  # only savings accrue, in cents
        if draw(st.booleans()):
            postings.append(
                PostingTotal(acc.account_id, "USD", draw(st.integers(1, 50)), draw(CENTS), draw(CENTS))
            )
    if draw(st.booleans()):  # a posting no account of the master has
        postings.append(PostingTotal("UNKNOWN", "USD", 1, draw(CENTS), Decimal(0)))
    return accounts, prior, postings


@settings(max_examples=150, deadline=None)
@given(days())
def test_every_posting_is_booked_once_or_listed_and_balances_follow_the_signs(
    day: tuple[dict[str, Account], dict[str, PriorBalance], list[PostingTotal]],
) -> None:
    accounts, prior, postings = day
    closed = close_day(DAY, accounts, prior, postings, RATES, {})
    rows = {r.account_id: r for r in closed.rows}
    assert set(rows) == set(accounts)
    booked = sum(r.transactions for r in rows.values())
    listed = sum(u.transactions for u in closed.unposted)
    assert booked + listed == sum(p.transactions for p in postings)  # nothing lost, nothing doubled
    for p in postings:
        if p.account_id not in rows:
            continue
        r = rows[p.account_id]
        assert (r.debits, r.credits) == (p.debits, p.credits)
        expected = p.credits - p.debits if accounts[p.account_id].deposit else p.debits - p.credits
        assert r.movement == expected  # debit-positive amounts, per account type
    for r in rows.values():
        assert r.opening_balance == prior[r.account_id].closing_balance
        assert r.closing_balance == r.opening_balance + r.movement + r.interest_credited
        assert r.interest_accrued == r.interest_accrued.quantize(Decimal("0.01"))  # whole cents
        if r.account_type == "savings":  # the month's last day: the month's accruals are credited
            assert r.interest_credited == prior[r.account_id].accrued_interest_mtd + r.interest_accrued
        else:
            assert r.interest_accrued == r.interest_credited == 0
