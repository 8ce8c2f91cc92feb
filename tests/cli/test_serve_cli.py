"""`edgeops serve`'s scheduling options reach the server it runs: a real server, started the
way users start it, prunes old telemetry on the monitor scheduler's period."""

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.monitoring.test_telemetry import _table
from tests.server.conftest import _free_port
from typer.testing import CliRunner

from edgeops.cli.main import app
from edgeops.workspace import Workspace


def test_monitor_options_run_the_scheduler_and_its_telemetry_retention(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Workspace(home) as ws:
        ws.projects.create("p")
        ws.monitoring.store.append("p", _table([0, 1]))  # March 2026: long past
        assert len(ws.monitoring.store.days("p")) == 2
    command = [sys.executable, "-m", "edgeops", "serve", "--port", str(_free_port()),
               "--monitor-every", "0.01", "--telemetry-keep-days", "1"]  # fmt: skip
    server = subprocess.Popen(command, env={**os.environ, "EDGEOPS_HOME": str(home)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        with Workspace(home) as ws:
            while ws.monitoring.store.days("p") and time.monotonic() < deadline:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.1)
            assert ws.monitoring.store.days("p") == []
            (event,) = ws.audit.events(action="telemetry.prune")
            assert event.actor == "monitor-scheduler"
    finally:
        server.terminate()
        server.wait(60)


def test_a_negative_period_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--home", str(tmp_path / "home"), "serve", "--monitor-every", "-1"]
    )
    assert result.exit_code == 2 and "Invalid value for '--monitor-every'" in result.output
