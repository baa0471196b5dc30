"""Vectorised row validation: every rule kind, typing, duplicates, lineage and counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from datapipe.contracts import default_registry
from datapipe.contracts.model import parse_contract
from datapipe.ingest.reader import read_raw
from datapipe.ingest.validation import LINEAGE_COLUMNS, Lineage, ValidationResult, arrow_type, validate

THINGS = parse_contract(
    {
        "name": "things",
        "version": 1,
        "raw_prefix": "things/",
        "formats": ["csv", "jsonl"],
        "event_time_column": "ts",
        "columns": [
            {"name": "id", "type": "string", "unique": True, "pattern": "^[A-Z0-9]{3,10}$"},
            {"name": "n", "type": "int", "minimum": 0, "maximum": 100},
            {"name": "d", "type": "decimal", "precision": 10, "scale": 2, "exclusive_minimum": 0},
            {"name": "f", "type": "float", "required": False, "minimum": -1, "maximum": 1},
            {"name": "ts", "type": "timestamp"},
            {"name": "flag", "type": "bool", "required": False},
            {"name": "code", "type": "string", "required": False, "allowed": ["A", "B"]},
            {"name": "nz", "type": "int", "required": False, "non_zero": True},
        ],
        "partitions": [{"name": "event_date", "source": "ts", "transform": "date"}],
    }
)
COLS = list(THINGS.column_names)
DEFAULT = {
    "id": "ID001",
    "n": "5",
    "d": "1.50",
    "f": "0.5",
    "ts": "2024-01-01T10:00:00Z",
    "flag": "true",
    "code": "A",
    "nz": "1",
}
LINEAGE = Lineage("things/2024/f.csv", "v-1", "etag-1", "things-run-1")
KEY = "things/2024/f.csv"


def line(**overrides: str) -> str:
    values = {**DEFAULT, **overrides}
    return ",".join(values[c] for c in COLS)


def run_csv(
    *lines: str | bytes, contract=THINGS, key: str = KEY, header: str | None = None
) -> ValidationResult:
    """Read + validate a CSV whose data lines are given; asserts the row-count invariant."""
    head = (header or ",".join(contract.column_names)).encode()
    body = b"\n".join([head, *(x if isinstance(x, bytes) else x.encode() for x in lines)]) + b"\n"
    result = validate(read_raw(body, key, contract), contract, LINEAGE)
    assert result.rows_in == result.rows_valid + result.rows_rejected
    return result


def rules(result: ValidationResult) -> list[tuple[int, str | None, str]]:
    return [(r.source_row, r.column, r.rule) for r in result.rejects]


def only_reject(result: ValidationResult):
    assert len(result.rejects) == 1, rules(result)
    return result.rejects[0]


# --- happy path and typing --------------------------------------------------------------------


def test_valid_rows_are_typed_per_contract():
    # GIVEN two valid rows
    result = run_csv(line(), line(id="ID002", n="007", d="12345678.99", f="-1e-1", flag="No", nz="-3"))
    # THEN nothing is rejected and the values are typed
    assert result.rejects == []
    assert result.rows_in == 2
    rows = result.valid.to_pylist()
    assert rows[0]["n"] == 5
    assert rows[0]["d"] == Decimal("1.50")
    assert rows[0]["f"] == 0.5
    assert rows[0]["ts"] == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert rows[0]["flag"] is True
    assert rows[1]["n"] == 7
    assert rows[1]["d"] == Decimal("12345678.99")
    assert rows[1]["f"] == pytest.approx(-0.1)
    assert rows[1]["flag"] is False
    assert rows[1]["nz"] == -3


def test_valid_table_types_match_contract_arrow_types():
    result = run_csv(line())
    for spec in THINGS.columns:
        assert result.valid.schema.field(spec.name).type == arrow_type(spec), spec.name
    assert result.valid.schema.field("d").type == pa.decimal128(10, 2)
    assert result.valid.schema.field("ts").type == pa.timestamp("us", tz="UTC")


def test_shipped_contract_types_survive_validation():
    tx = default_registry().get("transactions")
    header = ",".join(c.name for c in tx.input_columns)
    row = (
        "T000001,PURCHASE,,ACC001,C1,CUS1,S01,Shop,GROCERY,10.00,USD,POS,US,CA,US,CA,checking,"
        "2024-01-01T10:00:00-08:00"
    )
    result = run_csv(row, contract=tx, key="transactions/a.csv", header=header)
    assert result.rows_valid == 1, result.rejects
    assert result.valid.column("event_utc_offset_minutes").to_pylist() == [-480]
    for spec in tx.columns:
        assert result.valid.schema.field(spec.name).type == arrow_type(spec), spec.name


def test_lineage_and_partition_columns():
    # GIVEN three rows, the middle one invalid, with a blank line before the last
    body = [line(id="ID001", ts="2024-03-05T23:59:59.999999Z"), line(id="ID002", n="x"), "", line(id="ID003")]
    # WHEN validated
    result = run_csv(*body)
    # THEN each kept row carries the source object, run and physical row number
    valid = result.valid
    for name in LINEAGE_COLUMNS:
        assert name in valid.column_names
    assert valid.column("lineage_source_key").to_pylist() == ["things/2024/f.csv"] * 2
    assert valid.column("lineage_source_version").to_pylist() == ["v-1"] * 2
    assert valid.column("lineage_source_etag").to_pylist() == ["etag-1"] * 2
    assert valid.column("lineage_ingest_run_id").to_pylist() == ["things-run-1"] * 2
    assert valid.column("lineage_source_row").to_pylist() == [2, 5]
    assert valid.schema.field("lineage_source_row").type == pa.int64()
    # and the partition column is the UTC date of the event time
    assert valid.column("event_date").to_pylist() == ["2024-03-05", "2024-01-01"]
    assert valid.schema.field("event_date").type == pa.string()


def test_whitespace_is_trimmed_and_empty_is_null():
    # GIVEN padded values, and empty / blank optional values
    result = run_csv(line(id="  ID001 ", n=" 5", code=" B ", f="", flag="   ", nz=""))
    # THEN padding is gone, and empties are nulls (not errors, the columns are optional)
    assert result.rejects == []
    row = result.valid.to_pylist()[0]
    assert row["id"] == "ID001"
    assert row["n"] == 5
    assert row["code"] == "B"
    assert row["f"] is None
    assert row["flag"] is None
    assert row["nz"] is None
    assert result.null_counts["f"] == 1
    assert result.null_counts["id"] == 0


def test_absent_optional_column_is_a_typed_null_column():
    header = "id,n,d,ts"
    result = run_csv("ID001,5,1.50,2024-01-01T10:00:00Z", header=header)
    assert result.rejects == []
    assert result.valid.column("f").to_pylist() == [None]
    assert result.valid.schema.field("f").type == pa.float64()
    assert result.valid.schema.field("flag").type == pa.bool_()
    assert result.null_counts["nz"] == 1


# --- required ---------------------------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   "])
def test_required_value_missing(blank: str):
    reject = only_reject(run_csv(line(), line(id="ID002", n=blank)))
    assert (reject.source_row, reject.column, reject.rule) == (3, "n", "required")
    assert reject.message == "n: required value is missing"


# --- type -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["5.0", "abc", "1e3", "12345678901234567890", "--5", "0x10"])
def test_int_type(value: str):
    reject = only_reject(run_csv(line(n=value)))
    assert (reject.column, reject.rule) == ("n", "type")
    assert reject.value == value
    assert "not an integer" in reject.message


@pytest.mark.parametrize("value", ["1.555", "abc", "1e2", "123456789.00", ".5", "1;5"])
def test_decimal_type(value: str):
    reject = only_reject(run_csv(line(d=value)))
    assert (reject.column, reject.rule) == ("d", "type")
    assert "at most 2 decimal places" in reject.message


@pytest.mark.parametrize("value", ["abc", "nan", "inf", "1.2.3", "1e"])
def test_float_type(value: str):
    reject = only_reject(run_csv(line(f=value)))
    assert (reject.column, reject.rule) == ("f", "type")
    assert "not a number" in reject.message


@pytest.mark.parametrize("value", [".5", "1.", "5e-1", "-.25"])
def test_float_spellings_accepted(value: str):
    result = run_csv(line(f=value))
    assert result.rejects == []
    assert result.valid.column("f")[0].as_py() == pytest.approx(float(value))


@pytest.mark.parametrize(("value", "expected"), [("TRUE", True), ("Yes", True), ("1", True), ("0", False)])
def test_bool_spellings(value: str, expected: bool):
    result = run_csv(line(flag=value))
    assert result.rejects == []
    assert result.valid.column("flag")[0].as_py() is expected


@pytest.mark.parametrize("value", ["maybe", "y", "2", "t"])
def test_bool_type(value: str):
    reject = only_reject(run_csv(line(flag=value)))
    assert (reject.column, reject.rule) == ("flag", "type")
    assert "not a boolean" in reject.message


# --- timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01T10:00:00+00:00", datetime(2024, 1, 1, 10, tzinfo=UTC)),
        ("2024-01-01T10:00:00.5Z", datetime(2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-01-01T10:00:00.123456+00:00", datetime(2024, 1, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),  # leap day
    ],
)
def test_timestamps_accepted(value: str, expected: datetime):
    result = run_csv(line(ts=value))
    assert result.rejects == []
    assert result.valid.column("ts")[0].as_py() == expected


@pytest.mark.parametrize(
    "value",
    [
        "2024-01-01T10:00:00",  # no zone: ambiguous
        "2024-01-01T10:00:00+15:00",  # no such offset
        "0000-01-01T00:00:00Z",  # year 0000 once passed ingest and crashed publish
        "2262-04-12T00:00:00Z",  # beyond pandas' nanoseconds: unpublishable
        "2024-02-30T10:00:00Z",  # calendar: no Feb 30
        "2023-02-29T10:00:00Z",  # not a leap year
        "2024-04-31T10:00:00Z",
        "2024-01-01 10:00:00Z",  # space instead of T
        "2024-01-01T10:00Z",  # no seconds
        "2024-01-01T25:00:00Z",
        "2024-13-01T10:00:00Z",
        "2024-01-01T10:00:00.1234567Z",  # more than microseconds
        "1704103200",
    ],
)
def test_timestamps_rejected(value: str):
    reject = only_reject(run_csv(line(ts=value)))
    assert (reject.column, reject.rule) == ("ts", "type")
    assert reject.value == value
    assert "ISO 8601" in reject.message


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2024-01-01T10:00:00+02:00", datetime(2024, 1, 1, 8, tzinfo=UTC)),
        ("2024-01-01T10:00:00-05:00", datetime(2024, 1, 1, 15, tzinfo=UTC)),
        ("2024-01-01T23:30:00-08:00", datetime(2024, 1, 2, 7, 30, tzinfo=UTC)),
    ],
)
def test_timestamps_with_offsets_are_normalised_to_utc(value: str, utc: datetime):
    result = run_csv(line(ts=value))
    assert result.rejects == []
    assert result.valid.column("ts")[0].as_py() == utc


# --- range / non_zero / allowed / pattern -----------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "column", "fragment"),
    [
        ({"n": "-1"}, "n", "must be >= 0"),
        ({"n": "101"}, "n", "must be <= 100"),
        ({"d": "0"}, "d", "must be > 0"),  # exclusive minimum
        ({"d": "0.00"}, "d", "must be > 0"),
        ({"d": "-1.00"}, "d", "must be > 0"),
        ({"f": "1.01"}, "f", "must be <= 1"),
        ({"f": "-1.5"}, "f", "must be >= -1"),
    ],
)
def test_range(overrides: dict[str, str], column: str, fragment: str):
    reject = only_reject(run_csv(line(**overrides)))
    assert (reject.column, reject.rule) == (column, "range")
    assert fragment in reject.message


def test_range_bounds_are_inclusive_except_exclusive_minimum():
    result = run_csv(line(id="ID001", n="0", f="-1"), line(id="ID002", n="100", f="1", d="0.01"))
    assert result.rejects == []


@pytest.mark.parametrize("value", ["0", "-0", "000"])
def test_non_zero(value: str):
    reject = only_reject(run_csv(line(nz=value)))
    assert (reject.column, reject.rule) == ("nz", "non_zero")
    assert reject.message == "nz: must not be zero"


@pytest.mark.parametrize("value", ["C", "a", "AB"])
def test_allowed_values_are_exact(value: str):
    reject = only_reject(run_csv(line(code=value)))
    assert (reject.column, reject.rule) == ("code", "allowed_values")
    assert "not one of [A, B]" in reject.message


@pytest.mark.parametrize("value", ["id-1", "AB", "ABCDEFGHIJK", "ab123"])
def test_pattern(value: str):
    reject = only_reject(run_csv(line(id=value)))
    assert (reject.column, reject.rule) == ("id", "pattern")
    assert "^[A-Z0-9]{3,10}$" in reject.message


def test_invalid_utf8_value_is_an_encoding_reject():
    # GIVEN a Latin-1 byte in a data row (not the header)
    bad = line(id="ID002").replace(",A,", ",X,").encode().replace(b",X,", b",\xe9,")
    result = run_csv(line(), bad)
    # THEN that row alone is rejected for encoding, with the byte shown escaped
    reject = only_reject(result)
    assert (reject.source_row, reject.column, reject.rule) == (3, "code", "encoding")
    assert reject.value == "\\xe9"
    assert "not valid UTF-8" in reject.message
    assert result.rows_valid == 1


# --- unique -----------------------------------------------------------------------------------


def test_duplicate_names_the_first_row():
    result = run_csv(line(id="ID001"), line(id="ID002"), line(id="ID001", n="7"))
    reject = only_reject(result)
    assert (reject.source_row, reject.column, reject.rule) == (4, "id", "unique")
    assert reject.message == "id: duplicate value, first seen at row 2"
    assert result.valid.column("id").to_pylist() == ["ID001", "ID002"]
    assert result.valid.column("n").to_pylist() == [5, 5]


def test_first_valid_duplicate_survives_when_an_earlier_one_is_invalid():
    # GIVEN three rows with the same id; the first is invalid for another reason
    result = run_csv(
        line(id="ID001", n="oops"),  # row 2: invalid (type)
        line(id="ID001", n="20"),  # row 3: first VALID occurrence
        line(id="ID001", n="30"),  # row 4: duplicate of row 3
    )
    # THEN row 3 is kept; row 2 is rejected for its type, row 4 as duplicate of row 3
    assert result.valid.column("n").to_pylist() == [20]
    assert rules(result) == [(2, "n", "type"), (4, "id", "unique")]
    assert result.rejects[1].message == "id: duplicate value, first seen at row 3"


def test_every_later_duplicate_points_at_the_physical_first_row():
    result = run_csv(line(id="ID009"), "", line(id="ID009"), line(id="ID009"))
    assert [r.source_row for r in result.rejects] == [4, 5]
    assert {r.message for r in result.rejects} == {"id: duplicate value, first seen at row 2"}
    assert result.rows_valid == 1


def test_null_keys_are_not_duplicates_of_each_other():
    contract = parse_contract(
        {
            "name": "k",
            "version": 1,
            "raw_prefix": "k/",
            "formats": ["csv"],
            "columns": [
                {"name": "key", "type": "string", "unique": True, "required": False},
                {"name": "v", "type": "int"},
            ],
        }
    )
    result = run_csv(",1", ",2", "a,3", contract=contract, key="k/f.csv")
    assert result.rejects == []
    assert result.rows_valid == 3


# --- several failures, counts -----------------------------------------------------------------


def test_row_failing_several_rules_is_rejected_once_with_all_errors():
    # GIVEN a row breaking a pattern, a type and an allowed-values rule
    result = run_csv(line(), line(id="bad id", n="x", code="Z", ts=""))
    # THEN it appears once, reported under its first failing column
    reject = only_reject(result)
    assert (reject.source_row, reject.column, reject.rule) == (3, "id", "pattern")
    errors = reject.record["errors"]
    assert [(e["column"], e["rule"]) for e in errors] == [
        ("id", "pattern"),
        ("n", "type"),
        ("ts", "required"),
        ("code", "allowed_values"),
    ]
    assert errors[1]["value"] == "x"
    assert reject.record["values"]["code"] == "Z"
    assert reject.record["values"]["ts"] is None
    # AND the per-rule counter counts every failure, not just the first
    assert result.rejects_by_rule == {
        "id:pattern": 1,
        "n:type": 1,
        "ts:required": 1,
        "code:allowed_values": 1,
    }
    assert result.rows_rejected == 1
    assert result.rows_valid == 1


def test_rejects_are_sorted_by_row_and_merge_reader_rejects():
    # GIVEN a ragged row between rule failures
    result = run_csv(line(id="ID001", n="-1"), "a,b,c", line(id="ID003", code="Q"), line(id="ID004"))
    assert rules(result) == [(2, "n", "range"), (3, None, "ragged_row"), (4, "code", "allowed_values")]
    assert result.rejects_by_rule == {"n:range": 1, "*:ragged_row": 1, "code:allowed_values": 1}
    assert result.rows_in == 4
    assert result.rows_valid == 1


def test_all_rows_invalid_gives_empty_but_well_typed_table():
    result = run_csv(line(n="x"), line(id="ID002", n="y"))
    assert result.rows_valid == 0
    assert result.rows_rejected == 2
    assert result.valid.schema.field("d").type == pa.decimal128(10, 2)
    assert "event_date" in result.valid.column_names


# --- JSON Lines input -------------------------------------------------------------------------


def test_jsonl_values_are_validated_the_same_way():
    records = [
        {**DEFAULT, "n": 5, "d": 1.5, "f": 0.25, "flag": True, "nz": None},
        {**DEFAULT, "id": "ID002", "n": 5.5},  # int column gets a float
        {**DEFAULT, "id": "  ID003  ", "code": " B "},
    ]
    body = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    result = validate(read_raw(body, "things/f.jsonl", THINGS), THINGS, LINEAGE)
    assert result.rows_in == result.rows_valid + result.rows_rejected
    assert rules(result) == [(2, "n", "type")]
    rows = result.valid.to_pylist()
    assert rows[0]["d"] == Decimal("1.50")
    assert rows[0]["flag"] is True
    assert rows[0]["nz"] is None
    assert rows[1]["id"] == "ID003"
    assert rows[1]["code"] == "B"
    assert result.valid.column("lineage_source_row").to_pylist() == [1, 3]
