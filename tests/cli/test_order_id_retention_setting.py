"""The operator's retention of an order's client id (``Config.client_order_id_retention_s``,
``bourse serve --client-order-id-retention``, ``BOURSE_CLIENT_ORDER_ID_RETENTION``): every
process that opens the database reads the same variable; a window shorter than a signed
request's replay window is refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bourse.bootstrap import RETENTION_ENV, client_order_id_retention_s
from bourse.config import Config


def test_the_setting_comes_from_config_else_the_environment_else_a_day(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(RETENTION_ENV, raising=False)
    assert client_order_id_retention_s(Config()) == 86_400
    monkeypatch.setenv(RETENTION_ENV, " 3600 ")
    assert client_order_id_retention_s(Config()) == 3600
    assert client_order_id_retention_s(Config(client_order_id_retention_s=120)) == 120
    monkeypatch.setenv(RETENTION_ENV, "1h")
    with pytest.raises(ValueError, match="expected a whole number of seconds"):
        client_order_id_retention_s(Config())


@pytest.mark.parametrize("command", ["serve", "engine"])
def test_a_window_shorter_than_the_replay_window_is_refused(command: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bourse.cli", command, "--client-order-id-retention", "60"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BOURSE_HOME": str(tmp_path), "COLUMNS": "80"},
    )
    assert proc.returncode == 2, proc
    assert "--client-order-id-retention" in proc.stderr and "65" in proc.stderr, proc.stderr
