"""Closing one business day: per account, opening + the day's movements (+ interest) = closing.

Sign convention (docs/design.md, transactions v2): amounts are debit-positive. A deposit account
(checking, savings) holds the customer's money: ``balance -= amount`` (a purchase lowers it, a
deposit or refund raises it). A credit account's balance is what the customer owes:
``balance += amount``. Per account and day:

    opening   = closing of the previous business day (the brought-forward balance on the
                account's first end of day)
    movement  = credits - debits (deposit accounts) | debits - credits (credit accounts),
                debits = sum of the positive amounts, credits = sum of |negative amounts|, each
                converted to the account's currency at the day's fx_rates reference rate
                (per account and currency, half to even) when the transaction is in another one
    accrual   = round_half_even(max(opening + movement, 0) x annual rate / basis)  (savings)
    credited  = the month's accruals, on the month's last day or the day the account closes
    closing   = opening + movement + credited

The day's transactions come in as ``PostingTotal``s (one per account and transaction currency,
from SQL over the published transactions of the business day). Totals for an account that is not
open that day (unknown to the master, closed, not opened yet) are not posted anywhere: they are
listed (``Unposted``) and reconciliation reports them as breaks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from datapipe.banking.calendar import is_month_end
from datapipe.banking.interest import RateTerms, daily_accrual
from datapipe.banking.money import ZERO, rounded, text, to_decimal

DEPOSIT_TYPES = ("checking", "savings")
ACCRUING_TYPES = ("savings",)


class MasterConflict(ValueError):
    """The account master holds one account twice with different data."""


@dataclass(frozen=True)
class Account:
    account_id: str
    customer_id: str
    account_type: str
    product_code: str
    currency: str
    opened_date: date
    closed_date: date | None
    credit_limit: Decimal | None
    balance_brought_forward: Decimal

    @property
    def deposit(self) -> bool:
        return self.account_type in DEPOSIT_TYPES

    @property
    def accrues_interest(self) -> bool:
        return self.account_type in ACCRUING_TYPES

    def open_on(self, day: date) -> bool:
        return self.opened_date <= day and (self.closed_date is None or day <= self.closed_date)

    def why_not_open(self, day: date) -> str:
        if day < self.opened_date:
            return f"account opens on {self.opened_date}"
        return f"account closed on {self.closed_date}"

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> Account:
        limit = r.get("credit_limit")
        return cls(
            account_id=str(r["account_id"]),
            customer_id=str(r["customer_id"]),
            account_type=str(r["account_type"]),
            product_code=str(r["product_code"]),
            currency=str(r["currency"]),
            opened_date=_date(r["opened_date"]),
            closed_date=_date(r["closed_date"]) if r.get("closed_date") is not None else None,
            credit_limit=to_decimal(limit) if limit is not None else None,
            balance_brought_forward=to_decimal(r.get("balance_brought_forward")),
        )


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value if type(value) is date else value.date()  # type: ignore[attr-defined]
    return date.fromisoformat(str(value)[:10])


def master_accounts(records: Iterable[Mapping[str, Any]]) -> dict[str, Account]:
    """The snapshot's accounts by id; an account delivered twice must be delivered identically."""
    out: dict[str, Account] = {}
    for record in records:
        account = Account.from_record(record)
        seen = out.get(account.account_id)
        if seen is not None and seen != account:
            raise MasterConflict("an account appears twice in the master snapshot with different data")
        if account.closed_date is not None and account.closed_date < account.opened_date:
            raise MasterConflict(
                f"an account closes ({account.closed_date}) before it opens ({account.opened_date})"
            )
        out[account.account_id] = account
    return out


@dataclass(frozen=True)
class PostingTotal:
    """An account's published transactions of the day in one currency (debit-positive amounts)."""

    account_id: str
    currency: str
    transactions: int
    debits: Decimal  # sum of the positive amounts
    credits: Decimal  # sum of |negative amounts|

    @classmethod
    def from_record(cls, r: Mapping[str, Any]) -> PostingTotal:
        return cls(
            str(r["account_id"]),
            str(r["currency"]),
            int(r["transactions"]),
            to_decimal(r["debits"]),
            to_decimal(r["credits"]),
        )


