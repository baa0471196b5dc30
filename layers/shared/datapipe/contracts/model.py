"""Typed model of a dataset contract, parsed from the JSON files next to this module.

A contract is data, not code: adding a dataset means adding a JSON file. Parsing is strict so a
typo in a contract fails at load time with the file and field named, not at 3 a.m. on a row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

COLUMN_TYPES = ("string", "int", "decimal", "float", "timestamp", "date", "bool")
# File-level rules scored by the gate. A rule about one row is a RowRule (it rejects the row).
RULE_KINDS = ("max", "min", "sign_by_category", "not_after_arrival", "columns_differ_rate")
ROW_RULE_KINDS = (
    "sign_by_category",
    "required_when",
    "not_equal",
    "max_in_base_currency",
    "currency_minor_units",
    "reference_when",
    "not_after_arrival",
    "max_age",
)
DERIVATIONS = ("utc_offset_minutes",)
MAX_DECIMAL_PRECISION = 38  # Parquet, Glue and Athena all stop at decimal(38, s)


class ContractError(ValueError):
    """A contract file is malformed; the message names the contract and the field."""


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: str
    required: bool = True
    minimum: float | None = None
    exclusive_minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    pattern: str | None = None
    unique: bool = False
    non_zero: bool = False
    precision: int = 18
    scale: int = 2
    description: str = ""
    derived: str | None = None
    reference: str | None = None
    """Name of a reference list (datapipe.reference) the value must belong to."""
    max_length: int = 1024
    """Strings: longest value in characters (Athena's varchar tops at 65,535; Glue and reports
    need far less). A longer value rejects its row, like any rule."""

    @property
    def glue_type(self) -> str:
        return {
            "string": "string",
            "int": "bigint",
            "decimal": f"decimal({self.precision},{self.scale})",
            "float": "double",
            "timestamp": "timestamp",
            "date": "date",
            "bool": "boolean",
        }[self.type]


@dataclass(frozen=True)
class PartitionSpec:
    """A partition column derived from a source column (e.g. event_date from event_time)."""

    name: str
    source: str
    transform: str = "date"


@dataclass(frozen=True)
class BusinessRule:
    """A dataset-level rule scored as the share of rows that satisfy it.

    kinds:
      max / min:            column <= value / column >= value
      sign_by_category:     numeric column's sign must match the category column's value
      not_after_arrival:    timestamp column not later than the file's arrival + tolerance
      columns_differ_rate:  informational: share of rows where two columns differ must stay
                            under ``max_rate`` (e.g. out-of-home-state purchases)
    """

    name: str
    kind: str
    column: str
    description: str = ""
    value: float | None = None
    category_column: str | None = None
    negative: tuple[str, ...] = ()
    positive: tuple[str, ...] = ()
    tolerance_minutes: float = 0.0
    other_column: str | None = None
    max_rate: float = 1.0
    min_pass_rate: float = 0.99
    critical: bool = False


@dataclass(frozen=True)
class RowRule:
    """A rule about one row: a row that breaks it is rejected at ingest with ``name`` as reason.

    kinds:
      sign_by_category:      ``column``'s sign per ``category_column`` value: ``signs`` maps a
                             category to positive | negative | non_zero
      required_when:         ``column`` must be present when ``category_column`` is in ``values``
      not_equal:             ``column`` must differ from ``other_column`` (when both present)
      max_in_base_currency:  abs(``column``) converted to USD (``currency_column``, on the date of
                             ``date_column``) must be <= ``value``; no rate at all -> rejected too
      currency_minor_units:  ``column`` carries no more significant decimals than the minor units
                             of the currency in ``currency_column`` (ISO 4217)
      reference_when:        when ``category_column`` is in ``values``, ``column`` is required and
                             must belong to the ``reference`` list
      not_after_arrival:     timestamp ``column`` not later than the file's arrival + tolerance
                             (the clock-skew tolerance, ``tolerance_minutes``)
      max_age:               timestamp ``column`` not older than arrival - ``max_age_days``
    """

    name: str
    kind: str
    column: str
    description: str = ""
    category_column: str | None = None
    signs: tuple[tuple[str, str], ...] = ()
    values: tuple[str, ...] = ()
    other_column: str | None = None
    currency_column: str | None = None
    date_column: str | None = None
    value: float | None = None
    reference: str | None = None
    tolerance_minutes: float = 0.0
    max_age_days: float = 0.0


@dataclass(frozen=True)
class QualityPolicy:
    """Per-check minimum scores and weights used by final validation and enhanced validation.

    A check *fails* below its minimum score (lowering the aggregate). It *vetoes* publication
    when it is a critical check and fails, or when its score drops below its critical floor
    (e.g. a file that lost a fifth of its rows is systematically broken, whatever the mean).
    """

    min_scores: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    critical_checks: tuple[str, ...] = ("schema",)
    critical_floors: dict[str, float] = field(default_factory=dict)
    freshness_hours: float = 48.0
    volume_tolerance: float = 0.5
    volume_history: int = 7
    distribution_column: str | None = None
    distribution_max_shift: float = 0.5

    def min_score(self, check: str) -> float:
        return self.min_scores.get(check, 0.9)

    def weight(self, check: str) -> float:
        return self.weights.get(check, 1.0)


@dataclass(frozen=True)
class DatasetContract:
    name: str
    version: int
    raw_prefix: str
    formats: tuple[str, ...]
    columns: tuple[ColumnSpec, ...]
    partitions: tuple[PartitionSpec, ...]
    business_rules: tuple[BusinessRule, ...]
    quality: QualityPolicy
    event_time_column: str | None = None
    description: str = ""
    row_rules: tuple[RowRule, ...] = ()

    def column(self, name: str) -> ColumnSpec:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def input_columns(self) -> tuple[ColumnSpec, ...]:
        """Columns read from the file (derived ones are computed at ingest, never read)."""
        return tuple(c for c in self.columns if c.derived is None)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required and c.derived is None)

    @property
    def unique_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.unique)

    @property
    def schema_version(self) -> str:
        return f"{self.name}/v{self.version}"


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if value is not None else ()


def _column(contract: str, raw: dict[str, Any]) -> ColumnSpec:
    where = f"contract {contract!r}, column {raw.get('name')!r}"
    known = {
        "name",
        "type",
        "required",
        "minimum",
        "exclusive_minimum",
        "maximum",
        "allowed",
        "pattern",
        "unique",
        "non_zero",
        "precision",
        "scale",
        "description",
        "max_length",
        "reference",
        "derived",
    }
    unknown = set(raw) - known
    if unknown:
        raise ContractError(f"{where}: unknown field(s) {sorted(unknown)}")
    if raw.get("type") not in COLUMN_TYPES:
        raise ContractError(f"{where}: type must be one of {COLUMN_TYPES}, got {raw.get('type')!r}")
    if raw.get("pattern"):
        try:
            re.compile(raw["pattern"])
        except re.error as exc:
            raise ContractError(f"{where}: invalid pattern: {exc}") from exc
    if raw.get("reference") is not None:
        from datapipe.reference import reference_set

        try:
            reference_set(raw["reference"])
        except KeyError as exc:
            raise ContractError(f"{where}: {exc.args[0]}") from None
    derived = raw.get("derived")
    if derived is not None and str(derived).split(":", 1)[0] not in DERIVATIONS:
        raise ContractError(f"{where}: derived must be one of {DERIVATIONS} ('kind:source_column')")
    precision, scale = int(raw.get("precision", 18)), int(raw.get("scale", 2))
    if raw.get("type") == "decimal" and not (0 <= scale <= precision <= MAX_DECIMAL_PRECISION):
        raise ContractError(f"{where}: decimal needs 0 <= scale <= precision <= {MAX_DECIMAL_PRECISION}")
    allowed = raw.get("allowed")
    return ColumnSpec(
        name=str(raw["name"]),
        type=str(raw["type"]),
        required=bool(raw.get("required", True)),
        minimum=raw.get("minimum"),
        exclusive_minimum=raw.get("exclusive_minimum"),
        maximum=raw.get("maximum"),
        allowed=tuple(str(v) for v in allowed) if allowed is not None else None,
        pattern=raw.get("pattern"),
        unique=bool(raw.get("unique", False)),
        non_zero=bool(raw.get("non_zero", False)),
        precision=int(raw.get("precision", 18)),
        scale=int(raw.get("scale", 2)),
        description=str(raw.get("description", "")),
        max_length=int(raw.get("max_length", 1024)),
        reference=raw.get("reference"),
        derived=str(derived) if derived is not None else None,
    )


RULE_FIELDS = {
    "name",
    "kind",
    "column",
    "description",
    "value",
    "category_column",
    "negative",
    "positive",
    "tolerance_minutes",
    "other_column",
    "max_rate",
    "min_pass_rate",
    "critical",
}
QUALITY_FIELDS = {
    "min_scores",
    "weights",
    "critical_checks",
    "critical_floors",
    "freshness_hours",
    "volume_tolerance",
    "volume_history",
    "distribution_column",
    "distribution_max_shift",
}
CONTRACT_FIELDS = {
    "name",
    "version",
    "description",
    "raw_prefix",
    "formats",
    "event_time_column",
    "columns",
    "partitions",
    "business_rules",
    "row_rules",
    "quality",
}
ROW_RULE_FIELDS = {
    "name",
    "kind",
    "column",
    "description",
    "category_column",
    "signs",
    "values",
    "other_column",
    "currency_column",
    "date_column",
    "value",
    "reference",
    "tolerance_minutes",
    "max_age_days",
}
SIGNS = ("positive", "negative", "non_zero")


def _no_unknown(where: str, raw: dict[str, Any], known: set[str]) -> None:
    unknown = set(raw) - known
    if unknown:
        raise ContractError(f"{where}: unknown field(s) {sorted(unknown)}")


def _rule(contract: str, names: set[str], raw: dict[str, Any]) -> BusinessRule:
    where = f"contract {contract!r}, business rule {raw.get('name')!r}"
    _no_unknown(where, raw, RULE_FIELDS)
    if raw.get("kind") not in RULE_KINDS:
        raise ContractError(f"{where}: kind must be one of {RULE_KINDS}, got {raw.get('kind')!r}")
    for ref in ("column", "category_column", "other_column"):
        if raw.get(ref) is not None and raw[ref] not in names:
            raise ContractError(f"{where}: {ref} {raw[ref]!r} is not a column of the contract")
    return BusinessRule(
        name=str(raw["name"]),
        kind=str(raw["kind"]),
        column=str(raw["column"]),
        description=str(raw.get("description", "")),
        value=raw.get("value"),
        category_column=raw.get("category_column"),
        negative=_tuple(raw.get("negative")),
        positive=_tuple(raw.get("positive")),
        tolerance_minutes=float(raw.get("tolerance_minutes", 0.0)),
        other_column=raw.get("other_column"),
        max_rate=float(raw.get("max_rate", 1.0)),
        min_pass_rate=float(raw.get("min_pass_rate", 0.99)),
        critical=bool(raw.get("critical", False)),
    )


def _row_rule(contract: str, names: set[str], raw: dict[str, Any]) -> RowRule:
    where = f"contract {contract!r}, row rule {raw.get('name')!r}"
    _no_unknown(where, raw, ROW_RULE_FIELDS)
    if raw.get("kind") not in ROW_RULE_KINDS:
        raise ContractError(f"{where}: kind must be one of {ROW_RULE_KINDS}, got {raw.get('kind')!r}")
    for ref in ("column", "category_column", "other_column", "currency_column", "date_column"):
        if raw.get(ref) is not None and raw[ref] not in names:
            raise ContractError(f"{where}: {ref} {raw[ref]!r} is not a column of the contract")
    signs = raw.get("signs", {})
    bad = {k: v for k, v in signs.items() if v not in SIGNS}
    if bad:
        raise ContractError(f"{where}: signs must be one of {SIGNS}, got {bad}")
    needs = {
        "sign_by_category": ("category_column", "signs"),
        "required_when": ("category_column", "values"),
        "not_equal": ("other_column",),
        "max_in_base_currency": ("currency_column", "date_column", "value"),
        "currency_minor_units": ("currency_column",),
        "reference_when": ("category_column", "values", "reference"),
        "not_after_arrival": (),
        "max_age": ("max_age_days",),
    }[raw["kind"]]
    missing = [n for n in needs if raw.get(n) in (None, {}, [])]
    if missing:
        raise ContractError(f"{where}: kind {raw['kind']} needs {missing}")
    if raw.get("reference") is not None:
        from datapipe.reference import reference_set

        try:
            reference_set(raw["reference"])
        except KeyError as exc:
            raise ContractError(f"{where}: {exc.args[0]}") from None
    return RowRule(
        name=str(raw["name"]),
        kind=str(raw["kind"]),
        column=str(raw["column"]),
        description=str(raw.get("description", "")),
        category_column=raw.get("category_column"),
        signs=tuple((str(k), str(v)) for k, v in signs.items()),
        values=_tuple(raw.get("values")),
        other_column=raw.get("other_column"),
        currency_column=raw.get("currency_column"),
        date_column=raw.get("date_column"),
        value=raw.get("value"),
        reference=raw.get("reference"),
        tolerance_minutes=float(raw.get("tolerance_minutes", 0.0)),
        max_age_days=float(raw.get("max_age_days", 0.0)),
    )


def parse_contract(raw: dict[str, Any]) -> DatasetContract:
    name = raw.get("name")
    if not name or not isinstance(name, str):
        raise ContractError("contract without a 'name'")
    _no_unknown(f"contract {name!r}", raw, CONTRACT_FIELDS)
    _no_unknown(f"contract {name!r}, quality", raw.get("quality", {}), QUALITY_FIELDS)
    for key in ("version", "raw_prefix", "formats", "columns"):
        if key not in raw:
            raise ContractError(f"contract {name!r}: missing {key!r}")
    columns = tuple(_column(name, c) for c in raw["columns"])
    names = {c.name for c in columns}
    if len(names) != len(columns):
        raise ContractError(f"contract {name!r}: duplicate column names")
    formats = _tuple(raw["formats"])
    for fmt in formats:
        if fmt not in ("csv", "jsonl"):
            raise ContractError(f"contract {name!r}: unsupported format {fmt!r}")
    partitions = tuple(
        PartitionSpec(name=p["name"], source=p["source"], transform=p.get("transform", "date"))
        for p in raw.get("partitions", [])
    )
    for part in partitions:
        if part.source not in names:
            raise ContractError(f"contract {name!r}: partition source {part.source!r} unknown")
        if part.name in names:
            raise ContractError(f"contract {name!r}: partition {part.name!r} clashes with a column")
    q = raw.get("quality", {})
    quality = QualityPolicy(
        min_scores={k: float(v) for k, v in q.get("min_scores", {}).items()},
        weights={k: float(v) for k, v in q.get("weights", {}).items()},
        critical_checks=_tuple(q.get("critical_checks", ["schema"])),
        critical_floors={k: float(v) for k, v in q.get("critical_floors", {}).items()},
        freshness_hours=float(q.get("freshness_hours", 48.0)),
        volume_tolerance=float(q.get("volume_tolerance", 0.5)),
        volume_history=int(q.get("volume_history", 7)),
        distribution_column=q.get("distribution_column"),
        distribution_max_shift=float(q.get("distribution_max_shift", 0.5)),
    )
    event_time = raw.get("event_time_column")
    if event_time is not None and event_time not in names:
        raise ContractError(f"contract {name!r}: event_time_column {event_time!r} unknown")
    return DatasetContract(
        name=name,
        version=int(raw["version"]),
        raw_prefix=str(raw["raw_prefix"]),
        formats=formats,
        columns=columns,
        partitions=partitions,
        business_rules=tuple(_rule(name, names, r) for r in raw.get("business_rules", [])),
        quality=quality,
        event_time_column=event_time,
        description=str(raw.get("description", "")),
        row_rules=tuple(_row_rule(name, names, r) for r in raw.get("row_rules", [])),
    )
