"""What end of day needs before it may compute a day, and what it does without it.

Hard dependencies are never waived: the day's rates feed (and a rate in force for every savings
product), an account master snapshot as of the day or later, reference fx rates for every
currency a posting must be converted from or to, and the previous business day closed (once the
ledger has started). Missing one blocks the day until the next scheduled attempt.

The transactions feed is awaited source by source, as the contract's delivery calendar lists
them. Until the configured cut-off a missing source blocks the day too; at the cut-off the day is
closed with what arrived, the missing sources listed in the close (a file arriving later restates
the day). End of day never computes silently on partial data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

BLOCKED = "BLOCKED"
PROCEED = "PROCEED"


@dataclass(frozen=True)
class Missing:
    kind: str  # interest_rates | account_master | fx_rates | previous_day | transactions
    what: str
    hard: bool = True
    sources: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "what": self.what, "hard": self.hard, "sources": list(self.sources)}


@dataclass(frozen=True)
class Decision:
    outcome: str  # BLOCKED | PROCEED
    missing: tuple[Missing, ...] = ()  # what blocks (BLOCKED)
    waived: tuple[Missing, ...] = field(default_factory=tuple)  # soft ones closed without (PROCEED)

    @property
    def blocked(self) -> bool:
        return self.outcome == BLOCKED

    def reason(self) -> str:
        return "; ".join(m.what for m in (self.missing or self.waived))


def decide(missing: list[Missing], cutoff_passed: bool) -> Decision:
    """Block on anything hard; on soft (transactions sources) only until the cut-off."""
    hard = tuple(m for m in missing if m.hard)
    soft = tuple(m for m in missing if not m.hard)
    if hard or (soft and not cutoff_passed):
        return Decision(BLOCKED, hard + (() if cutoff_passed else soft))
    return Decision(PROCEED, (), soft)


def missing_sources(overdue: list[Any], limit: int = 12) -> Missing | None:
    """The transactions sources the delivery calendar expects and that have not delivered (or
    delivered fewer rows than its floor): ``overdue`` are ``quality.deliveries.MissingDelivery``."""
    if not overdue:
        return None
    names = tuple(sorted(m.source for m in overdue))
    shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
    return Missing(
        "transactions", f"{len(names)} expected transactions source(s) not delivered: {shown}", False, names
    )
