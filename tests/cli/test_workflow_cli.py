"""`edgeops workflow new` as a user runs it: the template is a workflow that validates."""

from pathlib import Path

import yaml
from tests.cli.conftest import Run


def test_new_writes_a_workflow_that_validates(edgeops: Run, tmp_path: Path) -> None:
    assert edgeops("recipe", "new", "--template", "motion", "--out", "motion.yaml").returncode == 0

    made = edgeops("workflow", "new", "retrain.yaml", "--recipe", "motion.yaml")
    assert made.returncode == 0, made.stderr
    spec = yaml.safe_load((tmp_path / "retrain.yaml").read_text())
    steps = {step["id"]: step for step in spec["steps"]}
    assert steps["train"]["with"]["recipe"] == "motion.yaml"
    assert steps["promote"]["with"]["model"] == "${train.model}"

    checked = edgeops("workflow", "validate", "retrain.yaml")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("ok retrain · 7 steps")

    again = edgeops("workflow", "new", "retrain.yaml")
    assert again.returncode == 2 and "--force" in again.stderr
