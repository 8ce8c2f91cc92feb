"""Tree ensembles (scikit-learn random forest / extra trees), sized to fit a device.

After fitting, the learner keeps only the trees' node arrays (the IR's `TreeEnsemble`) and predicts
by walking them exactly as the generated C does: go left when x[feature] <= threshold, average the
leaves' class probabilities. That is scikit-learn's own rule, so predictions are identical."""

import io
import json
from typing import Any, Literal

import numpy as np
from pydantic import Field
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from edgeops.blocks.base import BlockParams
from edgeops.blocks.learn.base import FitContext, Learner, require_features
from edgeops.blocks.registry import register
from edgeops.compiler import reference
from edgeops.compiler.ir import Graph, GraphBuilder, TreeEnsemble
from edgeops.errors import InvalidInput

ARRAYS = ("feature", "threshold", "left", "right", "value")


class TreesParams(BlockParams):
    algorithm: Literal["random-forest", "extra-trees"] = "random-forest"
    trees: int = Field(20, ge=1, le=500, description="trees in the ensemble")
    max_depth: int = Field(8, ge=1, le=24, description="flash grows with 2^depth per tree")
    min_samples_leaf: int = Field(1, ge=1, le=10_000)
    class_weights: bool = Field(False, description="weigh classes by inverse frequency")


def ensemble_of(model: RandomForestClassifier | ExtraTreesClassifier) -> TreeEnsemble:
    """A fitted scikit-learn forest's node arrays, leaf values normalised to probabilities."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ARRAYS}
    for estimator in model.estimators_:
        tree = estimator.tree_
        value = tree.value[:, 0, :].astype(np.float64)
        value = value / np.maximum(value.sum(axis=1, keepdims=True), 1e-300)
        parts["feature"].append(tree.feature.astype(np.int32))
        parts["threshold"].append(tree.threshold.astype(np.float64))
        parts["left"].append(tree.children_left.astype(np.int32))
        parts["right"].append(tree.children_right.astype(np.int32))
        parts["value"].append(value)
    return TreeEnsemble(**parts)


@register
class Trees(Learner):
    """A random forest or extra-trees classifier: fast to train, exact on a device."""

    name = "trees"
    version = 1
    task = "classification"
    Params = TreesParams

    def __init__(self, params: BlockParams | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.ensemble: TreeEnsemble | None = None
        self.labels: list[str] = []
        self.features = 0

    def fit(self, X: np.ndarray, y: np.ndarray, context: FitContext) -> None:
        X = require_features(X)
        if len(X) == 0:
            raise InvalidInput("no training windows: the dataset version has no training samples")
        params = self.params
        assert isinstance(params, TreesParams)
        kind = (
            RandomForestClassifier if params.algorithm == "random-forest" else ExtraTreesClassifier
        )
        model = kind(
            n_estimators=params.trees, max_depth=params.max_depth,
            min_samples_leaf=params.min_samples_leaf, random_state=context.seed,
            class_weight="balanced" if params.class_weights else None, n_jobs=1,
        )  # fmt: skip
        y = np.asarray(y, dtype=np.int64)
        model.fit(X, y)
        self.labels = list(context.labels)
        self.features = X.shape[1]
        ensemble = ensemble_of(model)
        # A class missing from training has no column in scikit-learn's leaves: add zeros.
        classes = model.classes_.astype(np.int64)
        width = len(self.labels)
        ensemble.value = [_widen(v, classes, width) for v in ensemble.value]
        self.ensemble = ensemble

    def _trained(self) -> TreeEnsemble:
        if self.ensemble is None:
            raise InvalidInput("the trees learner is not trained yet")
        return self.ensemble

    def predict(self, X: np.ndarray) -> np.ndarray:
        return reference.tree_probabilities(self._trained(), require_features(X, self.features))

    def to_ir(self) -> Graph:
        builder = GraphBuilder((self.features,))
        builder.op("tree_ensemble", (len(self.labels),), trees=self._trained(),
                   n_classes=len(self.labels))  # fmt: skip
        return builder.build("classification", self.labels)

    def save(self) -> bytes:
        ensemble = self._trained()
        arrays = {f"{name}_{i}": array for name in ARRAYS
                  for i, array in enumerate(getattr(ensemble, name))}  # fmt: skip
        meta = json.dumps({"labels": self.labels, "features": self.features,
                           "trees": len(ensemble.feature)})  # fmt: skip
        buffer = io.BytesIO()
        np.savez(buffer, meta=np.array(meta), **arrays)
        return buffer.getvalue()

    @classmethod
    def load(cls, params: dict[str, Any], data: bytes) -> "Learner":
        saved = np.load(io.BytesIO(data), allow_pickle=False)
        meta = json.loads(str(saved["meta"]))
        learner = cls(params)
        learner.labels, learner.features = meta["labels"], meta["features"]
        learner.ensemble = TreeEnsemble(**{
            name: [saved[f"{name}_{i}"] for i in range(meta["trees"])] for name in ARRAYS
        })  # fmt: skip
        return learner


def _widen(value: np.ndarray, classes: np.ndarray, width: int) -> np.ndarray:
    full = np.zeros((value.shape[0], width))
    full[:, classes] = value
    return full
