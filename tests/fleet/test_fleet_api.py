"""The fleet's HTTP API: enrolment, device-only routes, secrets shown once, revocation, errors
as JSON, audit events."""

from datetime import UTC, datetime, timedelta

import pytest
from tests.fleet.conftest import FIRMWARE, FleetServer

from edgeops.server.app import ServerLimits

P = "/api/v1/projects/p"


def test_enrolment_tokens_register_devices_and_refuse_everything_else(fleet: FleetServer) -> None:
    with fleet.client(fleet.make_key("operator")) as operator:
        made = operator.post(f"{P}/enrolment-tokens",
                             json={"name": "line 3", "device_type": "pi4", "groups": ["field"],
                                   "uses": 1})  # fmt: skip
        assert made.status_code == 201
        token = made.json()["token"]
        listed = operator.get(f"{P}/devices").text
    assert token not in listed
    with fleet.client() as anonymous:
        wrong = anonymous.post(f"{P}/device/enrol",
                               json={"token": token[:-2] + "xx", "device_id": "a"})  # fmt: skip
        enrolled = anonymous.post(f"{P}/device/enrol", json={"token": token, "device_id": "a"})
        used_up = anonymous.post(f"{P}/device/enrol", json={"token": token, "device_id": "b"})
        garbage = anonymous.post(f"{P}/device/enrol", json={"token": "x", "device_id": "c"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid enrolment token"
    assert garbage.status_code == 401
    assert enrolled.status_code == 201, enrolled.text
    assert used_up.status_code == 401 and "used up" in used_up.json()["error"]
    device = fleet.ws.fleet.device("a")
    assert device["device_type"] == "pi4" and device["groups"] == ["field"]
    with fleet.client(enrolled.json()["key"]) as client:
        answer = client.post(f"{P}/device/checkin", json={"health": {"status": "ok"}})
    assert answer.status_code == 200 and answer.json()["update"] is None
    assert [e.action for e in fleet.ws.audit.events(action="device.enrol")] == ["device.enrol"]
    # The token table keeps only a hash of the secret.
    with fleet.ws.session() as session:
        from edgeops.store.tables import EnrolmentToken

        stored = session.query(EnrolmentToken).one()
        assert token not in (stored.secret_hash, stored.prefix)


def test_expired_tokens_and_taken_ids_are_refused(fleet: FleetServer) -> None:
    _, old = fleet.ws.fleet.enrolment_token(
        "old", device_type="pi4", expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    _, fresh = fleet.ws.fleet.enrolment_token("fresh", device_type="pi4")
    fleet.ws.fleet.register("taken", "pi4")
    with fleet.client() as anonymous:
        expired = anonymous.post(f"{P}/device/enrol", json={"token": old, "device_id": "x"})
        taken = anonymous.post(f"{P}/device/enrol", json={"token": fresh, "device_id": "taken"})
        bad_id = anonymous.post(f"{P}/device/enrol", json={"token": fresh, "device_id": "a b"})
        other_type = anonymous.post(f"{P}/device/enrol", json={
            "token": fresh, "device_id": "y", "device_type": "esp32"})  # fmt: skip
    assert expired.status_code == 401 and "expired" in expired.json()["error"]
    assert taken.status_code == 409
    assert bad_id.status_code == 400 and "device id" in bad_id.json()["error"]
    assert other_type.status_code == 400


@pytest.mark.parametrize("fleet_limits", [ServerLimits(key_cache_s=0)])
def test_registration_shows_the_key_once_and_revocation_locks_the_device_out(
    fleet: FleetServer,
) -> None:
    with fleet.client(fleet.make_key("operator")) as operator:
        made = operator.post(f"{P}/devices", json={"device_id": "pump-7", "device_type": "pi4",
                                                   "tags": ["site=a"]})  # fmt: skip
        key = made.json()["key"]
        shown = operator.get(f"{P}/devices/pump-7")
        change = {"add_groups": ["canary"], "remove_tags": ["site=a"]}
        tagged = operator.patch(f"{P}/devices/pump-7", json=change)
        duplicate = operator.post(f"{P}/devices", json={"device_id": "pump-7",
                                                        "device_type": "pi4"})  # fmt: skip
        bad_tag = operator.patch(f"{P}/devices/pump-7", json={"add_tags": ["no spaces"]})
    assert made.status_code == 201 and key not in shown.text
    assert tagged.json()["groups"] == ["canary"] and tagged.json()["tags"] == []
    assert duplicate.status_code == 409 and "already registered" in duplicate.json()["error"]
    assert bad_tag.status_code == 400
    with fleet.client(key) as device:
        assert device.post(f"{P}/device/checkin", json={}).status_code == 200
    fleet.ws.fleet.revoke("pump-7")
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"firmware.bin": FIRMWARE})
    with fleet.client(key) as device:
        assert device.post(f"{P}/device/checkin", json={}).status_code == 401
        assert device.get(f"{P}/tuf/metadata/timestamp.json").status_code == 401


def test_device_routes_need_a_device_key_and_valid_reports(fleet: FleetServer) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"firmware.bin": FIRMWARE})
    with fleet.client(fleet.make_key("admin")) as admin:
        not_a_device = admin.post(f"{P}/device/checkin", json={})
    assert not_a_device.status_code == 400 and "device key" in not_a_device.json()["error"]
    key = fleet.make_key("device", "new-1")  # a plain device key: registers on first check-in
    with fleet.client(key) as device:
        unknown_type = device.post(f"{P}/device/checkin", json={})
        first = device.post(f"{P}/device/checkin", json={"device_type": "pi4",
                                                         "installed": "1.0.0"})  # fmt: skip
        unknown_release = device.post(f"{P}/device/checkin", json={"installed": "9.9.9"})
        bad_state = device.post(f"{P}/device/status", json={"release": "1.0.0",
                                                            "state": "exploded"})  # fmt: skip
        bad_health = device.post(f"{P}/device/checkin",
                                 json={"health": {"status": "ok", "error_rate": 7}})  # fmt: skip
        target = device.get(f"{P}/tuf/targets/pi4/1.0.0/{'0' * 64}.firmware.bin")
    assert unknown_type.status_code == 400 and "device_type" in unknown_type.json()["error"]
    assert first.status_code == 200
    assert fleet.ws.fleet.device("new-1")["installed_release"] == "1.0.0"
    assert unknown_release.status_code == 400 and "9.9.9" in unknown_release.json()["error"]
    assert bad_state.status_code == 422 and "error" in bad_state.json()
    assert bad_health.status_code == 422
    assert target.status_code == 404


