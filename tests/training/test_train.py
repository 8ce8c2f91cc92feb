"""Training end to end on real data: import → commit → train → test → registry."""

from pathlib import Path

import numpy as np
import pytest

from edgeops.errors import InvalidInput, NotFound
from edgeops.recipes.spec import load_recipe_file
from edgeops.workspace import Workspace

# BasicMotions' four activities are well separated by spectral + statistical features; chance
# is 25%, and a pipeline that scrambled labels, windows or features could not reach this.
ACCURACY_FLOOR = 0.8


def _recipe(path: Path, learner: dict) -> object:
    recipe = load_recipe_file(path)
    return recipe.model_copy(update={"learner": type(recipe.learner).model_validate(learner)})


def test_nn_trains_tests_and_reproduces(motion: tuple[Workspace, Path]) -> None:
    ws, recipe = motion
    epochs: list[int] = []
    first = ws.train(recipe, seed=3, on_epoch=lambda e, total, m: epochs.append(e))
    second = ws.train(recipe, seed=3)
    testing = first.metrics["testing"]
    assert testing["accuracy"] >= ACCURACY_FLOOR
    assert first.metrics == second.metrics
    assert epochs == list(range(1, 31))
    assert len(first.training["history"]) == 30
    assert set(testing["per_class"]) == {"badminton", "running", "standing", "walking"}
    matrix = np.array(testing["confusion"]["matrix"])
    assert matrix.sum() == testing["windows"] and np.trace(matrix) / matrix.sum() == pytest.approx(
        testing["accuracy"], abs=1e-6
    )
    assert "device_id" in testing["groups"]
    assert {"learner", "ir", "onnx", "states"} <= set(first.artifacts)
    assert first.dataset_version_id == ws.data.versions()[0].id
    assert second.number == first.number + 1 and first.seed == 3


def test_trees_with_an_anomaly_learner(motion: tuple[Workspace, Path]) -> None:
    ws, path = motion
    recipe = _recipe(path, {"name": "trees", "params": {"trees": 10}})
    recipe = recipe.model_copy(update={"anomaly": type(recipe.learner).model_validate(
        {"name": "anomaly-kmeans", "params": {"clusters": 8}})})  # fmt: skip
    model = ws.train(recipe, seed=0)
    assert model.metrics["testing"]["accuracy"] >= ACCURACY_FLOOR
    assert 0 <= model.metrics["anomaly"]["flagged_rate"] <= 0.5
    sample = next(s for s in ws.data.samples() if s.category == "testing")
    (result,) = model.predict([sample.id])
    assert result["label"] in model.labels and "anomaly" in result
    assert abs(sum(result["scores"].values()) - 1) < 1e-6
    values = ws.data.values(sample)
    (raw,) = model.predict([values])
    assert raw["label"] == result["label"] and raw["scores"] == result["scores"]
    noise = np.random.default_rng(0).normal(0, 50, size=values.shape).astype(np.float32)
    (odd,) = model.predict([noise])
    assert odd["anomalous"] is True


def test_registry_aliases_compare_and_audit(motion: tuple[Workspace, Path]) -> None:
    ws, path = motion
    a = ws.train(_recipe(path, {"name": "trees", "params": {"trees": 2, "max_depth": 2}}))
    b = ws.train(_recipe(path, {"name": "trees", "params": {"trees": 20}}), parent=f"v{a.number}")
    assert ws.models.alias("production", f"v{a.number}") is None
    assert ws.models.alias("production", str(b.number)) == f"v{a.number}"
    assert ws.models.get("production").number == b.number
    assert ws.models.show("production")["parent"] == f"v{a.number}"
    listed = {m["model"]: m for m in ws.models.list()}
    assert listed[f"v{b.number}"]["aliases"] == ["production"]
    report = ws.models.compare(f"v{a.number}", f"v{b.number}")
    row = next(r for r in report["metrics"] if r["metric"] == "testing.accuracy")
    assert row["delta"] == pytest.approx(row["b"] - row["a"])
    assert "recipe_hash" in report["lineage_differs"]
    moves = ws.audit.events(action="model.alias")
    assert moves[0].details == {"alias": "production", "from": f"v{a.number}",
                                "to": f"v{b.number}"}  # fmt: skip
    assert ws.audit.verify().ok


def test_bad_requests_are_clear(motion: tuple[Workspace, Path]) -> None:
    ws, path = motion
    with pytest.raises(InvalidInput, match="not a model"):
        ws.models.get("prod")
    with pytest.raises(NotFound, match="no model v999"):
        ws.models.get("v999")
    with pytest.raises(InvalidInput, match="alias 'live' is not one of"):
        ws.models.alias("live", "latest")
    regressor = _recipe(path, {"name": "nn-regressor", "params": {"epochs": 1}})
    with pytest.raises(InvalidInput, match="numeric labels"):
        ws.train(regressor)


def test_image_recipe_trains_a_conv_net_on_real_digits(tmp_path: Path) -> None:
    """scikit-learn's 8x8 digits as PNG files: the image block and conv2d through training."""
    from PIL import Image
    from sklearn.datasets import load_digits

    from edgeops.recipes.spec import load_recipe

    digits = load_digits()
    for index in range(300):
        pixels = (digits.images[index] * 16).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(tmp_path / f"{digits.target[index]}.{index}.png")
    ws = Workspace(tmp_path / "home")
    ws.projects.create("digits")
    ws.data.import_files([tmp_path])
    ws.data.commit("digits")
    recipe = load_recipe("""
name: digits
input: {kind: image, width: 8, height: 8, channels: 1}
features: [{name: image, params: {width: 8, height: 8, resize: squash}}]
learner:
  name: nn-classifier
  params: {layers: [{conv2d: 8, kernel: 3}, {max_pool: 2}, {dense: 16}], epochs: 30,
           learning_rate: 0.005}
""")
    model = ws.train(recipe)
    assert model.metrics["testing"]["accuracy"] >= 0.8  # 10 classes: chance is 10%
    from edgeops.training.registry import load_graph

    kinds = [op.kind for op in load_graph(ws.blobs, model.version).ops]
    assert kinds[:4] == ["scale", "reshape", "conv2d", "relu"] and "max_pool2d" in kinds
    wrong = recipe.model_copy(update={"input": recipe.input.model_copy(update={"width": 9})})
    with pytest.raises(InvalidInput, match=r"shape \(8, 8, 1\).*input is \(8, 9, 1\)"):
        ws.train(wrong)
    ws.close()
