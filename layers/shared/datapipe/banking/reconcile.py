"""Reconciliation of a closed business day, from what was written (the curated tables), not from
what end of day meant to write.

Checks, each with the accounts that break it:

* ``opening_equals_previous_closing``: opening(D) = closing(D-1) for every account; an account
  without a closing on D-1 must have opened on D; an account of D-1 must be in D unless it closed.
* ``balance_identity``: closing = opening + movement + interest credited.
* ``movements_equal_published``: per currency, the transactions posted (count, debits, credits)
  equal the transactions published for the business day; transactions no open account took are
  listed with their accounts.
* ``transactions_counted``: the accounts' transaction counts add up to what was posted.
* ``interest_credited_equals_accruals``: a credit equals the sum of the account's accruals of the
  month up to that day.

Any break: status MISMATCH (a CRITICAL alert, and the day's regulatory report is blocked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from datapipe.banking.ledger import JournalLine, Unposted, _date
from datapipe.banking.money import ZERO, text, to_decimal

OK = "OK"
MISMATCH = "MISMATCH"


@dataclass(frozen=True)
class Break:
    check: str
    account_id: str | None
    expected: str
    actual: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "account_id": self.account_id,
            "expected": self.expected,
            "actual": self.actual,
            "reason": self.reason,
        }


@dataclass
class Reconciliation:
    business_date: date
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    breaks: list[Break] = field(default_factory=list)

    @property
    def status(self) -> str:
        return MISMATCH if self.breaks else OK

    @property
    def accounts(self) -> list[str]:
        """The accounts with a break (sorted, once each)."""
        return sorted({b.account_id for b in self.breaks if b.account_id})

    def summary(self) -> dict[str, Any]:
        """What events and alerts carry: no account ids (they go to the exceptions file)."""
        return {
            "status": self.status,
            "checks": self.checks,
            "breaks": len(self.breaks),
            "accounts_with_breaks": len(self.accounts),
        }

    def _check(self, name: str, breaks: list[Break], **facts: Any) -> None:
        self.checks[name] = {"passed": not breaks, "breaks": len(breaks), **facts}
        self.breaks.extend(breaks)


def reconcile(
    day: date,
    rows: Sequence[Mapping[str, Any]],
    previous: Sequence[Mapping[str, Any]] | None,
    published: Mapping[str, Mapping[str, Any]],
    journal: Mapping[str, JournalLine],
    unposted: list[Unposted],
    month_accruals: Mapping[str, Decimal],
) -> Reconciliation:
    """``rows``: daily_balances of ``day``; ``previous``: of ``day - 1`` (None: the ledger's first
    day); ``published``: per currency {transactions, debits, credits} of the day's published
    transactions; ``journal``/``unposted``: what end of day posted and could not post;
    ``month_accruals``: per account, the sum of interest_accrued of the month up to ``day``."""
    result = Reconciliation(day)
    result._check("opening_equals_previous_closing", _openings(day, rows, previous))
    result._check("balance_identity", _identity(rows))
    movement_breaks, facts = _movements(published, journal, unposted)
    result._check("movements_equal_published", movement_breaks, **facts)
    posted = sum(line.transactions for line in journal.values())
    counted = sum(int(r["transactions"]) for r in rows)
    result._check(
        "transactions_counted",
        []
        if posted == counted
        else [
            Break(
                "transactions_counted",
                None,
                str(posted),
                str(counted),
                "the accounts' transaction counts do not add up to what was posted",
            )
        ],
        posted=posted,
        counted=counted,
    )
    result._check("interest_credited_equals_accruals", _interest(rows, month_accruals))
    return result


def _openings(
    day: date, rows: Sequence[Mapping[str, Any]], previous: Sequence[Mapping[str, Any]] | None
) -> list[Break]:
    if previous is None:
        return []
    name = "opening_equals_previous_closing"
    before = {str(r["account_id"]): r for r in previous}
    out: list[Break] = []
    seen = set()
    for r in rows:
        account = str(r["account_id"])
        seen.add(account)
        opening = to_decimal(r["opening_balance"])
        prior = before.get(account)
        if prior is not None:
            closing = to_decimal(prior["closing_balance"])
            if opening != closing:
                out.append(
                    Break(
                        name,
                        account,
                        text(closing),
                        text(opening),
                        "opening differs from the previous closing",
                    )
                )
        elif _date(r["opened_date"]) < day:
            out.append(
                Break(
                    name,
                    account,
                    "a closing on the previous day",
                    text(opening),
                    "opened before the day but has no previous closing",
                )
            )
    for account, prior in sorted(before.items()):
        closed = prior.get("closed_date")
        if account not in seen and (closed is None or _date(closed) >= day):
            out.append(
                Break(
                    name,
                    account,
                    "a balance on the day",
                    "none",
                    "in the previous day's balances, missing from the day's (not closed)",
                )
            )
    return out


def _identity(rows: Sequence[Mapping[str, Any]]) -> list[Break]:
    out = []
    for r in rows:
        expected = (
            to_decimal(r["opening_balance"]) + to_decimal(r["movement"]) + to_decimal(r["interest_credited"])
        )
        actual = to_decimal(r["closing_balance"])
        if expected != actual:
            out.append(
                Break(
                    "balance_identity",
                    str(r["account_id"]),
                    text(expected),
                    text(actual),
                    "closing is not opening + movement + interest credited",
                )
            )
    return out


def _movements(
    published: Mapping[str, Mapping[str, Any]], journal: Mapping[str, JournalLine], unposted: list[Unposted]
) -> tuple[list[Break], dict[str, Any]]:
    name = "movements_equal_published"
    out: list[Break] = []
    per_currency: dict[str, Any] = {}
    for ccy in sorted(set(published) | set(journal)):
        pub = published.get(ccy, {})
        line = journal.get(ccy, JournalLine())
        want = (
            int(pub.get("transactions", 0)),
            to_decimal(pub.get("debits")),
            to_decimal(pub.get("credits")),
        )
        got = (line.transactions, line.debits, line.credits)
        per_currency[ccy] = {
            "published": {"transactions": want[0], "debits": text(want[1]), "credits": text(want[2])},
            "posted": line.to_dict(),
            "equal": want == got,
        }
        if want != got:
            out.append(
                Break(
                    name,
                    None,
                    f"{want[0]} / {text(want[1])} / {text(want[2])} {ccy}",
                    f"{got[0]} / {text(got[1])} / {text(got[2])} {ccy}",
                    "posted transactions differ from the published ones (count / debits / credits)",
                )
            )
    for u in unposted:
        out.append(
            Break(
                name,
                u.account_id,
                "an open account",
                f"{u.transactions} transaction(s), {text(u.debits)} debit / "
                f"{text(u.credits)} credit {u.currency}",
                f"not posted: {u.reason}",
            )
        )
    return out, {"currencies": per_currency}


def _interest(rows: Sequence[Mapping[str, Any]], month_accruals: Mapping[str, Decimal]) -> list[Break]:
    out = []
    for r in rows:
        credited = to_decimal(r["interest_credited"])
        if credited == ZERO:
            continue
        account = str(r["account_id"])
        accrued = month_accruals.get(account, ZERO)
        if credited != accrued:
            out.append(
                Break(
                    "interest_credited_equals_accruals",
                    account,
                    text(accrued),
                    text(credited),
                    "interest credited is not the sum of the month's accruals",
                )
            )
    return out
