"""functions/publish/app.py imported directly: the staged sample appended to its Glue table."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from tests.handlers.direct import DirectHandler, direct_handler, raw_sample, sample


@pytest.fixture(scope="module")
def publish(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "PublishFunction") as handler:
        yield handler


def test_sample_is_published_once_whatever_the_replays(publish: DirectHandler) -> None:
    event = sample(publish.stack, "publish.json")
    first = publish(event)
    again = publish(event)
    rows = raw_sample("publish.json")["staged"]["counts"]["rows_valid"]
    assert first["rows_published"] == again["rows_published"] == rows
    day = raw_sample("publish.json")["staged"]["source"]["key"].split("/")[1]
    assert first["table"] == "transactions" and first["partitions"] == [f"event_date={day}"]
    glue = publish.stack.client("glue")
    table = glue.get_table(DatabaseName=publish.stack.outputs["GlueDatabaseName"], Name="transactions")
    assert table["Table"]["StorageDescriptor"]["Location"].endswith("/curated/transactions/")
    (line,) = publish.logged("published")
    assert line["rows_published"] == rows


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
