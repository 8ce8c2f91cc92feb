"""`edgeops build` as a user runs it: a real process on a workspace with a trained model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeops.store.tables import ModelVersion
from edgeops.workspace import Workspace

pytestmark = pytest.mark.slow  # each case runs the real command on a trained model


def _edgeops(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EDGEOPS_HOME": str(ws.settings.home), "COLUMNS": "200"}
    env.pop("EDGEOPS_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "edgeops", "build", *args], env=env, text=True,
                          capture_output=True, timeout=300)  # fmt: skip


def test_build_prints_a_report_and_json(motion: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, ref = motion
    shown = _edgeops(ws, ref, "--target", "c", "--verify", "-o", str(tmp_path / "c"))
    assert shown.returncode == 0, shown.stderr
    for text in ("int8 mismatches", "label agreement", "cortex-m4f", "flash", "MACs"):
        assert text in shown.stdout
    out = _edgeops(ws, ref, "-t", "linux", "--float", "-o", str(tmp_path / "l"), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["precision"] == "float" and report["artifact"] == "build/linux/float"
    assert report["verify"] is None and report["passed"] is True


def test_bad_input_exits_2_with_one_line(motion: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, ref = motion
    with ws.session() as session:  # a model registered without a compiled form
        model = session.query(ModelVersion).filter_by(number=int(ref[1:])).one()
        copy = {c.name: getattr(model, c.name) for c in ModelVersion.__table__.columns}
        copy.update(id=None, number=900, artifacts={"learner": model.artifacts["learner"]})
        session.add(ModelVersion(**copy))
        session.commit()
    for args, message in [
        ((ref, "--target", "esp", "-o", "x"), "unknown target 'esp'"),
        (("v900", "--target", "c", "-o", "x"), "has no compiled form"),
        (("v77", "--target", "c", "-o", "x"), "no model v77"),
    ]:
        result = _edgeops(ws, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
