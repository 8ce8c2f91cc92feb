"""The `edgeops` command run as a user runs it: a real process in its own home."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def edgeops(tmp_path: Path) -> Run:
    """`edgeops(*args, stdin=None)` runs the command with a fresh EDGEOPS_HOME, as user 'ops'."""
    env = {**os.environ, "EDGEOPS_HOME": str(tmp_path / "home"), "COLUMNS": "200",
           "EDGEOPS_USER": "ops"}  # fmt: skip
    env.pop("EDGEOPS_DATABASE_URL", None)
    env.pop("EDGEOPS_PROJECT", None)

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edgeops", *args], env=env, text=True, capture_output=True,
            cwd=tmp_path, timeout=120, input=stdin,
        )  # fmt: skip

    return run
