"""Rollouts on a 200-device simulated fleet, every device running the real agent over HTTP: a
release that fails its health check stops at the canary stage and rolls back; a good one
reaches every device. The scheduler's clock is the test's."""

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from tests.fleet.conftest import FIRMWARE, FleetServer

from edgeops.fleet.simulator.devices import DeviceSpec
from edgeops.fleet.simulator.faults import Faults
from edgeops.fleet.simulator.fleet import Simulation

FLEET = 200


@pytest.mark.slow
def test_a_bad_release_stops_at_the_canary_stage_and_a_good_one_reaches_everyone(
    fleet: FleetServer, tmp_path: Path, now: datetime
) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"model.eim": FIRMWARE})
    sim = Simulation(fleet.url, "p", fleet.root_v1(), tmp_path / "sim", workers=4,
                     faults=Faults.parse("unhealthy=1@1.1.0"))  # fmt: skip
    for n in range(FLEET):
        _, key = fleet.ws.fleet.register(f"pi-{n:03}", "pi4", groups=["field"])
        sim.add(DeviceSpec(f"pi-{n:03}", key, "pi4"), {"model.eim": FIRMWARE}, "1.0.0")
    assert sim.round(now) == {"up to date": FLEET}

    fleet.ws.fleet.create_release("pi4", "1.1.0", {"model.eim": FIRMWARE[::-1]})
    bad = fleet.ws.fleet.create_rollout("1.1.0", group="field", stages="1,10,50,100",
                                        dwell="10m", max_failure_rate="2%", now=now)  # fmt: skip
    clock = now
    fleet.ws.fleet.advance(clock)
    assert sim.round(now) == {"rolled-back": 2, "up to date": FLEET - 2}  # the 1% canaries
    clock += timedelta(minutes=1)
    fleet.ws.fleet.advance(clock)
    status = fleet.ws.fleet.rollout(bad["id"])
    assert status["state"] == "rolled-back" and status["reached"] == 2
    assert sim.round(now) == {"up to date": FLEET}  # nobody else is offered it
    assert sim.census() == {"1.0.0": FLEET}

    fleet.ws.fleet.create_release("pi4", "1.2.0", {"model.eim": FIRMWARE[:-16] + b"x" * 16})
    good = fleet.ws.fleet.create_rollout("1.2.0", group="field", stages="1,10,50,100",
                                         dwell="10m", now=clock)  # fmt: skip
    updated = []
    for _ in range(8):
        fleet.ws.fleet.advance(clock)
        if fleet.ws.fleet.rollout(good["id"])["state"] == "completed":
            break
        updated.append(sim.round(now)["healthy"])
        clock += timedelta(minutes=11)
    status = fleet.ws.fleet.rollout(good["id"])
    assert status["state"] == "completed" and status["devices"] == {"succeeded": FLEET}
    assert updated == [2, 18, 80, 100]
    assert sim.census() == {"1.2.0": FLEET}
    assert {d["installed_release"] for d in fleet.ws.fleet.devices()} == {"1.2.0"}
