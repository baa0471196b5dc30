"""Settings from the environment, and the deterministic artefact layout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from datapipe import layout
from datapipe.settings import (
    FraudRealtimeSettings,
    IngestSettings,
    InvalidSettings,
    MissingSetting,
    PublishSettings,
    Settings,
)

INGEST_ENV = {
    "STAGE": "prod",
    "CURATED_BUCKET": "cur-bucket",
    "QUARANTINE_BUCKET": "q-bucket",
    "EVENT_BUS_NAME": "bus",
    "EVENT_SOURCE": "retail.datapipe",
    "OPS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:ops",
    "DELIVERY_TABLE": "delivery",
}
FRAUD_ENV = {
    "CARD_ACTIVITY_TABLE": "activity",
    "ACCOUNT_PROFILES_TABLE": "profiles",
    "FRAUD_ALERTS_TABLE": "alerts",
    "FRAUD_PROFILES_TABLE": "fraud-profiles",
    "CURATED_BUCKET": "cur-bucket",
    "FRAUD_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:fraud",
    "QUARANTINE_BUCKET": "q-bucket",
    "CRITICAL_SEVERITY_THRESHOLD": "0.9",
    "HIGH_SEVERITY_THRESHOLD": "0.7",
    "MEDIUM_SEVERITY_THRESHOLD": "0.5",
    "FRAUD_ALERT_MIN_SEVERITY": "MEDIUM",
}


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


# ----------------------------------------------------------------------- per-function settings
def test_function_settings_read_their_variables_typed_and_ignore_the_rest():
    s = FraudRealtimeSettings.from_env({**FRAUD_ENV, "RAW_BUCKET": "not mine", "UNRELATED": "x"})
    assert s.high_severity_threshold == 0.7 and s.fraud_alert_min_severity == "MEDIUM"
    assert not hasattr(s, "raw_bucket")


def test_every_problem_is_named_at_once():
    env = {**FRAUD_ENV, "FRAUD_TOPIC_ARN": "fraud-topic", "HIGH_SEVERITY_THRESHOLD": "1.5"}
    del env["FRAUD_PROFILES_TABLE"]
    with pytest.raises(InvalidSettings) as err:
        FraudRealtimeSettings.from_env(env)
    assert sorted(err.value.variables) == [
        "FRAUD_PROFILES_TABLE",
        "FRAUD_TOPIC_ARN",
        "HIGH_SEVERITY_THRESHOLD",
    ]
    text = str(err.value)
    assert text.startswith("FraudRealtimeSettings: ")
    assert "environment variable FRAUD_PROFILES_TABLE is not set" in text
    assert (
        "environment variable FRAUD_TOPIC_ARN is malformed (expected an SNS topic ARN), got 'fraud-topic'"
        in text
    )
    assert "environment variable HIGH_SEVERITY_THRESHOLD must be between 0 and 1, got '1.5'" in text


def test_severity_thresholds_must_ascend():
    with pytest.raises(InvalidSettings) as err:
        FraudRealtimeSettings.from_env({**FRAUD_ENV, "MEDIUM_SEVERITY_THRESHOLD": "0.8"})
    assert err.value.variables == ["MEDIUM_SEVERITY_THRESHOLD"]
    assert "(0.8) must be below HIGH_SEVERITY_THRESHOLD (0.7)" in str(err.value)


@pytest.mark.parametrize(
    ("variable", "value", "why"),
    [
        ("FRAUD_ALERT_MIN_SEVERITY", "SEVERE", "must be one of 'LOW', 'MEDIUM', 'HIGH' or 'CRITICAL'"),
        ("MEDIUM_SEVERITY_THRESHOLD", "half", "must be a number"),
        ("MEDIUM_SEVERITY_THRESHOLD", "nan", "is invalid"),
        ("QUARANTINE_BUCKET", "Quarantine_Bucket", "expected an S3 bucket name"),
        ("FRAUD_ALERTS_TABLE", "a b", "expected a DynamoDB table name"),
    ],
)
def test_malformed_values_say_what_was_expected(variable: str, value: str, why: str):
    with pytest.raises(InvalidSettings, match=variable) as err:
        FraudRealtimeSettings.from_env({**FRAUD_ENV, variable: value})
    assert why in str(err.value)


def test_an_event_source_may_not_pose_as_aws():
    with pytest.raises(InvalidSettings, match="EVENT_SOURCE is malformed"):
        IngestSettings.from_env({**INGEST_ENV, "EVENT_SOURCE": "aws.s3"})


def test_empty_or_blank_variables_are_unset():
    with pytest.raises(InvalidSettings, match="GLUE_DATABASE is not set"):
        PublishSettings.from_env({"CURATED_BUCKET": "cur-bucket", "GLUE_DATABASE": "   "})


def test_invalid_settings_is_a_missing_setting():
    assert issubclass(InvalidSettings, MissingSetting)


def test_ingest_settings_give_the_service_its_view():
    service = IngestSettings.from_env(INGEST_ENV).service_settings()
    assert service.require("curated_bucket") == "cur-bucket"
    assert service.require("quarantine_bucket") == "q-bucket" and service.stage == "prod"
