"""`edgeops agent run --once` and `edgeops simulate fleet` against a real server."""

import json
from datetime import datetime
from pathlib import Path

from tests.fleet.agent.conftest import offer_to_all
from tests.fleet.conftest import FIRMWARE, FleetServer
from typer.testing import CliRunner

from edgeops.cli.main import app


def test_agent_run_once_installs_the_offered_release(
    fleet: FleetServer, tmp_path: Path, now: datetime
) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"model.eim": FIRMWARE})
    _, key = fleet.ws.fleet.register("pump-7", "pi4")
    offer_to_all(fleet, "1.0.0", now)
    args = ["agent", "run", "--server", fleet.url, "--device-key", key, "--project", "p",
            "--device-type", "pi4", "--dir", str(tmp_path / "device"), "--once"]  # fmt: skip
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 2 and "no trust root" in refused.output
    (tmp_path / "root.json").write_bytes(fleet.root_v1())
    done = CliRunner().invoke(app, [*args, "--root", str(tmp_path / "root.json")])
    assert done.exit_code == 0, done.output
    assert "running 1.0.0" in done.output
    assert (tmp_path / "device" / "current").resolve().joinpath("model.eim").read_bytes() == (
        FIRMWARE
    )
    assert fleet.ws.fleet.device("pump-7")["installed_release"] == "1.0.0"


def test_simulate_fleet_enrols_devices_that_check_in(fleet: FleetServer, tmp_path: Path) -> None:
    """(Updates under faults are the simulator's own tests; here: the command's plumbing.)"""
    _, token = fleet.ws.fleet.enrolment_token("sim", device_type="pi4", uses=3)
    result = CliRunner().invoke(app, [
        "simulate", "fleet", "--devices", "3", "--server", fleet.url, "--project", "p",
        "--token", token, "--rounds", "1", "--interval", "0", "--dir", str(tmp_path / "sim"),
        "--workers", "2", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert len(summary["rounds"]) == 1
    print(summary)
    assert sum(summary["rounds"][0].values()) == 3
    assert {d["device_id"] for d in fleet.ws.fleet.devices()} == {
        "sim-00000", "sim-00001", "sim-00002"}  # fmt: skip