@dataclass(frozen=True)
class PriorBalance:
    """What the previous business day left an account with."""

    closing_balance: Decimal
    accrued_interest_mtd: Decimal


@dataclass(frozen=True)
class BalanceRow:
    """One account on one business day: the ``daily_balances`` row."""

    business_date: date
    account_id: str
    customer_id: str
    account_type: str
    product_code: str
    currency: str
    opened_date: date
    closed_date: date | None
    opening_balance: Decimal
    opening_source: str  # previous_close | brought_forward
    transactions: int
    debits: Decimal
    credits: Decimal
    movement: Decimal
    annual_rate: Decimal | None
    day_count: str | None
    interest_accrued: Decimal
    accrued_interest_mtd: Decimal
    interest_credited: Decimal
    closing_balance: Decimal
    credit_limit: Decimal | None
    overdrawn: bool
    over_limit: bool

    def fingerprint(self) -> dict[str, Any]:
        """The row's business content as text (what a restatement compares)."""
        return {k: _plain(v) for k, v in asdict(self).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class Unposted:
    """Transactions of the day no open account could take (a reconciliation break)."""

    account_id: str
    currency: str
    transactions: int
    debits: Decimal
    credits: Decimal
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {k: _plain(v) for k, v in asdict(self).items()}


@dataclass
class JournalLine:
    """What was posted in one transaction currency: count, debits, credits (before conversion)."""

    transactions: int = 0
    debits: Decimal = ZERO
    credits: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.debits - self.credits

    def add(self, p: PostingTotal) -> None:
        self.transactions += p.transactions
        self.debits += p.debits
        self.credits += p.credits

    def to_dict(self) -> dict[str, Any]:
        return {
            "transactions": self.transactions,
            "debits": text(self.debits),
            "credits": text(self.credits),
            "net": text(self.net),
        }


@dataclass
class DayClose:
    business_date: date
    rows: list[BalanceRow]
    journal: dict[str, JournalLine] = field(default_factory=dict)
    unposted: list[Unposted] = field(default_factory=list)
    first_day: bool = False

    @property
    def digest(self) -> str:
        """SHA-256 of the rows' business content: equal digests, equal day."""
        payload = json.dumps([r.fingerprint() for r in self.rows], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()

    def totals(self) -> dict[str, Any]:
        """Per account type and currency: accounts, transactions and the sums of the day."""
        out: dict[str, dict[str, Any]] = {}
        for r in self.rows:
            t = out.setdefault(
                f"{r.account_type}/{r.currency}",
                {
                    "accounts": 0,
                    "transactions": 0,
                    "opening": ZERO,
                    "movement": ZERO,
                    "interest_accrued": ZERO,
                    "interest_credited": ZERO,
                    "closing": ZERO,
                    "overdrawn": 0,
                    "over_limit": 0,
                },
            )
            t["accounts"] += 1
            t["transactions"] += r.transactions
            t["opening"] += r.opening_balance
            t["movement"] += r.movement
            t["interest_accrued"] += r.interest_accrued
            t["interest_credited"] += r.interest_credited
            t["closing"] += r.closing_balance
            t["overdrawn"] += int(r.overdrawn)
            t["over_limit"] += int(r.over_limit)
        return {k: {n: _plain(v) for n, v in t.items()} for k, t in sorted(out.items())}


class MissingTerms(ValueError):
    """Inputs the dependency check should have refused (a rate, an fx rate): never guessed."""


def convert(amount: Decimal, from_ccy: str, to_ccy: str, fx: Mapping[str, Decimal]) -> Decimal:
    """``amount`` of ``from_ccy`` in ``to_ccy`` through USD (``fx``: units per USD), half to even."""
    if from_ccy == to_ccy:
        return rounded(amount, to_ccy)
    try:
        units_from = Decimal(1) if from_ccy == "USD" else fx[from_ccy]
        units_to = Decimal(1) if to_ccy == "USD" else fx[to_ccy]
    except KeyError as exc:
        raise MissingTerms(f"no fx rate for {exc.args[0]}") from None
    return rounded(amount * units_to / units_from, to_ccy)


def close_day(
    day: date,
    accounts: Mapping[str, Account],
    prior: Mapping[str, PriorBalance] | None,
    postings: Iterable[PostingTotal],
    rates: Mapping[str, RateTerms],
    fx: Mapping[str, Decimal],
) -> DayClose:
    """The balances of every account open on ``day``. ``prior``: the previous business day's
    closings (None on the ledger's first day: every account opens at its brought-forward
    balance); ``rates``: the terms in force per product; ``fx``: units per USD."""
    by_account: dict[str, list[PostingTotal]] = {}
    result = DayClose(day, [], first_day=prior is None)
    for p in postings:
        account = accounts.get(p.account_id)
        if account is None or not account.open_on(day):
            reason = "account not in the master" if account is None else account.why_not_open(day)
            result.unposted.append(
                Unposted(p.account_id, p.currency, p.transactions, p.debits, p.credits, reason)
            )
            continue
        by_account.setdefault(p.account_id, []).append(p)
        result.journal.setdefault(p.currency, JournalLine()).add(p)
    for account in sorted(accounts.values(), key=lambda a: a.account_id):
        if account.open_on(day):
            result.rows.append(_row(day, account, prior, by_account.get(account.account_id, []), rates, fx))
    result.journal = dict(sorted(result.journal.items()))
    result.unposted.sort(key=lambda u: (u.account_id, u.currency))
    return result


def _row(
    day: date,
    account: Account,
    prior: Mapping[str, PriorBalance] | None,
    postings: list[PostingTotal],
    rates: Mapping[str, RateTerms],
    fx: Mapping[str, Decimal],
) -> BalanceRow:
    ccy = account.currency
    before = None if prior is None else prior.get(account.account_id)
    opening = before.closing_balance if before else rounded(account.balance_brought_forward, ccy)
    mtd_before = before.accrued_interest_mtd if before else rounded(ZERO, ccy)
    debits = sum((convert(p.debits, p.currency, ccy, fx) for p in postings), start=rounded(ZERO, ccy))
    credits = sum((convert(p.credits, p.currency, ccy, fx) for p in postings), start=rounded(ZERO, ccy))
    movement = credits - debits if account.deposit else debits - credits
    balance = opening + movement
    terms = rates.get(account.product_code) if account.accrues_interest else None
    if account.accrues_interest and terms is None:
        raise MissingTerms(f"no rate in force for product {account.product_code} on {day}")
    accrual = (
        daily_accrual(balance, terms.annual_rate, terms.day_count, day, ccy) if terms else rounded(ZERO, ccy)
    )
    crediting = is_month_end(day) or account.closed_date == day
    credited = mtd_before + accrual if crediting else rounded(ZERO, ccy)
    mtd = rounded(ZERO, ccy) if crediting else mtd_before + accrual
    closing = balance + credited
    return BalanceRow(
        business_date=day,
        account_id=account.account_id,
        customer_id=account.customer_id,
        account_type=account.account_type,
        product_code=account.product_code,
        currency=ccy,
        opened_date=account.opened_date,
        closed_date=account.closed_date,
        opening_balance=opening,
        opening_source="previous_close" if before else "brought_forward",
        transactions=sum(p.transactions for p in postings),
        debits=debits,
        credits=credits,
        movement=movement,
        annual_rate=terms.annual_rate if terms else None,
        day_count=terms.day_count if terms else None,
        interest_accrued=accrual,
        accrued_interest_mtd=mtd,
        interest_credited=credited,
        closing_balance=closing,
        credit_limit=account.credit_limit,
        overdrawn=account.deposit and closing < ZERO,
        over_limit=(not account.deposit)
        and account.credit_limit is not None
        and closing > account.credit_limit,
    )
