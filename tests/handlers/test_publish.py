"""functions/publish/app.py imported directly: the staged sample appended to its Glue table."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from tests.handlers.direct import DirectHandler, direct_handler, sample


@pytest.fixture(scope="module")
def publish(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "PublishFunction") as handler:
        yield handler


def test_sample_is_published_once_whatever_the_replays(publish: DirectHandler) -> None:
    event = sample(publish.stack, "publish.json")
    first = publish(event)
    again = publish(event)
    assert first["rows_published"] == again["rows_published"] == 37
    assert first["table"] == "transactions" and first["partitions"] == ["event_date=2026-11-21"]
    glue = publish.stack.client("glue")
    table = glue.get_table(DatabaseName=publish.stack.outputs["GlueDatabaseName"], Name="transactions")
    assert table["Table"]["StorageDescriptor"]["Location"].endswith("/curated/transactions/")
    (line,) = publish.logged("published")
    assert line["rows_published"] == 37


def test_input_without_a_staged_dataset_names_the_field(publish: DirectHandler) -> None:
    with pytest.raises(InvalidEvent) as err:
        publish({"quality_score": 0.99})
    assert err.value.field == "staged"


def test_a_dataset_without_a_contract_is_refused_by_name(publish: DirectHandler) -> None:
    event = copy.deepcopy(sample(publish.stack, "publish.json", prepare=False))
    event["staged"]["dataset"] = "payroll"
    with pytest.raises(InvalidEvent, match="unknown dataset 'payroll'") as err:
        publish(event)
    assert err.value.field == "staged.dataset"