def test_operators_create_and_steer_rollouts_over_http(fleet: FleetServer) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"firmware.bin": FIRMWARE})
    with fleet.client(fleet.make_key("operator")) as operator:
        bad = operator.post(f"{P}/rollouts", json={"release": "1.0.0", "stages": "50,10"})
        bad_rate = operator.post(f"{P}/rollouts", json={"release": "1.0.0",
                                                        "max_failure_rate": "lots"})  # fmt: skip
        missing = operator.post(f"{P}/rollouts", json={"release": "7.0.0"})
        made = operator.post(f"{P}/rollouts", json={"release": "pi4/1.0.0", "dwell": "5m"})
        second = operator.post(f"{P}/rollouts", json={"release": "1.0.0"})
        rollout_id = made.json()["id"]
        paused = operator.post(f"{P}/rollouts/{rollout_id}/pause")
        resumed = operator.post(f"{P}/rollouts/{rollout_id}/resume")
        aborted = operator.post(f"{P}/rollouts/{rollout_id}/abort")
        again = operator.post(f"{P}/rollouts/{rollout_id}/abort")
        nonsense = operator.post(f"{P}/rollouts/{rollout_id}/explode")
        listed = operator.get(f"{P}/rollouts").json()
        releases = operator.get(f"{P}/releases").json()
    assert bad.status_code == 400 and "stages" in bad.json()["error"]
    assert bad_rate.status_code == 400 and missing.status_code == 404
    assert made.status_code == 201 and made.json()["dwell_s"] == 300
    assert second.status_code == 409 and "still active" in second.json()["error"]
    assert paused.json()["state"] == "paused" and resumed.json()["state"] == "pending"
    assert aborted.json()["state"] == "aborted" and again.status_code == 409
    assert nonsense.status_code == 422
    assert [r["state"] for r in listed] == ["aborted"]
    assert releases[0]["version"] == "1.0.0"
    actions = [e.action for e in fleet.ws.audit.events(limit=6)]
    assert actions[:4] == ["rollout.abort", "rollout.resume", "rollout.pause", "rollout.create"]


def test_releases_over_http_need_the_targets_key_online(fleet: FleetServer) -> None:
    form = {"device_type": "pi4", "version": "1.0.0", "changelog": "over HTTP"}
    files = [("file", ("model.bin", FIRMWARE, "application/octet-stream"))]
    with fleet.client(fleet.make_key("operator")) as operator:
        offline = operator.post(f"{P}/releases", data=form, files=files)
        no_fields = operator.post(f"{P}/releases", files=files)
    assert offline.status_code == 400 and "offline" in offline.json()["error"]
    assert no_fields.status_code == 400
    online = fleet.ws.projects.create("q")
    fleet.ws.fleet.signing_init(project="q", online_targets=True)
    from tests.server.conftest import key_maker

    with fleet.client(key_maker(fleet.ws, online)("operator")) as operator:
        made = operator.post("/api/v1/projects/q/releases", data=form, files=files)
        again = operator.post("/api/v1/projects/q/releases", data=form, files=files)
    assert made.status_code == 201, made.text
    assert made.json()["artifacts"][0]["length"] == len(FIRMWARE)
    assert again.status_code == 409
    assert fleet.ws.fleet.release("pi4/1.0.0", project="q")["changelog"] == "over HTTP"
