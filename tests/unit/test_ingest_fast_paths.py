"""Each numpy fast path of ingest gives exactly what the Arrow / RE2 path it stands in for gives
(hypothesis), so that a faster ingest can never change a result."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from datapipe.ingest.unique import fingerprints
from datapipe.ingest.validation import (
    _ascii_as_string,
    _decimals_used,
    _duplicates,
    _hashed_duplicates,
    _mask,
    _may_need_trim,
    _parse_time,
    _parse_utc_seconds,
    _pattern_misses,
    _utc_offset_minutes,
)

# characters near every edge the fast paths reason about: class members and near misses,
# whitespace (ASCII and not), multi-byte characters, digits, separators, signs
CHARS = st.sampled_from(
    [*"AZaz09_-", " ", "\t", "\n", "\x00", "~", ".", ":", "+", "T", "Z", "é", "\u00a0", "\u3000", "İ"]
)
TEXT = st.text(CHARS, max_size=24)
VALUES = st.lists(st.one_of(st.none(), TEXT), max_size=60)
# runs of one pattern's class members (lengths at and past its bounds), strays among them
CLASSY = st.sampled_from(["AZ09", "az", "AZ_", "_-", "AZaz09_-"]).flatmap(
    lambda members: st.text(st.sampled_from(list(members)), max_size=8)
)
CLASSY_VALUES = st.lists(st.one_of(st.none(), CLASSY, CLASSY, TEXT), min_size=1, max_size=80)


def _strings(values: Sequence[str | None], cut: int) -> pa.Array:
    """The values as a string array, sliced (a non-zero offset is a layout the paths must read)."""
    arr = pa.array(["pad", *values], type=pa.string())
    return arr[1:] if cut % 2 else pa.array(values, type=pa.string())


PATTERNS = ["^[A-Za-z0-9_-]{6,64}$", "^[A-Z_]{2,6}$", "^[A-Z0-9]{1,3}$", "^[a-z]{0,5}$", "^[-_]{1,2}$"]


@settings(max_examples=150, deadline=None)
@given(
    CLASSY_VALUES,
    st.sampled_from(
        ["^[A-Za-z0-9_-]{6,64}$", "^[A-Z_]{2,6}$", "^[A-Z0-9]{1,3}$", "^[a-z]{0,5}$", "^[-_]{1,2}$"]
    ),
    st.integers(0, 1),
)
def test_simple_class_patterns_match_as_re2_does(values: list[str | None], pattern: str, cut: int) -> None:
    text = _strings(values, cut)
    want = _mask(pc.and_(pc.is_valid(text), pc.invert(pc.match_substring_regex(text, pattern))))
    assert _pattern_misses(text, pattern).tolist() == want.tolist()


FIELDS = ((1, 12, [0, 13]), (1, 28, [0, 29, 30, 31, 32]), (0, 23, [24]), (0, 59, [60]), (0, 59, [60, 61]))


YEARS = ["1899", "1900", "1970", "2000", "2024", "2100", "2199", "2200", "0000", "2O26"]


def _stamp(draw: st.DrawFn) -> str:
    year = draw(
        st.sampled_from(["1899", "1900", "1970", "2000", "2024", "2100", "2199", "2200", "0000", "2O26"])
    )
    # each field in range or just past it (month 13, day 0 or 32, hour 24, minute or second 60)
    parts = [
        f"{draw(st.one_of(st.integers(lo, hi), st.sampled_from(edges))):02d}" for lo, hi, edges in FIELDS
    ]
    text = f"{year}-{parts[0]}-{parts[1]}T{parts[2]}:{parts[3]}:{parts[4]}"
    return text + draw(st.sampled_from(["Z", "Z", "Z", "+05:30", "-08:00", ".5Z", "z", " Z", "", "Zé"]))


STAMP = st.composite(_stamp)()
STAMPS = st.lists(st.one_of(st.none(), STAMP, STAMP, STAMP, TEXT), min_size=1, max_size=80)


@settings(max_examples=150, deadline=None)
@given(STAMPS, st.integers(0, 1))
def test_zulu_timestamps_parse_as_the_regex_and_strptime_path_does(
    values: list[str | None], cut: int
) -> None:
    text = _strings(values, cut)
    fast, fast_ok = _parse_utc_seconds(text)
    slow, slow_ok = _parse_time(True, text)
    assert fast_ok.tolist() == slow_ok.tolist()
    assert fast.equals(slow)


@settings(max_examples=150, deadline=None)
@given(STAMPS, st.integers(0, 1))
def test_utc_offset_is_what_the_regex_extracts(values: list[str | None], cut: int) -> None:
    text = _strings(values, cut)
    zone = pc.extract_regex(text, r"(?P<sign>[+-])(?P<hh>\d\d):(?P<mm>\d\d)$")
    minutes = pc.add(
        pc.multiply(pc.cast(pc.struct_field(zone, "hh"), pa.int64()), 60),
        pc.cast(pc.struct_field(zone, "mm"), pa.int64()),
    )
    signed = pc.if_else(pc.equal(pc.struct_field(zone, "sign"), "-"), pc.negate(minutes), minutes)
    want = pc.if_else(pc.is_valid(zone), signed, pa.scalar(None, pa.int64()))
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset : text.offset + len(text) + 1]
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8) if text.buffers()[2] else np.empty(0, np.uint8)
    assert _utc_offset_minutes(text, offsets, data).equals(want)


DECIMALS = st.builds(
    lambda sign, whole, frac: f"{sign}{whole}{'.' + frac if frac is not None else ''}",
    st.sampled_from(["", "+", "-"]),
    st.from_regex(r"\A[0-9]{1,8}\Z"),
    st.one_of(st.none(), st.from_regex(r"\A[0-9]{1,4}\Z")),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(DECIMALS, min_size=1, max_size=60), st.integers(0, 1))
def test_decimals_used_are_the_texts_fraction_without_trailing_zeros(values: list[str], cut: int) -> None:
    text = _strings(values, cut)
    typed = pc.cast(text, pa.decimal128(12, 4))
    want = pc.fill_null(
        pc.utf8_length(pc.struct_field(pc.extract_regex(text, r"\.(?P<frac>\d*?)0*$"), "frac")), 0
    )
    got = _decimals_used(typed)
    assert got is not None
    assert got.to_pylist() == want.to_pylist()


@settings(max_examples=150, deadline=None)
@given(VALUES, st.integers(0, 1))
def test_trim_is_skipped_only_when_it_changes_nothing(values: list[str | None], cut: int) -> None:
    text = _strings(values, cut)
    if not _may_need_trim(text):
        assert pc.utf8_trim_whitespace(text).equals(text)


@settings(max_examples=100, deadline=None)
@given(VALUES, st.integers(0, 1))
def test_ascii_binary_becomes_the_same_strings_as_the_cast(values: list[str | None], cut: int) -> None:
    binary = _strings(values, cut).cast(pa.binary())
    viewed = _ascii_as_string(binary)
    if all(v is None or v.isascii() for v in values):
        assert viewed is not None and viewed.equals(binary.cast(pa.string()))
    else:
        assert viewed is None


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(CHARS, max_size=80), min_size=1, max_size=80, unique=True), st.integers(0, 1))
def test_fingerprints_depend_on_the_value_alone(values: list[str], cut: int) -> None:
    """Batches differ in lengths and layout; a key must fingerprint the same in any of them."""
    together = fingerprints(_strings(values, cut))
    alone = [int(fingerprints(pa.array([v], type=pa.string()))[0]) for v in values]
    assert together.tolist() == alone
    assert len(set(alone)) == len(values)  # 64 bits: a collision among 80 keys would be news
    assert fingerprints(pa.array(values, type=pa.binary())).tolist() == alone


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.sampled_from(["A1", "B2", "C3", "é4", ""]), TEXT), max_size=60),
    st.data(),
)
def test_duplicates_from_fingerprints_are_exact_even_when_fingerprints_collide(
    values: list[str | None], data: st.DataObject
) -> None:
    """Fingerprints drawn from a handful of numbers collide all the time: the rows they group
    must still be told apart by value, as the dictionary codes tell them."""
    text = pa.array(values, type=pa.string())
    candidates = np.array(
        data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values))), dtype=bool
    )
    buckets = {v: data.draw(st.integers(0, 3)) for v in values}  # a function of the value alone
    hashed = np.array([buckets[v] for v in values], dtype=np.uint64)
    want = _duplicates(pc.dictionary_encode(text).indices, candidates)
    for fingerprinted in (hashed, fingerprints(text)):
        dup, first_of = _hashed_duplicates(text, fingerprinted, candidates)
        assert dup.tolist() == want[0].tolist()
        assert first_of.tolist() == want[1].tolist()
