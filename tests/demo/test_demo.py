"""`make demo` is the first thing a new user runs: it must work end to end."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image


@pytest.mark.slow
def test_demo_runs_the_whole_story(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    env = {**os.environ, "COLUMNS": "160"}
    env.pop("EDGEOPS_HOME", None)
    result = subprocess.run(
        [sys.executable, "-m", "edgeops", "demo", "--home", str(folder)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
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
