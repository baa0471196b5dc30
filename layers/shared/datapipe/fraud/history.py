"""What the fraud rules remember across files: each card's recent transaction times and each
account's last amounts (in USD), so "velocity" and "the usual amount" see every earlier
transaction, whichever file or channel brought it.

The profile is *updated*, never overwritten: a new file's rows are merged into it (a union keyed
by transaction, so a replayed file changes nothing), and it is bounded: card times within the
retention, the account's last ``usual_history`` amounts. A transaction is remembered by
``txn_ref`` (a 64-bit one-way digest of its id, 16 hex digits), not by its id: the profiles store
no transaction id in the clear, and 8 bytes per transaction keep a profile item small. Rows are
in time order; at equal times an earlier file's rows come first, then a file's own in
transaction-id order (the order ``score_table`` uses), so the same files give the same state
whatever the order of rows within them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from hashlib import blake2b
from typing import Any

import numpy as np

# to_usd(amount, currency, on_date) -> amount in USD; raises LookupError/ValueError when it cannot
ToUsd = Callable[[float, str, date], float]

CARD_RETENTION_US = 24 * 3_600_000_000  # a day of card activity: late files within a day still count
_REF_PERSON = b"datapipe-txn"  # domain separation: not the digest of anything else


def txn_ref(transaction_id: str | None) -> str:
    """What the history remembers a transaction by: a 64-bit one-way digest of its id (16 hex
    digits), "" for a missing id."""
    if not transaction_id:
        return ""
    return blake2b(transaction_id.encode(), digest_size=8, person=_REF_PERSON).hexdigest()


@dataclass
class FraudHistory:
    """cards: card -> [(event_us, txn_ref)]; accounts: account -> [(event_us, txn_ref, usd)]."""

    cards: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    accounts: dict[str, list[tuple[int, str, float]]] = field(default_factory=dict)

    def card_rows(self, wanted: Iterable[str] | None = None) -> tuple[list[str], list[int], list[str]]:
        keys = self.cards if wanted is None else [c for c in wanted if c in self.cards]
        cards, times, ids = [], [], []
        for card in keys:
            for t, i in self.cards[card]:
                cards.append(card)
                times.append(t)
                ids.append(i)
        return cards, times, ids

    def account_rows(
        self, wanted: Iterable[str] | None = None
    ) -> tuple[list[str], list[int], list[str], list[float]]:
        keys = self.accounts if wanted is None else [a for a in wanted if a in self.accounts]
        accounts, times, ids, usd = [], [], [], []
        for account in keys:
            for t, i, v in self.accounts[account]:
                accounts.append(account)
                times.append(t)
                ids.append(i)
                usd.append(v)
        return accounts, times, ids, usd


def merge_card(
    old: list[tuple[int, str]], new: Iterable[tuple[int, str]], retention_us: int
) -> list[tuple[int, str]]:
    """A union by (time, txn_ref) in time order: at equal times the old rows stay first, in their
    order, then the new ones in theirs (``updated_history`` gives a file's in transaction-id order)."""
    known = set(old)
    merged = [*old, *(r for r in dict.fromkeys(new) if r not in known)]
    merged.sort(key=lambda r: r[0])  # stable
    if not merged:
        return merged
    newest = merged[-1][0]
    return [(t, i) for t, i in merged if t >= newest - retention_us]


def merge_account(
    old: list[tuple[int, str, float]], new: Iterable[tuple[int, str, float]], keep: int
) -> list[tuple[int, str, float]]:
    """A union by txn_ref (a re-sent transaction replaces its earlier row), the last ``keep`` in
    time order; equal times as in ``merge_card``."""
    by_id = {i: (t, i, v) for t, i, v in old}
    for t, i, v in new:
        if by_id.get(i) == (t, i, v):
            continue  # the same row again (a replay) keeps its place
        by_id.pop(i, None)  # a replaced row goes where the new rows go
        by_id[i] = (t, i, v)
    return sorted(by_id.values(), key=lambda r: r[0])[-keep:]


def updated_history(
    history: FraudHistory,
    cards: Sequence[str | None],
    accounts: Sequence[str | None],
    ids: Sequence[str | None],
    micros: np.ndarray[Any, Any],
    has_time: np.ndarray[Any, Any],
    usd: np.ndarray[Any, Any],
    has_usd: np.ndarray[Any, Any],
    keep: int,
    retention_us: int = CARD_RETENTION_US,
) -> FraudHistory:
    """The history with a scored table's rows merged in (what to store for the next file).
    ``ids`` are the transaction ids; the history keeps their ``txn_ref``."""
    new_cards: dict[str, list[tuple[int, str]]] = {}
    new_accounts: dict[str, list[tuple[int, str, float]]] = {}
    for k in range(len(ids)):
        txn = ids[k]
        if not txn or not has_time[k]:
            continue
        t = int(micros[k])
        if cards[k]:
            new_cards.setdefault(str(cards[k]), []).append((t, txn))
        if accounts[k] and has_usd[k] and usd[k] > 0:
            new_accounts.setdefault(str(accounts[k]), []).append((t, txn, float(usd[k])))
    out = FraudHistory(dict(history.cards), dict(history.accounts))
    for card, rows in new_cards.items():
        rows.sort()  # (time, transaction id): the order within a file
        out.cards[card] = merge_card(
            out.cards.get(card, []), [(t, txn_ref(i)) for t, i in rows], retention_us
        )
    for account, values in new_accounts.items():
        values.sort(key=lambda r: (r[0], r[1]))
        out.accounts[account] = merge_account(
            out.accounts.get(account, []), [(t, txn_ref(i), v) for t, i, v in values], keep
        )
    return out
