"""A worker killed with SIGKILL in the middle of `train`: its lease runs out, another worker
finishes the run, and exactly one model version exists."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select
from tests.automation.conftest import RECIPE, workflow

from edgeops.automation.worker import Worker
from edgeops.store.tables import Job, ModelVersion
from edgeops.workspace import Workspace

LEASE_S = 1.5
# Slow enough that the kill lands while the forest is being fitted.
SLOW = {**RECIPE, "learner": {"name": "trees", "params": {"trees": 400, "max_depth": 12}}}


def _train_job(ws: Workspace) -> Job | None:
    with ws.session() as session:
        return session.scalar(select(Job).where(Job.step == "train"))


def _wait(condition: object, seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigkill_mid_train_finishes_once_on_another_worker(
    auto_ws: Workspace, tmp_path: Path
) -> None:
    ws = auto_ws
    spec = workflow()
    spec["steps"][1]["with"]["recipe"] = SLOW  # type: ignore[index]
    ws.automation.apply(spec)
    run = ws.automation.run("retrain")
    assert run is not None
    env = {**os.environ, "EDGEOPS_HOME": str(tmp_path / "home"), "EDGEOPS_PROJECT": "test",
           "EDGEOPS_DATABASE_URL": ws.settings.resolved_database_url()}  # fmt: skip
    victim = subprocess.Popen(
        [sys.executable, "-m", "edgeops", "worker", "--lease", str(LEASE_S), "--poll", "0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # The heartbeat publishes the step's log: "training …" means fit has begun.
        _wait(lambda: (job := _train_job(ws)) is not None and "training" in job.log)
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(10)
    finally:
        if victim.poll() is None:
            victim.kill()
    killed = _train_job(ws)
    assert killed is not None and killed.status == "running" and killed.attempts == 1
    assert killed.lease_owner is not None and str(victim.pid) in killed.lease_owner

    survivor = Worker(ws, name="survivor", lease_s=LEASE_S)

    def finished() -> bool:
        survivor.run_until_idle()
        return ws.automation.get_run(run["id"])["status"] not in ("queued", "running")

    _wait(finished)
    done = ws.automation.get_run(run["id"])
    assert done["status"] == "succeeded", done
    train = {s["step"]: s for s in done["steps"]}["train"]
    assert train["attempts"] == 2 and train["output"]["model"] == "v1"
    assert "expired: worker lost" in ws.automation.logs(run["id"])
    with ws.session() as session:
        assert session.scalar(select(func.count()).select_from(ModelVersion)) == 1
