"""Settings from the environment, and the deterministic artefact layout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from datapipe import layout
from datapipe.settings import MissingSetting, Settings


def test_from_env_reads_the_template_variables():
    env = {
        "STAGE": "prod",
        "RAW_BUCKET": "raw",
        "CURATED_BUCKET": "cur",
        "QUARANTINE_BUCKET": "q",
        "EVENT_BUS_NAME": "bus",
        "OPS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:ops",
        "GLUE_DATABASE": "db",
        "ATHENA_WORKGROUP": "wg",
        "UNRELATED": "ignored",
    }
    s = Settings.from_env(env)
    assert s.stage == "prod"
    assert s.raw_bucket == "raw"
    assert s.curated_bucket == "cur"
    assert s.quarantine_bucket == "q"
    assert s.event_bus_name == "bus"
    assert s.ops_topic_arn.endswith(":ops")
    assert s.glue_database == "db"
    assert s.athena_workgroup == "wg"
    assert s.event_source == "retail.datapipe"  # default kept


def test_from_env_defaults_when_unset():
    s = Settings.from_env({})
    assert s == Settings()
    assert s.stage == "dev"
    assert s.curated_bucket == ""


def test_from_env_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CURATED_BUCKET", "from-os")
    monkeypatch.delenv("STAGE", raising=False)
    assert Settings.from_env().curated_bucket == "from-os"


def test_require_returns_a_set_value():
    assert Settings(curated_bucket="cur").require("curated_bucket") == "cur"


@pytest.mark.parametrize(
    ("name", "env"), [("curated_bucket", "CURATED_BUCKET"), ("glue_database", "GLUE_DATABASE")]
)
def test_require_names_the_environment_variable(name: str, env: str):
    with pytest.raises(MissingSetting) as err:
        Settings().require(name)
    assert str(err.value) == f"environment variable {env} is not set"


def test_require_treats_an_empty_variable_as_missing():
    with pytest.raises(MissingSetting, match="QUARANTINE_BUCKET"):
        Settings.from_env({"QUARANTINE_BUCKET": ""}).require("quarantine_bucket")


def test_run_id_is_deterministic():
    a = layout.run_id("transactions", "transactions/2024/pos.csv", "etag-1")
    b = layout.run_id("transactions", "transactions/2024/pos.csv", "etag-1")
    assert a == b
    assert a.startswith("transactions-")
    assert len(a) == len("transactions-") + 16


@pytest.mark.parametrize(
    ("key", "tag"),
    [
        ("transactions/2024/pos.csv", "etag-2"),  # another version of the object
        ("transactions/2024/pos2.csv", "etag-1"),  # another object
    ],
)
def test_run_id_differs_per_version_and_key(key: str, tag: str):
    base = layout.run_id("transactions", "transactions/2024/pos.csv", "etag-1")
    assert layout.run_id("transactions", key, tag) != base


def test_run_id_is_prefixed_by_the_dataset():
    assert layout.run_id("inventory_movements", "k", "t").startswith("inventory_movements-")


def test_layout_keys():
    day = datetime(2024, 3, 5, 23, 59, tzinfo=UTC)
    run = "transactions-0123456789abcdef"
    assert layout.staged_key("transactions", run) == f"staging/transactions/{run}.parquet"
    assert layout.manifest_key("transactions", run) == f"manifests/transactions/{run}.json"
    assert (
        layout.rejected_rows_key("transactions", day, run)
        == f"rows/transactions/ingest_date=2024-03-05/{run}.jsonl"
    )
    assert (
        layout.quarantined_file_prefix("transactions", day, run)
        == f"files/transactions/ingest_date=2024-03-05/{run}/"
    )
    assert layout.published_record_key("transactions", run).startswith(
        layout.published_record_prefix("transactions")
    )
    assert layout.publish_file_prefix(run) == f"{run}_"
