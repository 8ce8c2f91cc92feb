"""Bring your own model: an ONNX file registered behind a recipe builds and verifies like a
trained model."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgeops.compiler.onnx_export import to_bytes
from edgeops.errors import InvalidInput
from edgeops.recipes.spec import Recipe
from edgeops.targets import build
from edgeops.targets.byom import import_onnx
from edgeops.training.registry import load_graph
from edgeops.workspace import Workspace


@pytest.mark.slow
def test_imported_onnx_model_tests_builds_and_verifies(
    motion: tuple[Workspace, str], tmp_path: Path
) -> None:
    ws, ref = motion
    trained = ws.models.get(ref)
    path = tmp_path / "net.onnx"
    path.write_bytes(to_bytes(load_graph(ws.blobs, trained.version)))
    recipe = Recipe.model_validate(trained.recipe)
    model = import_onnx(ws, path, recipe, labels=list(trained.labels))
    assert model.learner == "onnx" and model.labels == trained.labels
    assert model.metrics["testing"]["accuracy"] == trained.metrics["testing"]["accuracy"]
    assert model.training["imported_from"] == "net.onnx"
    report = build(ws, f"v{model.number}", "c", tmp_path / "c", verify=True)
    assert report.verify is not None and report.verify["int8_mismatches"] == 0 and report.passed
    with pytest.raises(InvalidInput, match="4 outputs but 2 labels"):
        import_onnx(ws, path, recipe, labels=["a", "b"])
    env = {**os.environ, "EDGEOPS_HOME": str(ws.settings.home)}
    env.pop("EDGEOPS_DATABASE_URL", None)
    recipe_file = tmp_path / "recipe.json"
    recipe_file.write_text(recipe.model_dump_json())
    command = [sys.executable, "-m", "edgeops", "models", "import", str(path), "--recipe",
               str(recipe_file)]  # fmt: skip
    refused = subprocess.run([*command, "--labels", "a,b"], env=env, capture_output=True,
                             text=True)  # fmt: skip
    assert refused.returncode == 2 and "4 outputs but 2 labels" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    imported = subprocess.run([*command, "--labels", ",".join(trained.labels)], env=env,
                              capture_output=True, text=True)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "imported net.onnx" in imported.stdout
