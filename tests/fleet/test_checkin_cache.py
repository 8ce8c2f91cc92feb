"""Routine check-ins are answered from the server's memory: a change made in the server's
process is seen by the very next check-in, one made by another process once the audit head is
read; liveness lands a moment later, while failure reports are committed before the answer."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.fleet.conftest import FIRMWARE, FleetServer

from edgeops.fleet.checkins import Assignment, CheckinCache
from edgeops.fleet.liveness import LivenessWriter
from edgeops.workspace import Workspace

P = "/api/v1/projects/p"
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _checkin(fleet: FleetServer, key: str, body: dict[str, object]) -> dict[str, object]:
    with fleet.client(key) as client:
        answer = client.post(f"{P}/device/checkin", json=body)
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def test_rollout_changes_and_revocations_reach_the_next_checkin(fleet: FleetServer) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"firmware.bin": FIRMWARE})
    _, key = fleet.ws.fleet.register("d1", "pi4")
    routine = {"installed": "1.0.0", "health": {"status": "ok"}}
    for _ in range(3):  # the first is written at once, the others are answered from memory
        assert _checkin(fleet, key, routine)["update"] is None
    with fleet.client() as client:  # the key as a bearer token works the same
        bearer = client.post(f"{P}/device/checkin", json=routine,
                             headers={"authorization": f"Bearer {key}"})  # fmt: skip
        wrong = client.post(f"{P}/device/checkin", json=routine,
                            headers={"authorization": f"Bearer {key}x"})  # fmt: skip
    assert bearer.status_code == 200 and bearer.json()["device_id"] == "d1"
    assert wrong.status_code == 401
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"firmware.bin": FIRMWARE[::-1]})
    rollout = fleet.ws.fleet.create_rollout("1.1.0", stages="100", dwell="0s", now=T0)
    fleet.ws.fleet.advance(T0)  # assigns 1.1.0 to d1 (the cache's TTL is a minute)
    offered = _checkin(fleet, key, routine)["update"]
    assert isinstance(offered, dict) and offered["release"] == "1.1.0"
    fleet.ws.fleet.abort(rollout["id"], rollback=True)
    assert _checkin(fleet, key, routine)["update"] is None
    fleet.ws.fleet.revoke("d1")
    with fleet.client(key) as client:
        assert client.post(f"{P}/device/checkin", json=routine).status_code in (401, 403)


def test_failure_reports_are_committed_before_the_answer(fleet: FleetServer) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"firmware.bin": FIRMWARE})
    _, key = fleet.ws.fleet.register("d1", "pi4")
    _checkin(fleet, key, {"installed": "1.0.0"})
    _checkin(fleet, key, {"installed": "1.0.0"})  # now known: the next could be from memory
    _checkin(fleet, key, {"installed": "1.0.0", "health": {"status": "failing", "detail": "x"}})
    assert fleet.ws.fleet.device("d1")["health"]["status"] == "failing"  # no waiting
    with fleet.client(key) as client:
        failed = client.post(f"{P}/device/status", json={"release": "1.0.0", "state": "failed"})
    assert failed.status_code == 200
    assert fleet.ws.fleet.device("d1")["update_state"] == "failed"


def test_coalesced_liveness_lands_and_keeps_the_newest(fleet: FleetServer) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"firmware.bin": FIRMWARE})
    _, key = fleet.ws.fleet.register("d1", "pi4")
    _checkin(fleet, key, {"installed": "1.0.0", "health": {"status": "ok", "uptime_s": 1}})
    first_seen = fleet.ws.fleet.device("d1")["last_seen_at"]
    _checkin(fleet, key, {"installed": "1.0.0"})  # no health: the stored health stays
    _checkin(fleet, key, {"installed": "1.0.0", "health": {"status": "degraded"}})
    deadline = time.monotonic() + 20  # the writer flushes every half second
    while fleet.ws.fleet.device("d1")["health"]["status"] != "degraded":
        assert time.monotonic() < deadline, "the coalesced check-in never landed"
        time.sleep(0.1)
    assert fleet.ws.fleet.device("d1")["last_seen_at"] > first_seen


def test_an_older_buffered_check_in_never_overwrites_a_newer_one(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")
    ws.projects.create("p")
    ws.fleet.register("d1", "pi4")
    writer = LivenessWriter(ws._sessions, every_s=3600)  # flushed by hand
    with ws.session() as session:
        from edgeops.store.tables import Device

        device = session.query(Device).one()
        device.last_seen_at, device.health = T0 + timedelta(minutes=5), {"status": "ok"}
        session.commit()
        pk = device.id
    writer.note(pk, T0, {"status": "failing"})  # seen earlier than what is stored
    assert writer.flush() == 1
    assert ws.fleet.device("d1")["health"] == {"status": "ok"}
    writer.note(pk, T0 + timedelta(minutes=6), {"status": "degraded"})
    writer.note(pk, T0 + timedelta(minutes=7), None)  # no health: keeps the buffered one
    writer.flush()
    stored = ws.fleet.device("d1")
    assert stored["health"] == {"status": "degraded"}
    assert stored["last_seen_at"].startswith("2030-01-01T00:07")
    writer.close()
    ws.close()


def test_changes_from_another_process_are_read_from_the_audit_log(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")
    pid = ws.projects.create("p").id
    ws.fleet.register("d1", "pi4")
    ws.fleet.register("d2", "pi4")
    cache = CheckinCache(ws._sessions, poll_s=3600)  # polled by hand below (after its first)
    known = Assignment(1, "1.0.0", b"{}")
    deadline = time.monotonic() + 20
    while not cache.put(pid, "d1", known, cache.epoch):
        assert time.monotonic() < deadline, "the cache never read the audit head"
        time.sleep(0.01)
    assert cache.put(pid, "d2", known, cache.epoch)
    assert cache.poll() is False  # nothing changed anywhere
    other = Workspace(tmp_path / "home")  # another process: its own engine and sessions
    other.fleet.tag("d1", add_tags=["moved"])
    assert cache.get(pid, "d1") is not None  # this process did not see it happen...
    assert cache.poll() is True  # ...until it reads the audit log: d1 only
    assert cache.get(pid, "d1") is None and cache.get(pid, "d2") is not None
    loading = cache.epoch  # a load that starts, then a change committed here meanwhile
    ws.fleet.tag("d1", add_tags=["again"])
    assert cache.put(pid, "d1", known, loading) is False
    assert cache.get(pid, "d1") is None
    other.fleet.revoke("d1")  # revokes its key too: admitted keys are all forgotten
    cache.poll()
    assert cache.get(pid, "d2") is None
    cache.close()
    other.close()
    ws.close()
