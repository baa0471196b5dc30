"""`make invoke TEMPLATE=… FN=… EVENT=…`: the offline `sam local invoke` for any template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline_runtime.cli import invoke
from tests.emulator.conftest import ORDERS, TEMPLATE

EVENTS = ORDERS / "events"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, object] | None, str]:
    code = invoke.main(["--template", str(TEMPLATE), *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip() else None), err


def test_a_function_of_another_app(capsys: pytest.CaptureFixture[str]) -> None:
    code, result, err = _run(capsys, "PriceFunction", "-e", str(EVENTS / "price.json"))
    assert code == 0 and result == {"order_id": "o-1", "total": 28.0}
    assert "START RequestId" in err and "REPORT RequestId" in err


def test_the_state_machine_of_another_app_with_its_choice_and_dynamodb_tasks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, result, _ = _run(capsys, "OrderFlow", "-e", str(EVENTS / "order_flow.json"))
    assert code == 0 and result is not None and result["status"] == "SUCCEEDED"
    assert result["states"][:3] == ["Price", "IsLarge", "RecordForReview"]
    assert {"ReadBack", "MarkProcessed", "Notify", "Emit", "Report", "Reprice"} <= set(result["states"])


def test_a_fault_given_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, result, _ = _run(
        capsys,
        "OrderFlow",
        "-e",
        str(EVENTS / "order_flow.json"),
        "--fault",
        "dynamodb:PutItem:InternalServerError:always",
    )
    assert code == 1 and result is not None and result["error"] == "OrderNotRecorded"


def test_a_handler_error_is_printed_once_and_the_event_reaches_it_unchanged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    malformed = tmp_path / "malformed.json"
    malformed.write_text(json.dumps({"items": []}))  # no order_id
    code, result, err = _run(capsys, "PriceFunction", "-e", str(malformed))
    assert code == 1 and result is not None
    assert result["errorType"] == "KeyError" and "stackTrace" not in result  # the logs hold it, once
    assert err.count("Traceback (most recent call last)") == 1


def test_unknown_resource_and_unreadable_event(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = _run(capsys, "NoSuchThing", "-e", str(EVENTS / "price.json"))
    assert code == 2 and "invocable: " in err and "PriceFunction" in err and "OrderFlow" in err
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, _, err = _run(capsys, "PriceFunction", "-e", str(broken))
    assert code == 2 and "cannot read the event file" in err


def test_only_the_function_and_what_it_references_is_deployed(capsys: pytest.CaptureFixture[str]) -> None:
    from offline_runtime.emulator.stack import offline_aws

    with offline_aws(TEMPLATE, only=["PriceFunction"]) as stack:
        deployed = set(stack.physical)
    # the function, its role, its layer and the table its environment names (Globals) — no queue,
    # topic, bus, state machine or other function
    (layer,) = deployed - {"PriceFunction", "PriceFunctionRole", "OrdersTable"}
    assert len(deployed) == 4 and layer.startswith("OrdersLayer")  # SAM suffixes a layer's id with a hash
    code = invoke.main(["--template", str(TEMPLATE), "PriceFunction", "-e", str(EVENTS / "price.json")])
    assert code == 0 and f"[offline] deployed {len(deployed)} resources" in capsys.readouterr().err
