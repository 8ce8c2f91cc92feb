"""Rollouts on a 200-device fleet whose devices report over the real HTTP API; the scheduler's
clock is the test's (`advance(now)`)."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from tests.fleet.conftest import FIRMWARE, FleetServer

FLEET = 200
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _fleet(fleet: FleetServer, count: int = FLEET) -> dict[str, str]:
    """`count` registered devices on release 1.0.0, as they report it; device id → key."""
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"firmware.bin": FIRMWARE})
    keys = {}
    for n in range(count):
        _, keys[f"pi-{n:03}"] = fleet.ws.fleet.register(f"pi-{n:03}", "pi4", groups=["field"])
    _check_in_all(fleet, keys, lambda device: "1.0.0")
    return keys


def _check_in_all(
    fleet: FleetServer, keys: dict[str, str], installed: Any, health: str = "ok"
) -> dict[str, dict[str, Any] | None]:
    offers = {}
    with httpx.Client(base_url=fleet.url, timeout=30) as client:
        for device, key in keys.items():
            answer = client.post(
                "/api/v1/projects/p/device/checkin",
                json={"installed": installed(device), "health": {"status": health}},
                headers={"x-api-key": key},
            )
            assert answer.status_code == 200, answer.text
            offers[device] = answer.json()["update"]
    return offers


def _step(fleet: FleetServer, now: datetime) -> list[dict[str, Any]]:
    """One scheduler step; its rollout changes (it may also re-sign TUF metadata)."""
    return [change for change in fleet.ws.fleet.advance(now) if "rollout" in change]


def _report(fleet: FleetServer, key: str, release: str, state: str) -> None:
    with fleet.client(key) as client:
        answer = client.post("/api/v1/projects/p/device/status",
                             json={"release": release, "state": state})  # fmt: skip
    assert answer.status_code == 200, answer.text


def test_a_bad_release_stops_at_the_canary_stage_and_rolls_back(fleet: FleetServer) -> None:
    keys = _fleet(fleet)
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"firmware.bin": FIRMWARE[::-1]})
    rollout = fleet.ws.fleet.create_rollout("1.1.0", group="field", stages="1,10,50,100",
                                            dwell="10m", max_failure_rate="2%", now=T0)  # fmt: skip
    assert _step(fleet, T0) == [{"rollout": rollout["id"], "event": "started",
                                           "devices": 2}]  # fmt: skip
    offers = _check_in_all(fleet, keys, lambda device: "1.0.0")
    canaries = [device for device, offer in offers.items() if offer is not None]
    assert len(canaries) == 2  # 1% of 200
    assert offers[canaries[0]]["release"] == "1.1.0"  # type: ignore[index]
    for device in canaries:  # the bad release fails its health check and the agent reverts
        _report(fleet, keys[device], "1.1.0", "installing")
        _report(fleet, keys[device], "1.1.0", "rolled-back")
    changes = _step(fleet, T0 + timedelta(minutes=1))
    assert [c["event"] for c in changes] == ["rolled-back"]
    status = fleet.ws.fleet.rollout(rollout["id"])
    assert status["state"] == "rolled-back" and status["reached"] == 2
    assert status["devices"] == {"failed": 2} and "2 of 2 devices failed" in status["reason"]
    # Nobody is offered the bad release any more, and later steps change nothing.
    after = _check_in_all(fleet, keys, lambda device: "1.0.0")
    assert all(offer is None for offer in after.values())
    assert _step(fleet, T0 + timedelta(hours=5)) == []
    installed = {d["installed_release"] for d in fleet.ws.fleet.devices()}
    assert installed == {"1.0.0"}


def test_a_good_release_reaches_every_device_stage_by_stage(fleet: FleetServer) -> None:
    keys = _fleet(fleet)
    fleet.ws.fleet.create_release("pi4", "1.2.0", {"firmware.bin": FIRMWARE[:-16] + b"x" * 16})
    rollout = fleet.ws.fleet.create_rollout("pi4/1.2.0", group="field", stages="1,10,50,100",
                                            dwell="10m", now=T0)  # fmt: skip
    running: dict[str, str] = dict.fromkeys(keys, "1.0.0")
    now, reached = T0, []
    for _ in range(12):
        changes = _step(fleet, now)
        if any(c["event"] == "completed" for c in changes):
            break
        for change in changes:
            reached.append(change["devices"])
        offers = _check_in_all(fleet, keys, running.__getitem__)
        for device, offer in offers.items():
            if offer is not None:
                assert offer["artifacts"][0]["delta"]["from_version"] == "1.0.0"
                _report(fleet, keys[device], offer["release"], "healthy")
                running[device] = offer["release"]
        # The dwell holds a healthy stage for 10 minutes: half of it moves nothing.
        assert _step(fleet, now + timedelta(minutes=5)) == []
        now += timedelta(minutes=10)
    else:
        pytest.fail("the rollout did not complete")
    assert reached == [2, 20, 100, 200]
    status = fleet.ws.fleet.rollout(rollout["id"])
    assert status["state"] == "completed" and status["devices"] == {"succeeded": FLEET}
    assert {d["installed_release"] for d in fleet.ws.fleet.devices()} == {"1.2.0"}
    actions = {e.action for e in fleet.ws.audit.events(action="rollout.stage", limit=10)}
    assert actions == {"rollout.stage"}


def test_failing_health_after_an_update_pauses_when_asked_to(fleet: FleetServer) -> None:
    keys = _fleet(fleet, 20)
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"firmware.bin": FIRMWARE[::-1]})
    rollout = fleet.ws.fleet.create_rollout("1.1.0", stages="50,100", dwell="1h",
                                            on_failure="pause", now=T0)  # fmt: skip
    _step(fleet, T0)
    offers = _check_in_all(fleet, keys, lambda device: "1.0.0")
    updated = [device for device, offer in offers.items() if offer is not None]
    assert len(updated) == 10
    for device in updated:
        _report(fleet, keys[device], "1.1.0", "healthy")
    assert _step(fleet, T0 + timedelta(minutes=5)) == []
    # During the dwell one device's health turns bad: 10% failed > 2%.
    with fleet.client(keys[updated[0]]) as client:
        client.post("/api/v1/projects/p/device/checkin",
                    json={"installed": "1.1.0", "health": {"status": "failing"}})  # fmt: skip
    assert [c["event"] for c in _step(fleet, T0 + timedelta(minutes=6))] == ["paused"]
    assert _step(fleet, T0 + timedelta(hours=2)) == []  # paused stays paused
    resumed = fleet.ws.fleet.resume(rollout["id"])
    assert resumed["state"] == "running"
    aborted = fleet.ws.fleet.abort(rollout["id"], rollback=True)
    assert aborted["state"] == "rolled-back"
    offers = _check_in_all(fleet, {d: keys[d] for d in updated}, lambda device: "1.1.0")
    assert {offer["release"] for offer in offers.values() if offer} == {"1.0.0"}
    assert all(offer["rollback"] for offer in offers.values() if offer)


def test_devices_that_never_report_fail_the_stage_at_its_timeout(fleet: FleetServer) -> None:
    _fleet(fleet, 10)
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"firmware.bin": FIRMWARE[::-1]})
    fleet.ws.fleet.create_rollout("1.1.0", stages="10,100", dwell="10m", stage_timeout="1h",
                                  now=T0)  # fmt: skip
    _step(fleet, T0)
    assert _step(fleet, T0 + timedelta(minutes=59)) == []
    assert [c["event"] for c in _step(fleet, T0 + timedelta(hours=1))] == ["rolled-back"]


def test_a_high_error_rate_counts_as_failing_health(fleet: FleetServer) -> None:
    keys = _fleet(fleet, 10)
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"firmware.bin": FIRMWARE[::-1]})
    fleet.ws.fleet.create_rollout("1.1.0", stages="20,100", dwell="1h", now=T0)
    _step(fleet, T0)
    offers = _check_in_all(fleet, keys, lambda device: "1.0.0")
    updated = [device for device, offer in offers.items() if offer is not None]
    for device in updated:
        _report(fleet, keys[device], "1.1.0", "healthy")
    with fleet.client(keys[updated[0]]) as client:  # says "ok", but 20% of its calls fail
        health = {"status": "ok", "error_rate": 0.2}
        client.post(
            "/api/v1/projects/p/device/checkin", json={"installed": "1.1.0", "health": health}
        )
    assert [c["event"] for c in _step(fleet, T0 + timedelta(minutes=1))] == ["rolled-back"]
