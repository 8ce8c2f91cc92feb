"""A fleet replay on a model trained on real data: twelve devices report for three days; on
day two three of them drift on three features (and one goes silent, one fails an update). The
monitor's alert names the model, exactly those devices and those features; alerts de-duplicate,
notify a webhook once, are acknowledged and resolve; devices are asked for raw windows and
their answers land in the to-label queue."""

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from tests.monitoring.conftest import Trained

from edgeops.errors import InvalidInput, NotFound
from edgeops.monitoring import alerts
from edgeops.monitoring.analysis import Finding

DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
DEVICES = [f"dev-{i:02d}" for i in range(12)]
DRIFTING = ["dev-03", "dev-07", "dev-09"]
RECORDS_PER_DAY = 300


class Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Any:
    Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", Hook.received
    server.shutdown()


def _shifted_features(trained: Trained) -> list[int]:
    """Three features with a spread (constant ones cannot move by a multiple of their std)."""
    std = trained.X.std(axis=0)
    spread = np.flatnonzero(std > 1e-3 * (np.abs(trained.X).mean(axis=0) + 1e-6))
    return sorted(int(j) for j in spread[[1, len(spread) // 2, -2]])


def _day(
    trained: Trained, day: int, rng: np.random.Generator, drift: bool, shifted: list[int]
) -> dict[str, list[dict[str, Any]]]:
    std = trained.X.std(axis=0)
    priors = trained.ws.monitoring.reference("latest").prediction_priors
    messages = {}
    for device in DEVICES:
        if device == "dev-11" and day >= 1:
            continue  # went silent after the first day
        rows = rng.integers(0, len(trained.X), RECORDS_PER_DAY)
        X = trained.X[rows].astype(np.float64)
        if drift and device in DRIFTING:
            X[:, shifted] += std[shifted]
        start = (DAY0 + timedelta(days=day)).timestamp()
        times = np.sort(rng.uniform(start, start + 86_000, RECORDS_PER_DAY))
        # predictions as mixed as on the held-out windows (the forest is surer of the windows
        # it was fitted on, which would read as prediction and confidence drift)
        labels = rng.choice(list(priors), RECORDS_PER_DAY, p=list(priors.values()))
        messages[device] = [
            {"t": float(t), "p": str(label), "l": float(rng.gamma(4, 2)), "f": x.tolist()}
            for t, label, x in zip(times, labels, X, strict=True)
        ]
        if device == "dev-05" and day == 1:
            messages[device].append({"t": start + 10, "v": "update_failed", "e": "hash mismatch"})
    return messages


def _send(trained: Trained, messages: dict[str, list[dict[str, Any]]]) -> None:
    number = trained.model.version.number
    for device, records in messages.items():
        answer = trained.ws.monitoring.ingest({"m": number, "records": records}, device=device)
        assert answer["accepted"] == len(records)


def test_fleet_replay_drift_on_some_devices_is_named_precisely(
    trained: Trained, webhook: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    ws, (url, received) = trained.ws, webhook
    monitoring = ws.monitoring
    shifted = _shifted_features(trained)
    names = [monitoring.reference("latest").feature_names[j] for j in shifted]
    seen: list[dict[str, Any]] = []
    monitoring.subscribe(seen.append)
    monitoring.add_monitor("fleet", model="latest", window="24h", webhook=url, collect=True)
    rng = np.random.default_rng(42)
    _send(trained, _day(trained, 0, rng, drift=False, shifted=shifted))

    [day0] = monitoring.check(now=DAY0 + timedelta(days=1))
    assert day0["analysis"]["findings"] == []
    assert monitoring.alerts() == [] and received == []

    _send(trained, _day(trained, 1, rng, drift=True, shifted=shifted))
    [day1] = monitoring.check(now=DAY0 + timedelta(days=2))
    assert day1["alerts"]
    raised = {a["kind"]: a for a in monitoring.alerts()}
    assert set(raised) == {"data_drift", "device_stale", "update_failed"}
    drift = raised["data_drift"]
    assert drift["model"] == "v1" and drift["details"]["model"] == "v1"
    assert [f["feature"] for f in drift["details"]["features"]] == names
    named = drift["details"]["devices"]
    assert [d["device"] for d in named] == DRIFTING
    assert all(d["features"] == names and d["rows"] == RECORDS_PER_DAY for d in named)
    assert raised["device_stale"]["details"]["devices"] == ["dev-11"]
    assert raised["update_failed"]["details"]["devices"] == ["dev-05"]
    assert sorted(r["alert"]["kind"] for r in received) == sorted(raised)
    assert len(seen) == 3

    # the drifting devices are asked for raw windows; the others are not
    at = DAY0 + timedelta(days=2, minutes=1)
    [command] = monitoring.commands("dev-03", now=at)
    assert command["command"] == "collect" and command["features"] == names
    assert monitoring.commands("dev-01", now=at) == []
    monitoring.ingest(
        {"m": 1, "records": [{"w": [0.1] * 60, "r": command["collect"], "t": at.timestamp()}] * 2},
        device="dev-03",
    )
    queue = monitoring.label_queue()
    assert [(q["device"], q["length"], q["request"]) for q in queue] == [
        ("dev-03", 60, command["collect"])
    ] * 2
    assert monitoring.commands("dev-03", now=at)[0]["windows"] == command["windows"] - 2
    assert monitoring.commands("dev-03", now=at + timedelta(days=2)) == []  # expired

    # the same finding ten minutes later updates the alert and notifies nobody
    monitoring.check(now=DAY0 + timedelta(days=2, minutes=10))
    again = {a["kind"]: a for a in monitoring.alerts()}
    assert again["data_drift"]["id"] == drift["id"] and again["data_drift"]["count"] == 2
    assert len(received) == 3
    acked = monitoring.ack(drift["id"])
    assert acked["status"] == "acknowledged"
    with pytest.raises(NotFound):
        monitoring.ack(9999)

    # day three is clean again (and the silent device is back): the drift alert resolves
    clean = _day(trained, 2, rng, drift=False, shifted=shifted)
    clean["dev-11"] = clean["dev-10"]
    _send(trained, clean)
    monitoring.check(now=DAY0 + timedelta(days=3))
    assert "data_drift" not in {a["kind"] for a in monitoring.alerts()}
    resolved = monitoring.alerts(status="resolved")
    assert drift["id"] in [a["id"] for a in resolved]

    status = monitoring.status(now=DAY0 + timedelta(days=3))
    assert status["monitors"][0]["name"] == "fleet"
    assert status["telemetry"]["days"] == 3

    report = monitoring.report("latest", tmp_path / "report", since=timedelta(days=3),
                               now=DAY0 + timedelta(days=3))  # fmt: skip
    assert Path(report["html"]).read_text().count("<img") == 2
    assert all(Path(p).stat().st_size > 1000 for p in report["plots"])


def test_monitor_settings_are_checked(trained: Trained) -> None:
    monitoring = trained.ws.monitoring
    with pytest.raises(InvalidInput, match="duration"):
        monitoring.add_monitor("bad-window", window="soon")
    with pytest.raises(InvalidInput, match="unknown threshold"):
        monitoring.add_monitor("bad-threshold", thresholds={"sigma": 3})
    with pytest.raises(InvalidInput, match="http"):
        monitoring.add_monitor("bad-hook", webhook="ftp://x")
    with pytest.raises(InvalidInput, match="not both"):
        monitoring.add_monitor("both", devices=["dev-01"], group="field")
    with pytest.raises(InvalidInput, match="device group"):
        monitoring.add_monitor("bad-group", group="no spaces")
    monitoring.add_monitor("count-window", model="v1", window="500")
    with pytest.raises(InvalidInput, match="exists already"):
        monitoring.add_monitor("count-window")
    with pytest.raises(NotFound, match="no enabled monitor"):
        monitoring.check(monitor="nope")


def test_http_telemetry_commands_reference_and_alerts(trained: Trained) -> None:
    """Over real HTTP: a device posts JSON and CBOR, bad telemetry is a 400 JSON error, the
    reference's summary bins are served, alerts are listed and acknowledged by role."""
    import cbor2
    import httpx
    from tests.server.conftest import key_maker, start_server

    from edgeops.server.app import ServerLimits

    ws = trained.ws
    project = ws.projects.get("motion")
    make_key = key_maker(ws, project)
    running = start_server(ws, ServerLimits())
    url = f"http://127.0.0.1:{running.config.port}/api/v1/projects/motion"
    device, viewer, operator = (
        make_key("device", "dev-http"),
        make_key("viewer"),
        make_key("operator"),
    )
    try:
        with httpx.Client(headers={"x-api-key": device}, timeout=30) as client:
            sent = client.post(f"{url}/telemetry", json={"model": 1, "label": "walking"})
            assert sent.status_code == 202 and sent.json() == {"accepted": 1, "windows": 0}
            compact = cbor2.dumps({"m": 1, "records": [{"p": 0, "c": 0.5}, {"l": 3.5}]})
            sent = client.post(
                f"{url}/telemetry", content=compact, headers={"content-type": "application/cbor"}
            )
            assert sent.json()["accepted"] == 2
            bad = client.post(f"{url}/telemetry", json={"model": 1, "confidence": 7})
            assert bad.status_code == 400 and "confidence" in bad.json()["error"]
            other = client.post(f"{url}/telemetry", json={"model": 1, "device": "someone-else"})
            assert other.status_code == 400 and "dev-http" in other.json()["error"]
            assert client.get(f"{url}/telemetry/commands").json() == {"commands": []}
            reference = client.get(f"{url}/models/latest/reference").json()
            assert len(reference["summary_edges"]) == len(reference["features"])
            assert all(len(edges) == 9 for edges in reference["summary_edges"])
            assert client.get(f"{url}/alerts").status_code == 403
        rows = ws.monitoring.store.read("motion", devices=["dev-http"])
        assert rows.num_rows == 3
        with ws.session() as session:
            finding = Finding("latency", "warning", "motion: p95 latency up", {})
            now = datetime.now(UTC)
            fresh, notify = alerts.raise_finding(session, project, None, 1, finding, "t", now)
            session.commit()
            open_alert = {"id": fresh.id}
        assert notify
        with httpx.Client(headers={"x-api-key": viewer}, timeout=30) as client:
            listed = client.get(f"{url}/alerts", params={"status": "all"}).json()
            assert open_alert["id"] in [a["id"] for a in listed]
            assert client.post(f"{url}/alerts/{listed[0]['id']}/ack").status_code == 403
            assert client.get(f"{url}/monitoring/status").json()["project"] == "motion"
        with httpx.Client(headers={"x-api-key": operator}, timeout=30) as client:
            acked = client.post(f"{url}/alerts/{open_alert['id']}/ack")
            assert acked.json()["status"] == "acknowledged"
            assert acked.json()["acknowledged_by"].startswith("key:")
            missing = client.post(f"{url}/alerts/99999/ack")
            assert missing.status_code == 404 and "alerts list" in missing.json()["error"]
    finally:
        running.should_exit = True
