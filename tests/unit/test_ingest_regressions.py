"""Inputs that once crashed ingest or misread a file: each must be read, or rejected precisely."""

from __future__ import annotations

import pytest

from datapipe.contracts import default_registry
from datapipe.ingest.reader import FileRejected, read_raw
from datapipe.ingest.validation import Lineage, validate

INV = default_registry().get("inventory_movements")
HEADER = b"movement_id,store_id,product_id,quantity_change,reason,event_time\n"
ROW = b"M000001,S01,P0001,4,DELIVERY,2024-01-01T10:00:00Z\n"


def ingest(data: bytes, key: str = "inventory_movements/a.csv"):
    result = validate(read_raw(data, key, INV), INV, Lineage(key, "", "", "run"))
    assert result.rows_in == result.rows_valid + result.rows_rejected
    return result


def test_integer_with_an_explicit_plus_sign_is_read() -> None:
    result = ingest(HEADER + ROW.replace(b",4,", b",+24,"))
    assert result.valid.column("quantity_change").to_pylist() == [24]


def test_plus_zero_is_rejected_as_zero_not_a_crash() -> None:
    result = ingest(HEADER + ROW.replace(b",4,", b",+0,"))
    assert [(r.source_row, r.rule) for r in result.rejects] == [(2, "non_zero")]


def test_bare_cr_line_endings_reject_the_file_with_the_reason() -> None:
    with pytest.raises(FileRejected, match="bare CR") as err:
        read_raw((HEADER + ROW).replace(b"\n", b"\r"), "inventory_movements/a.csv", INV)
    assert err.value.code == "UNPARSABLE_CSV"


def test_ragged_row_with_invalid_utf8_is_rejected_alone() -> None:
    data = HEADER + ROW + b"M000002,S01,Caf\xe9,1,SALE\n" + ROW.replace(b"M000001", b"M000003")
    result = ingest(data)
    assert result.rows_valid == 2
    (reject,) = result.rejects
    assert (reject.source_row, reject.rule) == (3, "ragged_row")
    assert "Caf\\xe9" in (reject.value or "")


def test_json_keys_are_case_insensitive_like_csv_headers() -> None:
    line = (
        b'{"MOVEMENT_ID": "M000001", "Store_Id": "S01", "PRODUCT_ID": "P0001", "QUANTITY_CHANGE": 5, '
        b'"REASON": "DELIVERY", "EVENT_TIME": "2024-01-01T10:00:00Z"}\n'
    )
    result = ingest(line, "inventory_movements/a.jsonl")
    assert result.rows_valid == 1 and result.rows_rejected == 0


def test_utf8_bom_does_not_hide_json_lines_without_a_suffix() -> None:
    line = (
        b'\xef\xbb\xbf{"movement_id": "M000001", "store_id": "S01", "product_id": "P0001", '
        b'"quantity_change": -5, "reason": "SALE", "event_time": "2024-01-01T10:00:00Z"}\n'
    )
    assert ingest(line, "inventory_movements/feed").rows_valid == 1


def test_whole_number_json_float_is_an_integer() -> None:
    line = (
        b'{"movement_id": "M000001", "store_id": "S01", "product_id": "P0001", "quantity_change": 5.0, '
        b'"reason": "DELIVERY", "event_time": "2024-01-01T10:00:00Z"}\n'
    )
    assert ingest(line, "inventory_movements/a.jsonl").valid.column("quantity_change").to_pylist() == [5]


def test_fractional_json_number_is_still_not_an_integer() -> None:
    line = (
        b'{"movement_id": "M000001", "store_id": "S01", "product_id": "P0001", "quantity_change": 5.5, '
        b'"reason": "DELIVERY", "event_time": "2024-01-01T10:00:00Z"}\n'
    )
    (reject,) = ingest(line, "inventory_movements/a.jsonl").rejects
    assert (reject.column, reject.rule) == ("quantity_change", "type")
