"""scikit-learn models as IR graphs (for the compiler's tests and for learners built on them)."""

from typing import Any

import numpy as np

from edgeops.compiler.ir import Graph, Op, Tensor, TreeEnsemble
from edgeops.errors import InvalidInput


def float32_at_most(thresholds: np.ndarray) -> np.ndarray:
    """Each threshold as the largest float32 not above it. scikit-learn casts X to float32 and
    tests `x <= threshold` with a float64 threshold; for float32 x that is exactly
    `x <= float32_at_most(threshold)`, a comparison a float-only device can make."""
    values = np.asarray(thresholds, dtype=np.float64)
    rounded = values.astype(np.float32)
    above = rounded.astype(np.float64) > values
    lowered = np.nextafter(rounded, np.float32(-np.inf))
    return np.where(above, lowered, rounded).astype(np.float64)


def _leaf_probabilities(value: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows of class probabilities, normalised as `DecisionTreeClassifier.predict_proba` does."""
    proba = np.asarray(value, dtype=np.float64)[:, 0, :n_classes]
    normalizer = proba.sum(axis=1, keepdims=True)
    normalizer[normalizer == 0.0] = 1.0
    return np.asarray(proba / normalizer)


def forest_to_ir(model: Any, labels: list[str]) -> Graph:
    """A fitted `RandomForestClassifier` (or `ExtraTreesClassifier`, or a single
    `DecisionTreeClassifier`) as a `tree_ensemble` graph whose output is predict_proba."""
    estimators = getattr(model, "estimators_", None) or [model]
    n_classes = int(getattr(model, "n_classes_", 0) or 0)
    n_features = int(getattr(model, "n_features_in_", 0) or 0)
    if not n_classes or not n_features or not hasattr(estimators[0], "tree_"):
        raise InvalidInput("forest_to_ir takes a fitted scikit-learn tree classifier")
    if len(labels) != n_classes:
        raise InvalidInput(f"{len(labels)} labels for a model of {n_classes} classes")
    trees = TreeEnsemble([], [], [], [], [])
    for estimator in estimators:
        tree = estimator.tree_
        trees.feature.append(np.asarray(tree.feature, dtype=np.int64))
        trees.threshold.append(float32_at_most(tree.threshold))
        trees.left.append(np.asarray(tree.children_left, dtype=np.int64))
        trees.right.append(np.asarray(tree.children_right, dtype=np.int64))
        trees.value.append(_leaf_probabilities(tree.value, n_classes))
    tensors = {
        "input": Tensor("input", (n_features,)),
        "proba": Tensor("proba", (n_classes,)),
    }
    op = Op("tree_ensemble", ["input"], ["proba"], {"trees": trees, "n_classes": n_classes})
    graph = Graph(["input"], ["proba"], tensors, [op], "classification", list(labels))
    graph.check()
    return graph
