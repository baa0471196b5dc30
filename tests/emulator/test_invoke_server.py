"""The warm server behind `make invoke`: same answers as in-process, restarted when sources change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from offline_runtime.cli import server
from tests.emulator.conftest import ORDERS

ARGV = ["PriceFunction", "-e", "events/price.json", "--template", "template.yaml"]


@pytest.fixture
def in_orders_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(ORDERS)
    server.stop(ORDERS)
    yield ORDERS
    server.stop(ORDERS)
    assert not server.socket_path(ORDERS).exists()


def test_the_server_answers_like_the_in_process_command(in_orders_app: Path) -> None:
    first = server.call(in_orders_app, ARGV)
    second = server.call(in_orders_app, ARGV)
    assert first["code"] == second["code"] == 0
    assert json.loads(first["stdout"]) == json.loads(second["stdout"]) == {"order_id": "o-1", "total": 28.0}
    assert "START RequestId" in second["stderr"]
    assert server.socket_path(in_orders_app).exists()  # still up between calls


def test_a_changed_source_file_makes_the_server_restart_with_the_new_code(in_orders_app: Path) -> None:
    assert server.call(in_orders_app, ARGV)["code"] == 0
    handler = in_orders_app / "src" / "price" / "app.py"
    original = handler.read_text()
    try:
        changed = original.replace("priced = float(total(event))", "priced = float(total(event)) * 2")
        assert changed != original
        handler.write_text(changed)
        reply = server.call(in_orders_app, ARGV)  # the old server says stale; a new one runs the new code
        assert json.loads(reply["stdout"]) == {"order_id": "o-1", "total": 56.0}
    finally:
        handler.write_text(original)
