"""Every learner: fits synthetic separable data, exports a complete IR that computes what the
learner computes, and round-trips through save/load."""

import numpy as np
import pytest

from edgeops.blocks import registry
from edgeops.blocks.learn.base import FitContext
from edgeops.compiler import reference
from edgeops.errors import InvalidInput

LABELS = ("idle", "shake", "wave")


def blobs(n: int = 240, features: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian clusters far apart: any working classifier separates them."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    centres = rng.normal(0, 4, size=(3, features))
    X = centres[y] + rng.normal(0, 0.5, size=(n, features))
    return X.astype(np.float32), y.astype(np.int64)


CLASSIFIERS = [
    ("nn-classifier", {"epochs": 40, "learning_rate": 0.01}),
    ("nn-classifier", {"layers": [{"conv1d": 4, "kernel": 3, "batch_norm": True},
                                  {"max_pool": 2}, {"dropout": 0.1}, {"dense": 8}],
                       "input_shape": [6, 2], "epochs": 40, "learning_rate": 0.01}),
    ("nn-classifier", {"layers": [{"conv2d": 4, "kernel": 3}, {"dsconv2d": 6, "kernel": 3,
                                  "activation": "relu6", "batch_norm": True}, {"avg_pool": 2}],
                       "input_shape": [4, 3, 1], "epochs": 40, "learning_rate": 0.01}),
    ("trees", {"trees": 5, "max_depth": 4}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "params"), CLASSIFIERS, ids=["mlp", "conv1d", "dsconv2d", "trees"]
)
def test_classifier_separates_and_exports(name: str, params: dict) -> None:
    X, y = blobs()
    learner = registry.get_learner(name)(params)
    learner.fit(X[:180], y[:180], FitContext(labels=LABELS, seed=1))
    probabilities = learner.predict(X[180:])
    assert probabilities.shape == (60, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert (probabilities.argmax(axis=1) == y[180:]).mean() >= 0.95
    graph = learner.to_ir()
    assert graph.labels == list(LABELS) and graph.task == "classification"
    np.testing.assert_allclose(reference.run(graph, X[180:]), probabilities, atol=2e-5)
    again = type(learner).load(params, learner.save())
    np.testing.assert_array_equal(again.predict(X[180:]), probabilities)


def test_batch_norm_is_folded_into_the_exported_weights() -> None:
    X, y = blobs()
    params = {"layers": [{"dense": 8, "batch_norm": True}], "epochs": 5}
    learner = registry.get_learner("nn-classifier")(params)
    learner.fit(X, y, FitContext(labels=LABELS))
    kinds = [op.kind for op in learner.to_ir().ops]
    assert kinds == ["scale", "dense", "relu", "dense", "softmax"]


def test_same_seed_same_model_other_seed_other_model() -> None:
    X, y = blobs()
    params = {"epochs": 3, "augmentation": {"noise": 0.1}}
    runs = []
    for seed in (7, 7, 8):
        learner = registry.get_learner("nn-classifier")(params)
        learner.fit(X, y, FitContext(labels=LABELS, seed=seed))
        runs.append(learner.predict(X))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_early_stopping_reports_epochs_and_stops() -> None:
    X, y = blobs()
    seen: list[int] = []
    learner = registry.get_learner("nn-classifier")(
        {"epochs": 500, "early_stopping": 3, "learning_rate": 0.05}
    )
    context = FitContext(labels=LABELS, validation=(X[:30], y[:30]),
                         on_epoch=lambda epoch, total, metrics: seen.append(epoch))  # fmt: skip
    learner.fit(X, y, context)
    assert seen[0] == 1 and len(seen) < 500


def test_regressor_learns_a_linear_target() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    target = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 3
    learner = registry.get_learner("nn-regressor")({"epochs": 60, "learning_rate": 0.01})
    learner.fit(X, target, FitContext(seed=0))
    error = np.abs(learner.predict(X)[:, 0] - target).mean()
    assert error < 0.3
    np.testing.assert_allclose(reference.run(learner.to_ir(), X), learner.predict(X), atol=1e-4)


@pytest.mark.parametrize("name", ["anomaly-kmeans", "anomaly-gmm"])
def test_anomaly_scores_outliers_above_the_threshold(name: str) -> None:
    X, _ = blobs(300)
    learner = registry.get_learner(name)({"percentile": 99})
    learner.fit(X, np.zeros(len(X)), FitContext(seed=0))
    assert learner.threshold is not None
    inside = learner.predict(X)[:, 0]
    assert (inside > learner.threshold).mean() <= 0.02
    far = X[:20] + 25.0
    assert (learner.predict(far)[:, 0] > learner.threshold).all()
    again = type(learner).load({}, learner.save())
    np.testing.assert_allclose(again.predict(far), learner.predict(far))
    assert again.threshold == learner.threshold


def test_gmm_score_is_scikit_learns_negative_log_likelihood() -> None:
    from sklearn.mixture import GaussianMixture

    X, _ = blobs(300, features=3)
    learner = registry.get_learner("anomaly-gmm")({"components": 3})
    learner.fit(X, np.zeros(len(X)), FitContext(seed=0))
    mean, std = learner.state["mean"], learner.state["std"]
    scaled = (X - mean) / std
    model = GaussianMixture(3, random_state=0, reg_covar=1e-4).fit(scaled)
    np.testing.assert_allclose(learner.predict(X)[:, 0], -model.score_samples(scaled), atol=1e-5)


def test_trees_match_scikit_learn_exactly_on_digits() -> None:
    from sklearn.datasets import load_digits
    from sklearn.ensemble import RandomForestClassifier

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    learner = registry.get_learner("trees")({"trees": 10, "max_depth": 8})
    learner.fit(X, y, FitContext(labels=tuple(str(d) for d in range(10)), seed=3))
    model = RandomForestClassifier(10, max_depth=8, random_state=3, n_jobs=1).fit(X, y)
    np.testing.assert_allclose(learner.predict(X), model.predict_proba(X), atol=1e-12)


def test_bad_layers_are_refused_with_the_field_named() -> None:
    X, y = blobs()
    learner = registry.get_learner("nn-classifier")({"layers": [{"conv2d": 4}]})
    with pytest.raises(InvalidInput, match=r"layers\[0\] \(conv2d\).*input_shape"):
        learner.fit(X, y, FitContext(labels=LABELS))
    with pytest.raises(ValueError, match="exactly one of"):
        registry.get_learner("nn-classifier")({"layers": [{"dense": 4, "conv1d": 2}]})
    shaped = registry.get_learner("nn-classifier")({"input_shape": [5, 5]})
    with pytest.raises(InvalidInput, match="holds 25 values but windows have 12"):
        shaped.fit(X, y, FitContext(labels=LABELS))


def test_onnx_export_computes_the_same_probabilities() -> None:
    import onnxruntime

    X, y = blobs()
    learner = registry.get_learner("nn-classifier")({"epochs": 5})
    learner.fit(X, y, FitContext(labels=LABELS))
    session = onnxruntime.InferenceSession(learner.export_onnx())
    (out,) = session.run(None, {"features": X[:7]})
    np.testing.assert_allclose(out, learner.predict(X[:7]), atol=1e-5)
