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
class SourcePolicy:
    """How a file names the source(s) its rows come from: a store, a region export, a feed.

    ``key_pattern``: a regex with a named group ``source``, searched in the object key
    (``pos-(?P<source>S[0-9]+)`` gives "S001" for ``.../pos-S001.csv``); a key it does not match
    is its own source (the file name without extensions, so ``online.jsonl.gz`` -> "online").
    ``column``: optional column naming the source of each row (``store_id``): a file holding many
    stores is checked store by store; rows where it is empty belong to the file's source.
    """

    key_pattern: str | None = None
    column: str | None = None


@dataclass(frozen=True)
class DeliveryExpectation:
    """One line of a dataset's delivery calendar: these sources deliver on these weekdays.

    ``file``: the key-derived source of the file that carries them, when one file carries many
    sources (a region export carrying ten stores); None when each source sends its own file.
    ``weekdays``: ISO weekdays (1 = Monday ... 7 = Sunday) of the business days delivered.
    ``due_by_hour``: hour (UTC) of the day after the business day by which the delivery is due.
    ``min_rows``: fewest rows a delivery of one source may hold (a floor for a truncated export,
    useful before that source has any history).
    """

    sources: tuple[str, ...]
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7)
    due_by_hour: int = 6
    file: str | None = None
    min_rows: int = 0


@dataclass(frozen=True)
class DedupePolicy:
    """Ids unique across files: a row whose id an earlier run published within the retention
    window is a duplicate, reported as such and never republished."""

    column: str
    retention_days: int = 35


@dataclass(frozen=True)
class QualityPolicy:
    """Per-check minimum scores and weights used by the quality gate.

    Every check must reach its own minimum for a file to be published (``Assessment.all_passed``);
    the weighted score orders what passes into the publish and enhanced-validation bands. A check
    *vetoes* (critical failure) when it is a critical check and fails, or when its score drops
    below its critical floor (a file that lost a fifth of its rows is systematically broken).
    A check with minimum 0 is informational: it moves the score (e.g. freshness sends a late
    file to enhanced validation) but never blocks on its own.
    """

    min_scores: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    critical_checks: tuple[str, ...] = ("schema",)
    critical_floors: dict[str, float] = field(default_factory=dict)
    freshness_hours: float = 48.0
    volume_tolerance: float = 0.3
    volume_history: int = 8
    distribution_column: str | None = None
    distribution_max_shift: float = 0.5
    seasonal_min_history: int = 2
    sources: SourcePolicy = field(default_factory=SourcePolicy)
    deliveries: tuple[DeliveryExpectation, ...] = ()
    dedupe: DedupePolicy | None = None

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
    "seasonal_min_history",
    "sources",
    "deliveries",
    "dedupe",
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
    quality = parse_quality(name, raw.get("quality", {}), names)
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


# ---------------------------------------------------------------- the quality section

_SOURCE_FIELDS = {"key_pattern", "column"}
_DELIVERY_FIELDS = {"sources", "weekdays", "due_by_hour", "file", "min_rows"}
_DEDUPE_FIELDS = {"column", "retention_days"}
_RANGE = re.compile(r"^(?P<prefix>[A-Za-z_-]*)(?P<lo>[0-9]+)\.\.(?P=prefix)(?P<hi>[0-9]+)$")


def expand_sources(values: Any, where: str) -> tuple[str, ...]:
    """Source names, where "S001..S060" stands for S001, S002, ... S060 (zero-padded like its ends)."""
    if not isinstance(values, list) or not values:
        raise ContractError(f"{where}: sources must be a non-empty list")
    out: list[str] = []
    for value in values:
        text = str(value)
        m = _RANGE.match(text)
        if m is None:
            if ".." in text:
                raise ContractError(f"{where}: bad source range {text!r} (write S001..S060)")
            out.append(text)
            continue
        lo, hi, width = int(m["lo"]), int(m["hi"]), len(m["lo"])
        if hi < lo or len(m["hi"]) != width:
            raise ContractError(f"{where}: bad source range {text!r}")
        out.extend(f"{m['prefix']}{i:0{width}d}" for i in range(lo, hi + 1))
    if len(set(out)) != len(out):
        raise ContractError(f"{where}: a source is listed twice")
    return tuple(out)


