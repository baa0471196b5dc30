"""functions/fraud_scoring/app.py imported directly: a published dataset scored, alerts published."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from datapipe.envelopes import InvalidEvent
from offline_runtime.emulator.session import drain, observe_topic
from tests.handlers.direct import DirectHandler, direct_handler, raw_sample, sample

RAW_IDS = ("account_id", "card_id", "customer_id")


@pytest.fixture(scope="module")
def scoring(handlers_stack: Any) -> Iterator[DirectHandler]:
    with direct_handler(handlers_stack, "FraudScoringFunction") as handler:
        yield handler


def staged_ids(scoring: DirectHandler, event: dict[str, Any]) -> set[str]:
    import io

    import pyarrow.parquet as pq

    staged = event["detail"]["staged"]
    body = scoring.stack.client("s3").get_object(Bucket=staged["bucket"], Key=staged["key"])["Body"].read()
    rows = pq.read_table(io.BytesIO(body)).to_pylist()
    return {str(r[c]) for r in rows for c in RAW_IDS if r.get(c)}


def test_alerts_are_stored_in_full_and_published_masked(scoring: DirectHandler) -> None:
    # GIVEN the sample dataset, and nothing alerted for it yet
    event = sample(scoring.stack, "fraud_scoring_dataset_published.json")
    alerts_table = scoring.stack.physical["FraudAlertsTable"]
    dynamodb = scoring.stack.client("dynamodb")
    for item in dynamodb.scan(TableName=alerts_table)["Items"]:
        dynamodb.delete_item(TableName=alerts_table, Key={"transaction_id": item["transaction_id"]})
    topic = observe_topic(scoring.stack, scoring.stack.outputs["FraudAlertsTopicArn"], "direct-fraud-scoring")
    # WHEN it is scored
    r = scoring(event)
    scoring.stack.wait_idle(60)
    # THEN every alert is published once, with masked ids only...
    rows = raw_sample("fraud_scoring_dataset_published.json")["detail"]["rows_published"]
    assert r["transactions_scored"] == rows and r["published"] == r["alerts"] > 0
    messages = [json.loads(m["Message"]) for m in drain(scoring.stack, topic)]
    assert len(messages) == r["alerts"]
    raw = staged_ids(scoring, event)
    text = json.dumps(messages) + scoring.log_text
    assert raw and not [i for i in raw if i in text]
    assert all(m["account_id_masked"].endswith(m["account_id_masked"][-4:]) for m in messages)
    assert not [k for m in messages for k in RAW_IDS if k in m]
    # ...while the stored alert record keeps the raw ids for the case
    stored = dynamodb.get_item(
        TableName=alerts_table, Key={"transaction_id": {"S": messages[0]["transaction_id"]}}
    )
    assert stored["Item"]["account_id"]["S"] in raw
    assert stored["Item"]["account_id"]["S"].endswith(messages[0]["account_id_masked"][-4:])
    # AND a second delivery claims nothing again
    assert scoring(event)["already_alerted"] == r["alerts"]


def test_a_published_movements_dataset_is_not_scored(scoring: DirectHandler) -> None:
    event = copy.deepcopy(sample(scoring.stack, "fraud_scoring_dataset_published.json", prepare=False))
    event["detail"]["dataset"] = "inventory_movements"
    with pytest.raises(InvalidEvent) as err:
        scoring(event)
    assert err.value.field == "detail.dataset"


def test_rows_published_that_do_not_add_up_name_the_field(scoring: DirectHandler) -> None:
    event = copy.deepcopy(sample(scoring.stack, "fraud_scoring_dataset_published.json", prepare=False))
    event["detail"]["counts"] = {"rows_in": "forty"}
    with pytest.raises(InvalidEvent) as err:
        scoring(event)
    assert set(err.value.problems_dict()) >= {"detail.counts.rows_in", "detail.counts.rows_valid"}
