"""Collect-on-drift closed: windows queued after an alert are labelled into samples (service,
CLI, REST), land in the next dataset version, and cannot be labelled twice."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import httpx
import numpy as np
import pytest
from tests.monitoring.conftest import Trained

from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.monitoring import alerts, collect
from edgeops.monitoring.analysis import Finding


def _queue_windows(trained: Trained, device: str, count: int, shift: float) -> tuple[int, list]:
    """An alert, its collect request, and `count` real recordings (shifted: the new reality)
    sent back by `device` as raw windows; returns the alert id and the source arrays."""
    ws = trained.ws
    project = ws.projects.get("motion")
    now = datetime.now(UTC)
    with ws.session() as session:
        finding = Finding(f"data_drift:{device}", "warning", f"motion: drift on {device}", {})
        alert, _ = alerts.raise_finding(session, project, None, 1, finding, "t", now)
        asked = collect.request(
            session, project, trained.model.number, [device], {}, now, alert_id=alert.id
        )
        session.commit()
        alert_id, request_id = alert.id, asked.id
    source = [ws.data.values(s) + shift for s in ws.data.samples(limit=count)]
    records = [{"w": v.ravel().tolist(), "r": request_id, "t": now.timestamp()} for v in source]
    stored = ws.monitoring.ingest({"m": trained.model.number, "records": records}, device=device)
    assert stored["windows"] == count
    return alert_id, source


def test_labelled_windows_become_samples_of_the_next_version(trained: Trained) -> None:
    ws, monitoring = trained.ws, trained.ws.monitoring
    alert_id, source = _queue_windows(trained, "dev-lab", 4, 0.25)
    queued = monitoring.label_queue(alert=alert_id)
    assert [q["status"] for q in queued] == ["to-label"] * 4
    ids = sorted(q["id"] for q in queued)  # oldest first: the order the windows were sent

    made = monitoring.label_windows(ids[:3], "running", actor="alice")
    made += monitoring.label_windows(ids[3:], "walking", category="testing", actor="alice")
    assert [m["id"] for m in made] == ids and all(m["status"] == "labelled" for m in made)
    for item, values in zip(made, source, strict=True):
        sample = ws.data.get(item["sample"])
        assert (sample.label, sample.category) == (item["label"], item["category"])
        assert sample.device_id == "dev-lab" and sample.source == "label-queue"
        assert sample.meta["collected_for_alert"] == str(alert_id)
        assert sample.original_hash == item["digest"]
        np.testing.assert_allclose(ws.data.values(sample), values, rtol=1e-6)
    assert [m["label"] for m in made] == ["running"] * 3 + ["walking"]
    assert [m["category"] for m in made] == ["training"] * 3 + ["testing"]

    version = ws.data.commit("the collected windows")
    in_version = {e["id"]: e for e in ws.data.read_version(version.id)}
    assert all(in_version[m["sample"]]["label"] == m["label"] for m in made)

    assert monitoring.label_queue(alert=alert_id) == []
    listed = monitoring.label_queue(alert=alert_id, status="labelled")
    assert sorted((q["id"], q["sample"]) for q in listed) == [(m["id"], m["sample"]) for m in made]
    with pytest.raises(Conflict, match="already handled"):
        monitoring.label_windows(ids[:1], "idle")
    [event] = ws.audit.events(action="label_queue.label", actor="alice", limit=1)
    assert event.details["category"] == "testing"


def test_discard_and_bad_input(trained: Trained) -> None:
    monitoring = trained.ws.monitoring
    alert_id, _ = _queue_windows(trained, "dev-junk", 2, 0.5)
    first, second = sorted(q["id"] for q in monitoring.label_queue(alert=alert_id))
    samples_before = len(trained.ws.data.samples())
    with pytest.raises(NotFound, match="no queue item 999999"):
        monitoring.label_windows([first, 999999], "idle")
    with pytest.raises(InvalidInput, match="label"):
        monitoring.label_windows([first], "")
    with pytest.raises(InvalidInput, match="category"):
        monitoring.label_windows([first], "idle", category="later")
    assert monitoring.discard_windows([first])[0]["status"] == "discarded"
    with pytest.raises(Conflict, match=f"{first} \\(discarded\\)"):  # all or none
        monitoring.label_windows([second, first], "idle")
    assert len(trained.ws.data.samples()) == samples_before
    assert [q["id"] for q in monitoring.label_queue(alert=alert_id)] == [second]
    assert monitoring.label_queue(device="dev-junk", status="discarded")[0]["id"] == first
    with pytest.raises(InvalidInput, match="unknown status"):
        monitoring.label_queue(status="sleepy")


def test_cli_and_rest(trained: Trained) -> None:
    from tests.server.conftest import key_maker, start_server

    from edgeops.server.app import ServerLimits

    ws = trained.ws
    alert_id, _ = _queue_windows(trained, "dev-cli", 3, 0.75)
    env = {**os.environ, "EDGEOPS_HOME": str(ws.settings.home), "EDGEOPS_USER": "bob"}
    env.pop("EDGEOPS_DATABASE_URL", None)
    env["EDGEOPS_PROJECT"] = "motion"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edgeops", "monitor", "queue", *args],
            env=env, text=True, capture_output=True, timeout=120,
        )  # fmt: skip

    listed = run("list", "--alert", str(alert_id), "--json")
    assert listed.returncode == 0, listed.stderr
    queued = json.loads(listed.stdout)
    assert {q["device"] for q in queued} == {"dev-cli"} and len(queued) == 3
    assert set(queued[0]) >= {"id", "status", "device", "alert", "sample", "label", "length"}
    first, second, third = sorted(q["id"] for q in queued)
    labelled = run("label", str(first), "--label", "standing", "--category", "testing", "--json")
    assert labelled.returncode == 0, labelled.stderr
    [made] = json.loads(labelled.stdout)
    assert (made["label"], made["category"], made["status"]) == ("standing", "testing", "labelled")
    assert ws.audit.events(action="label_queue.label", limit=1)[0].actor == "bob"
    for args, message in [
        (("label", "999999", "--label", "x"), "no queue item 999999"),
        (("discard", "999999"), "no queue item 999999"),
        (("list", "--status", "sleepy"), "unknown status"),
    ]:
        failed = run(*args)
        assert failed.returncode == 2, (args, failed.stderr)
        assert message in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    assert run("label", str(first), "--label", "x").returncode != 0  # labelled already
    assert run("discard", str(third)).returncode == 0

    make_key = key_maker(ws, ws.projects.get("motion"))
    running = start_server(ws, ServerLimits())
    url = f"http://127.0.0.1:{running.config.port}/api/v1/projects/motion/label-queue"
    try:
        body = {"ids": [second], "label": "walking"}
        with httpx.Client(headers={"x-api-key": make_key("ml-engineer")}, timeout=30) as client:
            assert client.get(url, params={"alert": alert_id}).json()[0]["id"] == second
            assert client.post(f"{url}/label", json=body).status_code == 403
            assert client.post(f"{url}/discard", json={"ids": [second]}).status_code == 403
        with httpx.Client(headers={"x-api-key": make_key("data-engineer")}, timeout=30) as client:
            answer = client.post(f"{url}/label", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json()[0]["sample"] == ws.data.get(answer.json()[0]["sample"]).id
            again = client.post(f"{url}/label", json=body)
            assert again.status_code == 409 and "already handled" in again.json()["error"]
            unknown = client.post(f"{url}/discard", json={"ids": [999999]})
            assert unknown.status_code == 404
            every = client.get(url, params={"alert": alert_id, "status": "all"}).json()
            assert sorted(q["status"] for q in every) == ["discarded", "labelled", "labelled"]
    finally:
        running.should_exit = True
