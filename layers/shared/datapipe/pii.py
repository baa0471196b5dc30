"""Card, account and customer ids stay in the data stores: what logs and alerts carry instead.

The curated tables, the fraud tables and the quarantine keep the raw ids (they are the data).
Everything written for people or other systems to read in passing (log lines, SNS alerts,
notifications) carries a masked form: the last four characters only, the rest as ``*``, the
length kept, the way card numbers are printed on receipts. Masking is idempotent (a masked id
masks to itself), so a value masked at the call site and again by the logging layer stays the
same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Field names (normalised: lower case, no ``_``/``-``) whose values are personal identifiers.
PII_FIELD_SUFFIXES: tuple[str, ...] = ("accountid", "cardid", "customerid")
_VISIBLE = 4
_SHORTEST_WITH_VISIBLE_TAIL = 8  # shorter ids would give too much of themselves away


def is_pii_field(name: object) -> bool:
    """``account_id``, ``cardId``, ``original-account-id``...: any key ending in a PII id name."""
    if not isinstance(name, str):
        return False
    normalised = "".join(c for c in name.lower() if c.isalnum())
    return normalised.endswith(PII_FIELD_SUFFIXES)


def mask_id(value: Any) -> Any:
    """``ACC000123`` -> ``*****0123``; None and "" stay as they are; numbers are masked as text."""
    if value is None or value == "":
        return value
    text = str(value)
    if len(text) < _SHORTEST_WITH_VISIBLE_TAIL:
        return "*" * len(text)
    return "*" * (len(text) - _VISIBLE) + text[-_VISIBLE:]


def redact(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, tuples, scalars) with every PII field's value masked."""
    if isinstance(obj, Mapping):
        return {k: _mask_value(v) if is_pii_field(k) else redact(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    return obj


def _mask_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_mask_value(v) for v in value]
    return mask_id(value)


def scrub_text(text: str, ids: Iterable[Any]) -> str:
    """Free text with each of the given raw ids replaced by its mask (longest first, so an id that
    contains another is replaced whole)."""
    for raw in sorted({str(i) for i in ids if i not in (None, "")}, key=len, reverse=True):
        text = text.replace(raw, str(mask_id(raw)))
    return text
