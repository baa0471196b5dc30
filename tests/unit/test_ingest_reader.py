"""Reading raw bytes into untyped columns: formats, compression, encodings, whole-file faults."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pytest

from datapipe.contracts import default_registry
from datapipe.ingest.reader import FileRejected, RawBatch, read_raw

INV = default_registry().get("inventory_movements")
TX = default_registry().get("transactions")
INV_KEY = "inventory_movements/2024-01-01/S001.csv"
INV_JSONL_KEY = "inventory_movements/2024-01-01/S001.jsonl"
HEADER = b"movement_id,store_id,product_id,quantity_change,reason,event_time"


def row(i: int, qty: str = "5", reason: str = "DELIVERY") -> bytes:
    return f"M{i:06d},S01,P0001,{qty},{reason},2024-01-01T10:00:00Z".encode()


def csv_body(*rows: bytes, header: bytes = HEADER, eol: bytes = b"\n") -> bytes:
    return eol.join([header, *rows]) + eol


def record(i: int, **overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "movement_id": f"M{i:06d}",
        "store_id": "S01",
        "product_id": "P0001",
        "quantity_change": 5,
        "reason": "DELIVERY",
        "event_time": "2024-01-01T10:00:00Z",
    }
    base.update(overrides)
    return base


def jsonl(*records: dict[str, object]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def col(batch: RawBatch, name: str) -> list[object]:
    return batch.columns[name].to_pylist()


def rejected(code: str, body: bytes, key: str = INV_KEY, contract=INV) -> FileRejected:
    with pytest.raises(FileRejected) as err:
        read_raw(body, key, contract)
    assert err.value.code == code, err.value
    return err.value


# --- CSV happy path ---------------------------------------------------------------------------


def test_csv_happy_path_reads_untyped_columns_with_physical_line_numbers():
    # GIVEN a two-row CSV
    body = csv_body(row(1), row(2, qty="-3", reason="SALE"))
    # WHEN reading it
    batch = read_raw(body, INV_KEY, INV)
    # THEN every contract column is present as raw bytes, rows numbered from line 2
    assert batch.format == "csv"
    assert batch.compression == "none"
    assert set(batch.columns) == set(INV.column_names) - {"reference_id"}  # optional, absent
    assert all(pa.types.is_binary(a.type) for a in batch.columns.values())
    assert col(batch, "movement_id") == [b"M000001", b"M000002"]
    assert col(batch, "quantity_change") == [b"5", b"-3"]
    assert batch.row_numbers.tolist() == [2, 3]
    assert batch.pre_rejects == []
    assert batch.rows_in == 2
    assert batch.ignored_columns == []


def test_csv_header_is_normalised_and_extra_columns_are_ignored():
    # GIVEN a header with upper case, spaces and a column the contract does not know
    header = b" Movement_ID ,STORE_ID,product_id,quantity_change,reason,event_time,Cashier"
    body = csv_body(row(1) + b",alice", header=header)
    # WHEN reading
    batch = read_raw(body, INV_KEY, INV)
    # THEN the contract columns are found and the extra column is reported, not kept
    assert col(batch, "movement_id") == [b"M000001"]
    assert batch.ignored_columns == ["cashier"]
    assert "cashier" not in batch.columns


def test_csv_without_trailing_newline_keeps_last_row():
    body = HEADER + b"\n" + row(1) + b"\n" + row(2)
    batch = read_raw(body, INV_KEY, INV)
    assert batch.row_numbers.tolist() == [2, 3]


def test_utf8_bom_is_stripped_from_the_header():
    # GIVEN a CSV written by Excel with a UTF-8 byte-order mark
    body = b"\xef\xbb\xbf" + csv_body(row(1))
    # WHEN reading
    batch = read_raw(body, INV_KEY, INV)
    # THEN the first column is named correctly (no BOM glued to its name)
    assert "movement_id" in batch.columns
    assert col(batch, "movement_id") == [b"M000001"]
    assert batch.ignored_columns == []


@pytest.mark.parametrize(
    ("bom", "name"),
    [
        (b"\xff\xfe", "UTF-16 LE"),
        (b"\xfe\xff", "UTF-16 BE"),
        (b"\xff\xfe\x00\x00", "UTF-32 LE"),
    ],
)
def test_utf16_and_utf32_boms_reject_the_file(bom: bytes, name: str):
    body = bom + csv_body(row(1)).decode().encode("utf-16-le")
    err = rejected("UNREADABLE_ENCODING", body)
    assert name in err.message


def test_utf16_without_bom_is_rejected_for_nul_bytes():
    body = csv_body(row(1)).decode().encode("utf-16-le")
    err = rejected("UNREADABLE_ENCODING", body)
    assert "NUL" in err.message


def test_invalid_utf8_in_header_rejects_the_file():
    rejected("UNREADABLE_ENCODING", b"movement_\xe9d,store_id\n" + row(1) + b"\n")


# --- whole-file faults ------------------------------------------------------------------------


def test_empty_object_is_rejected():
    err = rejected("EMPTY_FILE", b"")
    assert "0 bytes" in err.message


def test_whitespace_only_object_is_rejected_as_empty():
    rejected("EMPTY_FILE", b"\n \r\n\n")


def test_header_only_csv_is_rejected_as_no_data_rows():
    rejected("NO_DATA_ROWS", HEADER + b"\n")


def test_header_followed_by_blank_lines_is_no_data_rows():
    rejected("NO_DATA_ROWS", HEADER + b"\n\n\r\n\n")


def test_missing_required_columns_are_listed():
    # GIVEN a CSV without two required columns
    header = b"movement_id,store_id,product_id,event_time"
    body = header + b"\nM000001,S01,P0001,2024-01-01T10:00:00Z\n"
    # WHEN reading
    err = rejected("MISSING_REQUIRED_COLUMNS", body)
    # THEN exactly the missing ones are listed
    assert "['quantity_change', 'reason']" in err.message
    assert "inventory_movements" in err.message


def test_missing_optional_column_is_not_a_file_fault():
    # GIVEN a transactions CSV without the optional card_id and store_id columns
    header = (
        b"transaction_id,transaction_type,account_id,customer_id,merchant,merchant_category,amount,currency,"
        b"channel,location_country,location_state,home_country,home_state,account_type,event_time"
    )
    body = (
        header
        + b"\nT000001,PURCHASE,ACC001,CUS1,Shop,GROCERY,1.00,USD,ONLINE,US,CA,US,CA,credit,"
        + b"2024-01-01T10:00:00Z\n"
    )
    # WHEN reading
    batch = read_raw(body, "transactions/a.csv", TX)
    # THEN the file is read; the optional columns are simply absent
    assert batch.rows_in == 1
    assert "card_id" not in batch.columns


def test_duplicate_header_columns_reject_the_file():
    header = HEADER + b",Reason"
    err = rejected("DUPLICATE_COLUMNS", csv_body(row(1) + b",X", header=header))
    assert "['reason']" in err.message


def test_multiline_quoted_value_rejects_each_line_it_spans_and_nothing_else():
    # GIVEN a quoted value that spans two lines between two good rows
    body = csv_body(row(1), b'M000002,S01,P0001,5,"DELI', b'VERY",2024-01-01T10:00:00Z', row(4))
    # WHEN reading (one record per physical line, the rule of every read path)
    batch = read_raw(body, INV_KEY, INV)
    # THEN both lines of the broken record are rejected with their own reasons, the rest kept
    assert batch.row_numbers.tolist() == [2, 5]
    assert [(r.source_row, r.rule) for r in batch.pre_rejects] == [
        (3, "unterminated_quote"),
        (4, "malformed_quotes"),
    ]


# --- compression ------------------------------------------------------------------------------


def test_gzip_is_inflated_and_reported():
    body = gzip.compress(csv_body(row(1), row(2)))
    batch = read_raw(body, INV_KEY + ".gz", INV)
    assert batch.compression == "gzip"
    assert batch.format == "csv"
    assert col(batch, "movement_id") == [b"M000001", b"M000002"]


def test_gzip_is_detected_by_magic_bytes_whatever_the_key():
    # GIVEN gzip data under a plain .csv key
    body = gzip.compress(csv_body(row(1)))
    # WHEN reading
    batch = read_raw(body, INV_KEY, INV)
    # THEN it is inflated anyway
    assert batch.compression == "gzip"
    assert col(batch, "movement_id") == [b"M000001"]


def test_concatenated_gzip_members_are_all_read():
    body = gzip.compress(csv_body(row(1))) + gzip.compress(row(2) + b"\n")
    batch = read_raw(body, INV_KEY + ".gz", INV)
    assert col(batch, "movement_id") == [b"M000001", b"M000002"]


def test_gz_key_with_plain_bytes_is_malformed_gzip():
    err = rejected("MALFORMED_GZIP", csv_body(row(1)), key=INV_KEY + ".gz")
    assert "not gzip" in err.message


def test_truncated_gzip_is_malformed_gzip():
    # GIVEN a gzip upload cut off mid-transfer
    full = gzip.compress(csv_body(*[row(i) for i in range(200)]))
    truncated = full[: len(full) // 2]
    # WHEN reading THEN the whole file is rejected
    err = rejected("MALFORMED_GZIP", truncated, key=INV_KEY + ".gz")
    assert "truncated" in err.message


def test_corrupt_gzip_header_is_malformed_gzip():
    # GIVEN the gzip magic followed by garbage (bad compression method byte)
    body = b"\x1f\x8b\x99\x00garbage that is not deflate"
    rejected("MALFORMED_GZIP", body, key=INV_KEY + ".gz")


def test_gzip_with_corrupted_payload_is_malformed_gzip():
    good = bytearray(gzip.compress(csv_body(*[row(i) for i in range(50)])))
    good[20:40] = b"\xff" * 20
    rejected("MALFORMED_GZIP", bytes(good), key=INV_KEY + ".gz")


def test_gzip_of_nothing_is_empty_file():
    rejected("EMPTY_FILE", gzip.compress(b""), key=INV_KEY + ".gz")


# --- format detection -------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["inventory_movements/a.xlsx", "inventory_movements/a.parquet.gz"])
def test_unsupported_suffix_is_rejected(key: str):
    body = gzip.compress(csv_body(row(1))) if key.endswith(".gz") else csv_body(row(1))
    err = rejected("UNSUPPORTED_FORMAT", body, key=key)
    assert key in err.message


def test_format_not_accepted_by_the_contract_is_rejected():
    from datapipe.contracts.model import parse_contract

    csv_only = parse_contract(
        {
            "name": "csvonly",
            "version": 1,
            "raw_prefix": "csvonly/",
            "formats": ["csv"],
            "columns": [{"name": "a", "type": "string"}],
        }
    )
    err = rejected("UNSUPPORTED_FORMAT", b'{"a": "x"}\n', key="csvonly/f.jsonl", contract=csv_only)
    assert "jsonl" in err.message


@pytest.mark.parametrize("suffix", ["CSV", "csv"])
def test_suffix_is_case_insensitive(suffix: str):
    batch = read_raw(csv_body(row(1)), f"inventory_movements/a.{suffix}", INV)
    assert batch.format == "csv"


@pytest.mark.parametrize("suffix", ["jsonl", "ndjson", "json", "jsonl.gz"])
def test_json_suffixes_read_as_json_lines(suffix: str):
    body = jsonl(record(1))
    if suffix.endswith(".gz"):
        body = gzip.compress(body)
    batch = read_raw(body, f"inventory_movements/a.{suffix}", INV)
    assert batch.format == "jsonl"
    assert col(batch, "movement_id") == ["M000001"]


def test_key_without_suffix_is_sniffed():
    # a dot in a folder name is not a suffix
    assert read_raw(jsonl(record(1)), "inventory_movements/v1.2/feed", INV).format == "jsonl"
    assert read_raw(csv_body(row(1)), "inventory_movements/v1.2/feed", INV).format == "csv"


# --- ragged CSV rows --------------------------------------------------------------------------


def test_ragged_rows_become_row_rejects_with_physical_line_numbers():
    # GIVEN rows with a decimal comma (one field too many) and a truncated row
    body = csv_body(
        row(1),
        row(2, qty="1,5"),  # line 3
        row(3),
        b"M000004,S01,P0001,5,SALE",  # line 5
        row(5),
    )
    # WHEN reading
    batch = read_raw(body, INV_KEY, INV)
    # THEN the ragged rows are rejects on their physical lines, the rest are kept
    assert [(r.source_row, r.rule) for r in batch.pre_rejects] == [(3, "ragged_row"), (5, "ragged_row")]
    assert batch.pre_rejects[0].message == "row has 7 field(s), header has 6"
    assert batch.pre_rejects[1].message == "row has 5 field(s), header has 6"
    assert batch.pre_rejects[0].column is None
    assert "1,5" in batch.pre_rejects[0].value
    assert batch.row_numbers.tolist() == [2, 4, 6]
    assert col(batch, "movement_id") == [b"M000001", b"M000003", b"M000005"]
    assert batch.rows_in == 5


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"], ids=["lf", "crlf"])
def test_ragged_row_line_numbers_count_blank_lines(eol: bytes):
    # GIVEN blank lines scattered in the file (physical lines numbered 1..)
    lines = [
        HEADER,  # 1
        row(1),  # 2
        b"",  # 3
        b"",  # 4
        row(2, qty="9,5"),  # 5  ragged
        row(3),  # 6
        b"",  # 7
        b"M000004,S01",  # 8  ragged
        row(5),  # 9
    ]
    body = eol.join(lines) + eol
    # WHEN reading
    batch = read_raw(body, INV_KEY, INV)
    # THEN line numbers are the physical ones, blank lines included
    assert [r.source_row for r in batch.pre_rejects] == [5, 8]
    assert batch.row_numbers.tolist() == [2, 6, 9]
    # and CRLF leaves no carriage return in the values
    assert col(batch, "event_time") == [b"2024-01-01T10:00:00Z"] * 3


def test_crlf_file_row_numbers_and_values():
    body = csv_body(row(1), row(2), eol=b"\r\n")
    batch = read_raw(body, INV_KEY, INV)
    assert batch.row_numbers.tolist() == [2, 3]
    assert col(batch, "event_time") == [b"2024-01-01T10:00:00Z"] * 2


def test_ragged_row_in_gzip_keeps_line_number():
    body = gzip.compress(csv_body(row(1), b"", row(2, qty="1,5")))
    batch = read_raw(body, INV_KEY + ".gz", INV)
    assert [r.source_row for r in batch.pre_rejects] == [4]


def test_file_of_only_ragged_rows_still_has_rows_in():
    batch = read_raw(csv_body(b"a,b", b"c"), INV_KEY, INV)
    assert batch.num_rows == 0
    assert batch.rows_in == 2
    assert [r.source_row for r in batch.pre_rejects] == [2, 3]


# --- JSON Lines -------------------------------------------------------------------------------


def test_jsonl_happy_path_reads_text_columns():
    batch = read_raw(jsonl(record(1), record(2, reason="SALE", quantity_change=-2)), INV_JSONL_KEY, INV)
    assert batch.format == "jsonl"
    assert all(pa.types.is_string(a.type) for a in batch.columns.values())
    assert col(batch, "reason") == ["DELIVERY", "SALE"]
    assert col(batch, "quantity_change") == ["5", "-2"]
    assert batch.row_numbers.tolist() == [1, 2]


def test_jsonl_bad_lines_are_rejected_with_line_numbers():
    # GIVEN a JSON Lines file with a malformed line, a non-object line and an invalid UTF-8 line
    body = b"\n".join(
        [
            json.dumps(record(1)).encode(),  # 1
            b'{"movement_id": "M000002", "quantity_change": ',  # 2 malformed
            b"[1, 2, 3]",  # 3 not an object
            b"",  # 4 blank
            b'{"movement_id": "M\xff\xfe000004"}',  # 5 invalid UTF-8
            b'"just a string"',  # 6 not an object
            json.dumps(record(7)).encode(),  # 7
        ]
    )
    # WHEN reading
    batch = read_raw(body + b"\n", INV_JSONL_KEY, INV)
    # THEN each bad line is a reject on its line; good lines keep theirs
    got = [(r.source_row, r.rule) for r in batch.pre_rejects]
    assert got == [(2, "malformed_json"), (3, "malformed_json"), (5, "encoding"), (6, "malformed_json")]
    assert "invalid JSON" in batch.pre_rejects[0].message
    assert "JSON list" in batch.pre_rejects[1].message
    assert "UTF-8" in batch.pre_rejects[2].message
    assert "JSON str" in batch.pre_rejects[3].message
    assert batch.pre_rejects[1].record == "[1, 2, 3]"
    assert batch.row_numbers.tolist() == [1, 7]
    assert batch.rows_in == 6


def test_jsonl_crlf_line_numbers():
    body = jsonl(record(1)).replace(b"\n", b"\r\n") + b"{oops\r\n" + jsonl(record(3)).replace(b"\n", b"\r\n")
    batch = read_raw(body, INV_JSONL_KEY, INV)
    assert [r.source_row for r in batch.pre_rejects] == [2]
    assert batch.row_numbers.tolist() == [1, 3]
    assert col(batch, "movement_id") == ["M000001", "M000003"]


def test_jsonl_values_become_text_and_null_stays_null():
    # GIVEN values of every JSON type (transactions: store_id null for an online order)
    rec = {
        "transaction_id": "T000001",
        "account_id": "ACC001",
        "card_id": 12345,
        "customer_id": True,
        "store_id": None,
        "merchant": {"name": "Shop"},
        "merchant_category": ["A", "B"],
        "amount": 12.5,
        "currency": "USD",
        "channel": "ONLINE",
        "transaction_type": "PURCHASE",
        "location_country": "US",
        "location_state": "CA",
        "home_country": "US",
        "home_state": "CA",
        "account_type": "credit",
        "event_time": "2024-01-01T10:00:00Z",
    }
    # WHEN reading
    batch = read_raw(jsonl(rec), "transactions/online.jsonl", TX)
    # THEN everything is text, nested values as compact JSON, null as null
    assert col(batch, "card_id") == ["12345"]
    assert col(batch, "customer_id") == ["true"]
    assert col(batch, "store_id") == [None]
    assert col(batch, "merchant") == ['{"name":"Shop"}']
    assert col(batch, "merchant_category") == ['["A","B"]']
    assert col(batch, "amount") == ["12.5"]


def test_jsonl_missing_key_in_one_line_is_a_null_not_a_file_fault():
    rec = record(2)
    del rec["reason"]
    batch = read_raw(jsonl(record(1), rec), INV_JSONL_KEY, INV)
    assert col(batch, "reason") == ["DELIVERY", None]


def test_jsonl_extra_keys_are_reported_in_ignored_columns():
    body = jsonl(record(1, cashier="alice"), record(2, till=3))
    batch = read_raw(body, INV_JSONL_KEY, INV)
    assert batch.ignored_columns == ["cashier", "till"]
    assert "cashier" not in batch.columns


def test_jsonl_missing_required_keys_reject_the_file():
    rec = record(1)
    del rec["event_time"]
    del rec["store_id"]
    err = rejected("MISSING_REQUIRED_COLUMNS", jsonl(rec), key=INV_JSONL_KEY)
    assert "['store_id', 'event_time']" in err.message


def test_jsonl_of_only_bad_lines_yields_only_rejects():
    batch = read_raw(b"{x\n[1]\n", INV_JSONL_KEY, INV)
    assert batch.num_rows == 0
    assert batch.rows_in == 2
