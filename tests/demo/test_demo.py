"""`make demo` is the first thing a new user runs: it must work end to end, and each stage of the
closed loop must reach its outcome (checked in the demo's workspace, not just in its output)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from edgeops.workspace import Workspace

DEVICES = 10  # the loop is the same with 50; fewer keeps the suite lean


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("demo") / "demo"
    env = {**os.environ, "COLUMNS": "160"}
    env.pop("EDGEOPS_HOME", None)
    result = subprocess.run(
        [sys.executable, "-m", "edgeops", "demo", "--home", str(folder), "--no-serve",
         "--devices", str(DEVICES)],
        capture_output=True, text=True, timeout=600, env=env, cwd=folder.parent,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    return folder, result.stdout + result.stderr


@pytest.mark.slow
def test_demo_runs_the_whole_story(demo: tuple[Path, str]) -> None:
    folder, output = demo
    assert "80 imported · 2 failed" in output
    assert "signature does not match the HMAC key" in output
    assert "2 relabelled · 1 moved" in output
    assert output.count("200 watch.") == 5
    assert "audit log intact" in output
    assert "valid · hash" in output
    with Image.open(folder / "features.png") as plot:
        assert plot.size[0] >= 400
    assert "model v1 · nn-classifier" in output and "model v2 · trees" in output
    assert "production → v2" in output
    assert (folder / "confusion.png").stat().st_size > 10_000
    assert "Traceback" not in output


@pytest.mark.slow
def test_the_loop_closes(demo: tuple[Path, str]) -> None:
    folder, output = demo
    summary = json.loads((folder / "summary.json").read_text())
    drifted = set(summary["facts"]["drifted"])
    assert len(drifted) == DEVICES // 2
    with Workspace(folder / "home", create=False) as ws:
        # shipped: C verified by gcc and a Linux build of production, released and rolled out
        first = ws.models.show("v2")["artifacts"]
        assert {"build/c/float", "build/linux/float"} <= set(first)
        assert "label agreement" in output and "release watch/1.0.0 signed" in output

        # drift detected: a data-drift alert on v2 naming injected watches, and only those
        alerts = ws.monitoring.alerts(status=None)
        [drift] = [a for a in alerts if a["kind"] == "data_drift"]
        named = {d["device"] for d in drift["details"]["devices"]}
        assert drift["model"] == "v2" and named and named <= drifted
        assert len(named) >= 0.8 * len(drifted)
        assert any(f["feature"].startswith(("spectral", "flatten")) for f in
                   drift["details"]["features"])  # fmt: skip

        # retrain released: the run the alert started passed its gate and shipped v3
        [run] = ws.automation.runs()
        assert run["trigger"]["kind"] == "alert" and run["trigger"]["alert"] == drift["id"]
        steps = {s["step"]: s for s in ws.automation.get_run(run["id"])["steps"]}
        assert run["status"] == "succeeded"
        assert steps["gate"]["output"]["passed"] is True
        assert steps["gate"]["output"]["accuracy"] > steps["gate"]["output"]["baseline_accuracy"]
        assert steps["release"]["output"]["release"] == "watch/1.0.1"
        assert steps["release"]["output"]["model"] == steps["train"]["output"]["model"] == "v3"
        assert ws.models.show("production")["number"] == 3
        versions = {d["installed_release"] for d in ws.fleet.devices()}
        assert versions == {"1.0.1"}
        # the new model was trained on a dataset version holding the collected windows
        collected = [s for s in ws.data.samples() if s.filename.startswith("collected.")]
        assert len(collected) == 240
        trained_on = ws.data.version(ws.models.show("v3")["dataset_version"])
        assert trained_on.sample_count >= 80 + len(collected)

        # drift cleared: the check on v3's telemetry found nothing, and no alert is active
        last = summary["checks"][-1]
        assert last["model"] == "v3" and last["findings"] == 0
        assert ws.monitoring.alerts(status="active") == []
        assert drift["id"] in {a["id"] for a in ws.monitoring.alerts(status="resolved")}
    assert summary["checks"][1]["accuracy"]["drifted"] < 0.8 < last["accuracy"]["drifted"]
    report = (folder / "report.html").read_text()
    assert "drift.png" in report and "watch/1.0.1" in report
    assert (folder / "drift.png").stat().st_size > 10_000
