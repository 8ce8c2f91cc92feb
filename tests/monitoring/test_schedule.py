"""The monitor scheduler inside a real server: monitors run by themselves, exactly one process
wins each period, and a monitor firing on a model that a staged rollout is shipping fails the
devices' stage so the fleet scheduler rolls the release back."""

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tests.monitoring.conftest import Trained
from tests.server.conftest import _free_port

from edgeops.monitoring import schedule
from edgeops.server.app import ServerLimits, create_app
from edgeops.workspace import Workspace

DEVICES = [f"pi-{n}" for n in range(4)]


@pytest.fixture
def served(trained: Trained) -> Iterator[str]:
    """The trained workspace served with a fast fleet scheduler and monitor scheduler."""
    app = create_app(trained.ws, ServerLimits(), schedule_every_s=0.2, monitor_every_s=0.3)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=_free_port(), log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait(lambda: server.started, "the server to start")
    yield f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(10)


def _wait(condition: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _checkin(client: httpx.Client, key: str, installed: str) -> dict[str, Any] | None:
    answer = client.post("/api/v1/projects/motion/device/checkin",
                         json={"installed": installed, "health": {"status": "ok"}},
                         headers={"x-api-key": key})  # fmt: skip
    assert answer.status_code == 200, answer.text
    update: dict[str, Any] | None = answer.json()["update"]
    return update


def test_a_monitor_firing_on_a_rolled_out_model_rolls_the_release_back(
    trained: Trained, served: str
) -> None:
    ws = trained.ws
    ws.fleet.signing_init(now=datetime.now(UTC))
    ws.fleet.create_release("pi4", "1.0.0", {"firmware.bin": b"old" * 100})
    ws.fleet.create_release("pi4", "1.1.0", {"firmware.bin": b"new" * 100}, model="latest")
    keys = {d: ws.fleet.register(d, "pi4", groups=["field"])[1] for d in DEVICES}
    made = ws.monitoring.add_monitor("canary", model="latest", window="1h", group="field")
    assert made["group"] == "field" and made["devices"] is None
    with httpx.Client(base_url=served, timeout=30) as client:
        for key in keys.values():
            _checkin(client, key, "1.0.0")
        rollout = ws.fleet.create_rollout("1.1.0", group="field", stages="50,100", dwell="1h",
                                          max_failure_rate="10%")  # fmt: skip

        def offered() -> list[str]:
            found = [d for d, k in keys.items() if _checkin(client, k, "1.0.0") is not None]
            return found if len(found) == 2 else []  # 50% of 4, once the stage has started

        canaries = _wait(offered, "the canary stage")
        for device in canaries:
            _checkin(client, keys[device], "1.1.0")
            now = time.time()
            records = [{"t": now - i, "p": "0", "l": 3.0, **({"e": "tensor arena overflow"}
                        if i % 2 else {})} for i in range(40)]  # fmt: skip
            answer = client.post("/api/v1/projects/motion/telemetry",
                                 json={"m": trained.model.version.number, "records": records},
                                 headers={"x-api-key": keys[device]})  # fmt: skip
            assert answer.status_code == 202 and answer.json()["accepted"] == 40

        # nobody calls check(): the server's monitor scheduler raises the alert, marks the
        # canaries failed, and the fleet scheduler rolls back
        def rolled_back() -> dict[str, Any] | None:
            status = ws.fleet.rollout(rollout["id"])
            return status if status["state"] == "rolled-back" else None

        status = _wait(rolled_back, "the rollback")
    # one failing canary of two already exceeds the 10% failure rate: the scheduler may roll
    # back before the monitor has seen the second one's telemetry
    assert status["devices"].get("failed", 0) >= 1 and "failed" in status["reason"]

    def alert_on_both() -> dict[str, Any] | None:
        found = [a for a in ws.monitoring.alerts() if a["kind"] == "device_errors"]
        named = sorted(found[0]["details"]["devices"]) if found else []
        return found[0] if named == sorted(canaries) else None

    alert = _wait(alert_on_both, "the alert naming both canaries")
    assert alert["model"] == f"v{trained.model.version.number}"
    [monitor] = ws.monitoring.monitors()
    assert monitor["last_run_at"] is not None
    [run] = ws.monitoring.check(monitor="canary")  # the group resolves to its members
    assert sorted(d["device"] for d in run["devices"]) == sorted(canaries)


def test_each_period_is_claimed_by_exactly_one_process(
    ws: Workspace, tmp_path: Path, database_url: str
) -> None:
    """Four server processes (two workspaces, two threads each) on one database, SQLite and
    PostgreSQL: every due monitor is claimed once, none twice."""
    names = {f"m-{n}" for n in range(8)}
    for name in names:
        ws.monitoring.add_monitor(name, model="production", window="500")
    other = Workspace(tmp_path / "home", database_url=database_url)
    try:
        now = datetime.now(UTC)
        start = threading.Barrier(4)
        won: list[list[tuple[str, str]]] = []

        def claim(workspace: Workspace) -> None:
            start.wait()
            won.append(schedule.claim_due(workspace, now, every_s=60))

        threads = [threading.Thread(target=claim, args=(w,)) for w in (ws, other, ws, other)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        claimed = [monitor for part in won for _, monitor in part]
        assert len(won) == 4 and sorted(claimed) == sorted(names)  # each exactly once
        assert schedule.claim_due(other, now + timedelta(seconds=30), every_s=60) == []
        again = schedule.claim_due(other, now + timedelta(seconds=60), every_s=60)
        assert sorted(m for _, m in again) == sorted(names)
    finally:
        other.close()


def test_a_failing_monitor_does_not_stop_the_others(trained: Trained) -> None:
    ws = trained.ws
    ws.monitoring.add_monitor("no-such-model", model="v99", window="1h")
    ws.monitoring.add_monitor("fine", model="latest", window="1h")
    later = datetime.now(UTC) + timedelta(days=3)
    results = schedule.step(ws, every_s=60, now=later)
    assert "fine" in [r["monitor"] for r in results]
    assert "no-such-model" not in [r["monitor"] for r in results]
