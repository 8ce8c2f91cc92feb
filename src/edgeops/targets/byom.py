"""Bring your own model: register an ONNX file as a model version, behind a recipe's feature
blocks, so it builds for every target like a trained one.

The ONNX model must take the recipe's feature vector (or its channels-first view, as PyTorch
exports convolutions) and use the op set of `compiler/onnx_import.py`. Feature-block states are
fitted on the dataset version's training split, and the model is tested on its testing split
(metrics["testing"]), as training would. The version's learner is `onnx`: it has an `ir` but no
trained learner state, so it builds and verifies, but `Model.predict` (which runs learners in
Python) does not apply to it."""

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgeops.compiler import reference
from edgeops.compiler.onnx_import import import_model
from edgeops.compiler.serialize import to_bytes
from edgeops.data import projects
from edgeops.errors import InvalidInput
from edgeops.recipes.extract import extract
from edgeops.recipes.spec import Recipe, validate
from edgeops.store import db
from edgeops.store.tables import ModelVersion
from edgeops.training import evaluate, registry

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

MAX_ONNX_BYTES = 200 * 1024 * 1024


def import_onnx(
    ws: "Workspace",
    path: Path,
    recipe: Recipe,
    *,
    labels: list[str] | None = None,
    data: str | None = None,
    project: str | None = None,
) -> ModelVersion:
    """Register the ONNX model at `path` as a new model version of the project."""
    if not path.is_file():
        raise InvalidInput(f"{path}: no such ONNX file")
    if path.stat().st_size > MAX_ONNX_BYTES:
        raise InvalidInput(f"{path.name} is larger than {MAX_ONNX_BYTES // 2**20} MiB")
    content = path.read_bytes()
    graph = import_model(content, labels=labels)
    recipe = validate(recipe)
    with ws.session() as session:
        proj = projects.get(session, project or ws.settings.project)
    versions = ws.data.versions(project=proj.name)
    if data is None and not versions:
        raise InvalidInput(f"project {proj.name!r} has no dataset version: run "
                           "`edgeops data commit` first")  # fmt: skip
    version = ws.data.version(data or versions[0].id, project=proj.name)
    features = extract(ws, recipe, version.id, project=proj.name)
    shape = graph.tensor(graph.inputs[0]).shape
    if int(np.prod(shape)) != features.X.shape[1]:
        raise InvalidInput(f"the ONNX model takes {int(np.prod(shape))} features {shape} but the "
                           f"recipe's blocks produce {features.X.shape[1]}")  # fmt: skip
    metrics = {}
    testing = np.array([c == "testing" for c in features.categories], dtype=bool)
    if graph.task == "classification":
        index = {label: i for i, label in enumerate(graph.labels)}
        truth = np.array([index.get(y, -1) if y is not None else -1 for y in features.y])
        rows = testing & (truth >= 0)
        if rows.any():
            outputs = reference.run(graph, features.X[rows].reshape(-1, *shape))
            metrics["testing"] = evaluate.classification(outputs, truth[rows], graph.labels)
    artifacts = {
        "ir": ws.blobs.put(to_bytes(graph)),
        "states": ws.blobs.put(json.dumps(features.states).encode()),
        "onnx": ws.blobs.put(content),
    }
    with ws.session() as session:
        proj = projects.get(session, proj.name)
        model = registry.add(
            session,
            proj,
            ws.actor,
            recipe,
            dataset_version_id=version.id,
            parent_id=None,
            learner="onnx",
            task=graph.task,
            labels=list(graph.labels),
            blocks=registry.block_versions(recipe, learners=False),
            seed=0,
            metrics=metrics,
            training={
                "imported_from": path.name,
                "onnx_sha256": hashlib.sha256(content).hexdigest(),
                "features": int(features.X.shape[1]),
                "feature_names": features.feature_names,
            },
            artifacts=artifacts,
        )
        db.commit(session, ws.blobs)
        return model
