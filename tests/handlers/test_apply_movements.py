"""functions/apply_movements/app.py imported directly, on its DatasetPublished sample."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from tests.handlers.direct import DirectHandler, direct_handler, raw_sample, sample


@pytest.fixture(scope="module")
def apply(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "ApplyMovementsFunction") as handler:
        yield handler


def test_movements_for_unknown_items_are_reported(apply: DirectHandler) -> None:
    # no stock master data in this account: every movement is for an unknown item
    r = apply(sample(apply.stack, "apply_movements_dataset_published.json"))
    rows = raw_sample("apply_movements_dataset_published.json")["detail"]["rows_published"]
    assert (r["movements"], r["applied"], r["duplicates"], r["unknown"]) == (rows, 0, 0, rows)
    report = r["unknown_report"]
    body = apply.stack.client("s3").get_object(Bucket=report["bucket"], Key=report["key"])["Body"].read()
    assert sum(line.count('"movement_ids"') for line in body.decode().splitlines()) == r["unknown_items"]
    (line,) = apply.logged("movements for unknown store/product")
    assert line["unknown"] == rows


def test_a_published_transactions_dataset_is_not_for_this_function(apply: DirectHandler) -> None:
    event = copy.deepcopy(sample(apply.stack, "apply_movements_dataset_published.json", prepare=False))
    event["detail"]["dataset"] = "transactions"
    with pytest.raises(InvalidEvent) as err:
        apply(event)
    assert err.value.field == "detail.dataset" and "'inventory_movements'" in str(err.value)


def test_an_event_of_another_detail_type_names_it(apply: DirectHandler) -> None:
    event = copy.deepcopy(sample(apply.stack, "apply_movements_dataset_published.json", prepare=False))
    event["detail-type"] = "DatasetQuarantined"
    with pytest.raises(InvalidEvent) as err:
        apply(event)
    assert err.value.field == "detail-type"


def test_a_detail_missing_its_staged_location_names_it(apply: DirectHandler) -> None:
    event = copy.deepcopy(sample(apply.stack, "apply_movements_dataset_published.json", prepare=False))
    del event["detail"]["staged"]
    with pytest.raises(InvalidEvent) as err:
        apply(event)
    assert err.value.field == "detail.staged"
