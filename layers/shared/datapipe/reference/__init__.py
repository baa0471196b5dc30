"""Reference data the contracts check against: ISO 4217 currencies (with minor units),
ISO 3166-1 alpha-2 countries, US states and territories, and USD conversion (``fx``)."""

from datapipe.reference.codes import COUNTRIES, CURRENCY_MINOR_UNITS, US_STATES, reference_set

__all__ = ["COUNTRIES", "CURRENCY_MINOR_UNITS", "US_STATES", "reference_set"]
