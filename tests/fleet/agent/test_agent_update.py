"""The agent's update path beyond attacks: a retry after a power cut reuses what it already
downloaded, a release whose self-test fails is reverted by the device itself, and a rollout
rolled back by the operator brings the device back to the previous release."""

from datetime import datetime

from tests.fleet.agent.conftest import MakeAgent, offer_to_all
from tests.fleet.conftest import FIRMWARE, FleetServer

from edgeops.fleet.agent.durable import PowerLoss, never
from edgeops.fleet.agent.health import selftest
from edgeops.fleet.simulator.devices import PowerSwitch

NEW = FIRMWARE[::-1] + b"new"


def _targets(requested: list[str]) -> list[str]:
    return [url for url in requested if "/tuf/targets/" in url]


def test_a_retry_after_a_power_cut_does_not_download_again(
    fleet: FleetServer, make_agent: MakeAgent, now: datetime
) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"model.eim": FIRMWARE})
    agent, interceptor = make_agent()
    offer_to_all(fleet, "1.0.0", now)
    agent.slots.crash = PowerSwitch(at=6)  # a torn write of the artifact in the inactive slot
    try:
        agent.poll(now)
        raise AssertionError("the power stayed on")
    except PowerLoss:
        pass
    assert len(_targets(interceptor.requested)) == 1
    agent.slots.crash = never
    assert agent.boot() == "discarded" and agent.slots.installed() is None
    assert agent.poll(now) == "healthy"
    assert len(_targets(interceptor.requested)) == 1  # the verified download was reused
    assert agent.slots.read("model.eim") == FIRMWARE


def test_a_release_failing_its_self_test_is_reverted_by_the_device(
    fleet: FleetServer, make_agent: MakeAgent, now: datetime
) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"model.eim": FIRMWARE})
    agent, _ = make_agent(health=selftest)
    offer_to_all(fleet, "1.0.0", now)
    assert agent.poll(now) == "healthy"  # no self-test in it: file integrity decides
    fleet.ws.fleet.advance(now)
    test = b'{"model": "libmodel.so", "input": [0.0], "expected": {"label": "idle"}}'
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"libmodel.so": b"not a library",
                                                   "selftest.json": test})  # fmt: skip
    offer_to_all(fleet, "1.1.0", now)
    assert agent.poll(now) == "rolled-back"
    assert agent.slots.installed() == "1.0.0" and agent.slots.verified()
    assert agent.reports[-1][:2] == ("1.1.0", "rolled-back")
    assert "self-test failed" in agent.reports[-1][2]
    device = fleet.ws.fleet.device("d1")
    assert device["installed_release"] == "1.0.0" and device["update_state"] == "rolled-back"
    assert agent.poll(now) == "up to date"  # no retry is offered


def test_an_operator_rollback_brings_the_device_back(
    fleet: FleetServer, make_agent: MakeAgent, now: datetime
) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"model.eim": FIRMWARE})
    agent, _ = make_agent()
    offer_to_all(fleet, "1.0.0", now)
    assert agent.poll(now) == "healthy"
    fleet.ws.fleet.advance(now)
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"model.eim": NEW})
    fleet.ws.fleet.create_rollout("1.1.0", stages="100", dwell="1h", now=now)
    fleet.ws.fleet.advance(now)
    assert agent.poll(now) == "healthy" and agent.slots.installed() == "1.1.0"
    rollout = fleet.ws.fleet.rollouts()[-1]
    fleet.ws.fleet.abort(rollout["id"], rollback=True)
    assert agent.poll(now) == "healthy"
    assert agent.slots.installed() == "1.0.0" and agent.slots.read("model.eim") == FIRMWARE


def test_a_first_install_that_fails_leaves_nothing_running(
    fleet: FleetServer, make_agent: MakeAgent, now: datetime
) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"model.eim": FIRMWARE})
    agent, _ = make_agent(health=lambda slots: "broken")
    offer_to_all(fleet, "1.0.0", now)
    assert agent.poll(now) == "rolled-back"
    assert agent.slots.active() is None and agent.slots.installed() is None
