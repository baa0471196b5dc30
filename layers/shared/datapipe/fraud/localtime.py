"""Local time of a transaction, for the time-of-day rules.

The offset the source gave (``event_utc_offset_minutes``, derived at ingest) wins; else the time
zone of the store's US state (``location_state`` when ``location_country`` is US or absent);
else UTC. States spanning two zones take the zone most of their people live in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

STATE_ZONES: dict[str, str] = {
    **dict.fromkeys(
        (
            "CT",
            "DC",
            "DE",
            "FL",
            "GA",
            "IN",
            "MA",
            "MD",
            "ME",
            "MI",
            "NC",
            "NH",
            "NJ",
            "NY",
            "OH",
            "PA",
            "RI",
            "SC",
            "VA",
            "VT",
            "WV",
            "KY",
        ),
        "America/New_York",
    ),
    **dict.fromkeys(
        ("AL", "AR", "IA", "IL", "KS", "LA", "MN", "MO", "MS", "ND", "NE", "OK", "SD", "TN", "TX", "WI"),
        "America/Chicago",
    ),
    **dict.fromkeys(("CO", "MT", "NM", "UT", "WY", "ID"), "America/Denver"),
    "AZ": "America/Phoenix",
    **dict.fromkeys(("CA", "NV", "OR", "WA"), "America/Los_Angeles"),
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas",
    "GU": "Pacific/Guam",
    "MP": "Pacific/Saipan",
    "AS": "Pacific/Pago_Pago",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_for(state: str | None, country: str | None = None) -> str | None:
    """IANA zone of a US state or territory code; None outside the US or for an unknown code."""
    if not state or (country not in (None, "", "US")):
        return None
    return STATE_ZONES.get(state)


def local_hour(
    event_us: int, offset_minutes: int | None, state: str | None, country: str | None = None
) -> int:
    """Hour of the day where the transaction happened."""
    at = _EPOCH + timedelta(microseconds=event_us)
    if offset_minutes is not None:
        return (at + timedelta(minutes=offset_minutes)).hour
    zone = zone_for(state, country)
    return at.astimezone(_zone(zone)).hour if zone else at.hour
