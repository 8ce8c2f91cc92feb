"""A trained model on real data (BasicMotions, a forest for speed) and its feature matrix, once
per module: the fleet replays draw their telemetry from it."""

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from edgeops.demo import HMAC_KEY, NN_LEARNER, RECIPE, TREES_LEARNER, write_recordings
from edgeops.recipes.extract import extract
from edgeops.recipes.spec import load_recipe_file
from edgeops.training import registry
from edgeops.workspace import Model, Workspace


@dataclass
class Trained:
    ws: Workspace
    model: Model
    X: np.ndarray
    labels: list[str]
    predicted: np.ndarray


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    folder = tmp_path_factory.mktemp("monitoring")
    ws = Workspace(folder / "home")
    ws.projects.create("motion")
    ws.data.import_files(write_recordings(folder / "recordings"), hmac_key=HMAC_KEY)
    version = ws.data.commit("BasicMotions")
    recipe_file = folder / "trees.yaml"
    recipe_file.write_text(RECIPE.replace(NN_LEARNER, TREES_LEARNER))
    model = ws.train(recipe_file, seed=1)
    features = extract(
        ws,
        load_recipe_file(recipe_file),
        version.id,
        states=registry.feature_states(ws.blobs, model.version),
    )
    learner = registry.load_learner(ws.blobs, model.version)
    predicted = learner.predict(features.X).argmax(axis=1)
    yield Trained(ws, model, features.X, list(model.labels), predicted)
    ws.close()