def _delivery(where: str, raw: dict[str, Any]) -> DeliveryExpectation:
    _no_unknown(where, raw, _DELIVERY_FIELDS)
    weekdays = tuple(int(d) for d in raw.get("weekdays", range(1, 8)))
    if not weekdays or any(not 1 <= d <= 7 for d in weekdays):
        raise ContractError(f"{where}: weekdays are ISO weekdays 1 (Monday) .. 7 (Sunday)")
    due = int(raw.get("due_by_hour", 6))
    if not 0 <= due <= 23:
        raise ContractError(f"{where}: due_by_hour must be 0..23, got {due}")
    min_rows = int(raw.get("min_rows", 0))
    if min_rows < 0:
        raise ContractError(f"{where}: min_rows must be >= 0")
    return DeliveryExpectation(
        sources=expand_sources(raw.get("sources"), where),
        weekdays=weekdays,
        due_by_hour=due,
        file=None if raw.get("file") is None else str(raw["file"]),
        min_rows=min_rows,
    )


def parse_quality(contract: str, q: dict[str, Any], names: set[str]) -> QualityPolicy:
    """The ``quality`` section: gate minimums and weights, sources, delivery calendar, dedupe."""
    where = f"contract {contract!r}, quality"
    _no_unknown(where, q, QUALITY_FIELDS)
    src = q.get("sources", {})
    _no_unknown(f"{where}.sources", src, _SOURCE_FIELDS)
    if src.get("key_pattern"):
        try:
            compiled = re.compile(src["key_pattern"])
        except re.error as exc:
            raise ContractError(f"{where}.sources: invalid key_pattern: {exc}") from exc
        if "source" not in compiled.groupindex:
            raise ContractError(f"{where}.sources: key_pattern needs a named group (?P<source>...)")
    if src.get("column") is not None and src["column"] not in names:
        raise ContractError(f"{where}.sources: column {src['column']!r} is not a column of the contract")
    deliveries = tuple(
        _delivery(f"{where}.deliveries[{i}]", d) for i, d in enumerate(q.get("deliveries", []))
    )
    listed = [s for d in deliveries for s in d.sources]
    if len(set(listed)) != len(listed):
        raise ContractError(f"{where}.deliveries: a source is in more than one calendar line")
    dedupe = None
    if q.get("dedupe") is not None:
        _no_unknown(f"{where}.dedupe", q["dedupe"], _DEDUPE_FIELDS)
        if q["dedupe"].get("column") not in names:
            raise ContractError(f"{where}.dedupe: column {q['dedupe'].get('column')!r} is not a column")
        dedupe = DedupePolicy(str(q["dedupe"]["column"]), int(q["dedupe"].get("retention_days", 35)))
        if dedupe.retention_days < 1:
            raise ContractError(f"{where}.dedupe: retention_days must be >= 1")
    distribution = q.get("distribution_column")
    if distribution is not None and distribution not in names:
        raise ContractError(f"{where}: distribution_column {distribution!r} is not a column")
    tolerance = float(q.get("volume_tolerance", 0.3))
    if not 0 < tolerance <= 1:
        raise ContractError(f"{where}: volume_tolerance must be in (0, 1], got {tolerance}")
    return QualityPolicy(
        min_scores={k: float(v) for k, v in q.get("min_scores", {}).items()},
        weights={k: float(v) for k, v in q.get("weights", {}).items()},
        critical_checks=_tuple(q.get("critical_checks", ["schema"])),
        critical_floors={k: float(v) for k, v in q.get("critical_floors", {}).items()},
        freshness_hours=float(q.get("freshness_hours", 48.0)),
        volume_tolerance=tolerance,
        volume_history=int(q.get("volume_history", 8)),
        distribution_column=distribution,
        distribution_max_shift=float(q.get("distribution_max_shift", 0.5)),
        seasonal_min_history=int(q.get("seasonal_min_history", 2)),
        sources=SourcePolicy(key_pattern=src.get("key_pattern"), column=src.get("column")),
        deliveries=deliveries,
        dedupe=dedupe,
    )
