"""The agent against an attacker between it and the server (and in the server's store): it
refuses every attack, reports `failed` with the reason, and keeps running the old release."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from tests.fleet.agent.conftest import MakeAgent, offer_to_all
from tests.fleet.conftest import FIRMWARE, FleetServer

from edgeops.fleet.agent import verify
from edgeops.fleet.agent.agent import Agent
from edgeops.fleet.simulator import attacks
from edgeops.fleet.simulator.attacks import Interceptor

NEW = FIRMWARE[::-1] + b"new"


def _running_1_0_0(
    fleet: FleetServer, make_agent: MakeAgent, now: datetime
) -> tuple[Agent, Interceptor]:
    """A device that installed 1.0.0 honestly; 1.1.0 is then released and offered to it."""
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"model.eim": FIRMWARE})
    agent, interceptor = make_agent()
    offer_to_all(fleet, "1.0.0", now)
    assert agent.poll(now) == "healthy"
    assert fleet.ws.fleet.advance(now)[0]["event"] == "completed"
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"model.eim": NEW})
    offer_to_all(fleet, "1.1.0", now)
    return agent, interceptor


def _kept_old(agent: Agent) -> None:
    assert agent.slots.installed() == "1.0.0" and agent.slots.verified()
    assert agent.slots.read("model.eim") == FIRMWARE
    assert agent.slots.journal() is None


def test_a_genuine_update_installs_by_delta_and_reports_each_step(
    fleet: FleetServer, make_agent: MakeAgent, now: datetime
) -> None:
    agent, interceptor = _running_1_0_0(fleet, make_agent, now)
    agent.reports.clear()
    interceptor.requested.clear()
    assert agent.poll(now) == "healthy"
    assert agent.slots.installed() == "1.1.0" and agent.slots.read("model.eim") == NEW
    assert [state for _, state, _ in agent.reports] == [
        "downloading", "installing", "installed", "healthy"]  # fmt: skip
    assert fleet.ws.fleet.device("d1")["installed_release"] == "1.1.0"
    targets = [url for url in interceptor.requested if "/tuf/targets/" in url]
    assert len(targets) == 1 and targets[0].endswith(".from-1.0.0.bsdiff4")  # the delta only
    assert not list((agent.config.folder / "tuf" / "downloads").iterdir())  # cleaned up
    assert agent.poll(now) == "up to date"


ATTACKS: dict[str, Callable[[Interceptor], attacks.Attack]] = {
    "rollback": attacks.replay_timestamp,
    "mix-and-match": attacks.mix_and_match,
    "arbitrary software": lambda _: attacks.arbitrary_software,
    "endless data": lambda _: attacks.endless_data,
    "tampered image": lambda _: attacks.corrupt_download,
    "forged signature": lambda _: attacks.forged_timestamp,
}

REASONS = {  # what ngclient raises, reported as the `failed` detail
    "rollback": "BadVersionNumberError",
    "mix-and-match": "LengthOrHashMismatchError",  # snapshot pins the targets' hash
    "arbitrary software": "LengthOrHashMismatchError",
    "endless data": "DownloadLengthMismatchError",
    "tampered image": "LengthOrHashMismatchError",
    "forged signature": "UnsignedMetadataError",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_the_agent_refuses_the_attack_and_keeps_the_old_release(
    fleet: FleetServer, make_agent: MakeAgent, now: datetime, attack: str
) -> None:
    agent, interceptor = _running_1_0_0(fleet, make_agent, now)
    if attack == "rollback":  # the device has seen the newer metadata; now it gets the old
        verify.updater(agent.places, interceptor, now).refresh()
    interceptor.attack = ATTACKS[attack](interceptor)
    agent.reports.clear()
    assert agent.poll(now) == "failed"
    _kept_old(agent)
    ((release, state, detail),) = [r for r in agent.reports if r[1] != "downloading"]
    assert (release, state, detail) == ("1.1.0", "failed", REASONS[attack])
    device = fleet.ws.fleet.device("d1")
    assert device["installed_release"] == "1.0.0" and device["update_state"] == "failed"


def test_freeze_expired_metadata_is_refused(
    fleet: FleetServer, make_agent: MakeAgent, now: datetime
) -> None:
    agent, _ = _running_1_0_0(fleet, make_agent, now)
    later = now + timedelta(days=2)  # nobody re-signed: the timestamp (1 day) has expired
    assert agent.poll(later) == "failed"
    _kept_old(agent)
    assert agent.reports[-1][1:] == ("failed", "ExpiredMetadataError")


def test_a_tampered_image_in_the_server_store_is_refused(
    fleet: FleetServer, make_agent: MakeAgent, now: datetime
) -> None:
    agent, _ = _running_1_0_0(fleet, make_agent, now)
    for entry in (
        fleet.ws.fleet.release("1.1.0")["artifacts"] + fleet.ws.fleet.release("1.1.0")["deltas"]
    ):
        with open(fleet.ws.blobs.path(entry["sha256"]), "r+b") as handle:
            handle.seek(3)
            handle.write(b"\xff\xfe")
    assert agent.poll(now) == "failed"
    _kept_old(agent)


@pytest.mark.parametrize("forge", ["unsigned target", "another release's target", "other type"])
def test_a_forged_offer_is_refused(
    fleet: FleetServer, make_agent: MakeAgent, now: datetime, forge: str
) -> None:
    """The offer is a hint: only what the signed targets say is installed."""
    agent, _ = _running_1_0_0(fleet, make_agent, now)
    target = {"unsigned target": "pi4/1.1.0/evil.bin", "another release's target":
              "pi4/1.0.0/model.eim", "other type": "pi4/1.1.0/model.eim"}[forge]  # fmt: skip
    offer: dict[str, Any] = {
        "release": "1.1.0",
        "device_type": "pi4",
        "artifacts": [
            {"name": "model.eim", "kind": "file", "target": target, "length": 1, "sha256": "0"}
        ],
    }
    if forge == "other type":
        agent.config = agent.config.__class__(**{**agent.config.__dict__, "device_type": "pi5"})
        offer["device_type"] = "pi5"
    assert agent.update(offer, now) == "failed"
    _kept_old(agent)
