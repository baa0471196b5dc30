"""Schema, content and business checks from what ingest counted (``StagedProfile``, the manifest's
``quality_inputs``) give exactly what the table-based checks give, so the gate need not fetch the
staged Parquet for them; a manifest without the counts (an older run) falls back to the table."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from datapipe import layout
from datapipe.contracts import default_registry
from datapipe.events import DatasetStagedDetail
from datapipe.ingest.service import IngestDeps, ObjectRef, ingest_object
from datapipe.quality import checks
from datapipe.quality.checks import StagedProfile, staged_counts
from datapipe.quality.service import StagedDataset, run_suite
from datapipe.settings import Settings
from tests.unit.gate_support import manifest, staged

TX = default_registry().get("transactions")
INV = default_registry().get("inventory_movements")
ARRIVAL = datetime(2026, 3, 3, 2, tzinfo=UTC)
RAW, CURATED, QUARANTINE = "raw-bkt", "curated-bkt", "quarantine-bkt"


def dicts(results: list[checks.CheckResult] | None) -> list[dict[str, Any]]:
    assert results is not None
    return [r.to_dict() for r in results]


def assert_same(contract: Any, table: pa.Table, man: dict[str, Any], profile: StagedProfile) -> None:
    profile = StagedProfile.from_dict(json.loads(json.dumps(profile.to_dict())))  # as the manifest has it
    assert dicts([checks.schema_check_from_profile(contract, profile)]) == dicts(
        [checks.schema_check(contract, table.schema, table)]
    )
    counted = checks.content_checks_from_profile(contract, profile, man)
    if counted is None:  # a required column is missing: the table-based check fails on it
        assert set(contract.required_columns) - set(table.column_names)
        with pytest.raises(KeyError):
            checks.content_checks(contract, table, man)
    else:
        assert dicts(counted) == dicts(checks.content_checks(contract, table, man))
    assert dicts(checks.business_checks_from_profile(contract, profile, ARRIVAL)) == dicts(
        checks.business_checks(contract, table, ARRIVAL)
    )


@st.composite
def tables(draw: st.DrawFn) -> tuple[Any, pa.Table, int]:
    """A staged table of either contract with nulls in required columns, old and new event times,
    differing states, and a split point (ingest counts batch by batch)."""
    contract = draw(st.sampled_from([TX, INV]))
    n = draw(st.integers(1, 40))
    hours = st.integers(-200, 10)
    times = [ARRIVAL + timedelta(hours=h) for h in draw(st.lists(hours, min_size=n, max_size=n))]
    cols: dict[str, Any] = {"event_time": times}
    required = [c for c in contract.required_columns if c not in contract.unique_columns]
    for col in draw(st.lists(st.sampled_from(required), max_size=3, unique=True)):
        base = staged(contract, n).column(col).to_pylist()
        holes = draw(st.lists(st.booleans(), min_size=n, max_size=n))
        cols[col] = [None if h else v for v, h in zip(base, holes, strict=True)]
    if contract is TX:
        states = st.sampled_from(["CA", "NV", None])
        cols["location_state"] = draw(st.lists(states, min_size=n, max_size=n))
        cols["home_state"] = draw(st.lists(states, min_size=n, max_size=n))
    return contract, staged(contract, n, **cols), draw(st.integers(0, n))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.integers(0, 5))
def test_counted_batch_by_batch_the_checks_equal_the_table_based_ones(
    drawn: tuple[Any, pa.Table, int], rejected: int
) -> None:
    contract, table, cut = drawn
    head, tail = table.slice(0, cut), table.slice(cut)
    parts = [staged_counts(contract, t, ARRIVAL) for t in (head, tail) if t.num_rows]
    profile = parts[0] if len(parts) == 1 else parts[0].merge(parts[1])
    assert profile.to_dict() == staged_counts(contract, table, ARRIVAL).to_dict()
    man = manifest(table.num_rows + rejected, table.num_rows, {"amount:max": rejected} if rejected else {})
    assert_same(contract, table, man, profile)


@pytest.mark.parametrize(
    "change",
    ["missing", "extra", "retyped", "required_nulls", "unique_nulls"],
)
def test_schema_problems_read_the_same_from_the_profile(change: str) -> None:
    table = staged(TX, 10)
    if change == "missing":
        table = table.drop_columns(["merchant"])
    elif change == "extra":
        table = table.append_column("loyalty_no", pa.array(["x"] * 10))
    elif change == "retyped":
        i = table.schema.get_field_index("amount")
        table = table.set_column(i, "amount", pa.array([1.5] * 10, type=pa.float64()))
    elif change == "required_nulls":
        table = staged(TX, 10, card_id=[None] * 3 + ["CARD1"] * 7)
    else:
        table = staged(TX, 10, transaction_id=[None, None] + [f"T{i:07d}" for i in range(8)])
    assert_same(TX, table, manifest(10, 10), staged_counts(TX, table, ARRIVAL))


def test_the_profiled_schema_is_the_schema_read_back_from_parquet() -> None:
    for contract in (TX, INV):
        table = staged(contract, 5)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="snappy")
        back = pq.read_table(io.BytesIO(sink.getvalue()))
        assert staged_counts(contract, table, ARRIVAL).schema == [(f.name, str(f.type)) for f in back.schema]


def test_counts_for_another_window_arrival_or_rule_are_not_used() -> None:
    table = staged(TX, 10)
    profile = staged_counts(TX, table, ARRIVAL)
    assert checks.business_checks_from_profile(TX, profile, ARRIVAL + timedelta(seconds=1)) is None
    wider = replace(TX, quality=replace(TX.quality, freshness_hours=TX.quality.freshness_hours + 1))
    assert checks.business_checks_from_profile(wider, profile, ARRIVAL) is None
    rule = next(r for r in TX.business_rules if r.kind == "columns_differ_rate")
    moved = replace(rule, other_column="location_country")
    repointed = replace(TX, business_rules=[moved if r is rule else r for r in TX.business_rules])
    assert checks.business_checks_from_profile(repointed, profile, ARRIVAL) is None
    typed = replace(profile, duplicates={})  # a unique column ingest could not count
    assert checks.content_checks_from_profile(TX, typed, manifest(10, 10)) is None


# --- through ingest and the validators' service ------------------------------------------------

HEADER = (
    "transaction_id,transaction_type,original_transaction_id,account_id,card_id,customer_id,store_id,"
    "merchant,merchant_category,amount,currency,channel,location_country,location_state,home_country,"
    "home_state,account_type,event_time"
)


def tx_row(i: int, state: str, day: str) -> str:
    return (
        f"T{i:07d},PURCHASE,,ACC001,CARD1,CUS1,S001,FreshMart,GROCERY,10.00,USD,POS,US,{state},US,CA,"
        f"checking,{day}T10:00:00Z"
    )


class CountingStore:
    """The memory store, counting reads of the staged parts."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.staged_gets = inner, 0

    def get(self, bucket: str, key: str, version_id: str | None = None) -> Any:
        if key.startswith("staging/"):
            self.staged_gets += 1
        return self.inner.get(bucket, key, version_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_ingest_writes_the_counts_and_the_suites_use_them_without_reading_the_staged_data(
    store: Any, bus: Any, notifier: Any
) -> None:
    key = "transactions/2026-03-02/pos-S001.csv"
    rows = [
        tx_row(i, "NV" if i % 4 == 0 else "CA", "2026-03-02" if i % 5 else "2026-02-20") for i in range(60)
    ]
    rows.append(
        "T0000001,PURCHASE,,ACC001,CARD1,CUS1,S001,FreshMart,GROCERY,10.00,USD,POS,US,CA,US,CA,checking,x"
    )
    rows.append(tx_row(7, "CA", "2026-03-02"))  # a repeated id: rejected, so no staged duplicate
    rows.append(tx_row(999, "CA", "2026-03-02").replace("T0000999", "", 1))  # no id: rejected
    store.add(RAW, key, ("\n".join([HEADER, *rows]) + "\n").encode(), version_id="v1", last_modified=ARRIVAL)
    settings_ = Settings(stage="test", raw_bucket=RAW, curated_bucket=CURATED, quarantine_bucket=QUARANTINE)
    deps = IngestDeps(
        store=store, bus=bus, notifier=notifier, settings=settings_, registry=default_registry()
    )
    ingest_object(ObjectRef(bucket=RAW, key=key, version_id="v1"), deps, now=ARRIVAL + timedelta(minutes=1))
    detail = DatasetStagedDetail.model_validate(bus.events[-1][1])
    man = json.loads(store.body(CURATED, layout.manifest_key("transactions", detail.run_id)))
    table = pq.read_table(io.BytesIO(store.body(CURATED, detail.staged.key)))
    assert man["quality_inputs"] == staged_counts(TX, table, ARRIVAL).to_dict()
    assert man["quality_inputs"]["fresh_rows"] == 48 and man["quality_inputs"]["rows"] == 60

    counting = CountingStore(store)
    from_profile = [
        r.to_dict()
        for suite in ("schema", "content", "business")
        for r in run_suite(suite, StagedDataset(detail, counting, default_registry()))
    ]
    assert counting.staged_gets == 0
    # an older manifest (no counts): the same checks, read from the table
    del man["quality_inputs"]
    store.put(CURATED, detail.manifest.key, json.dumps(man).encode(), "application/json")
    from_table = [
        r.to_dict()
        for suite in ("schema", "content", "business")
        for r in run_suite(suite, StagedDataset(detail, counting, default_registry()))
    ]
    assert counting.staged_gets == 3
    assert from_profile == from_table
