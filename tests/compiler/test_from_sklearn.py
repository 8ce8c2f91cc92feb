"""A scikit-learn random forest compiled to C predicts exactly what scikit-learn predicts."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from tests.compiler.conftest import check_compiled

from edgeops.compiler import reference
from edgeops.compiler.from_sklearn import float32_at_most, forest_to_ir
from edgeops.errors import InvalidInput


@given(threshold=st.floats(-1e6, 1e6), x=st.floats(-1e6, 1e6, width=32))
def test_float32_threshold_compares_like_sklearn(threshold: float, x: float) -> None:
    lowered = float32_at_most(np.array([threshold]))[0]
    assert np.float32(lowered) == lowered  # representable on a float-only device
    assert (np.float32(x) <= np.float32(lowered)) == (float(np.float32(x)) <= threshold)


@pytest.mark.parametrize("max_depth", [None, 7])
def test_digits_forest_matches_predict_proba_argmax_on_every_row(max_depth: int | None) -> None:
    """Fully grown trees (one-hot leaves) and shallow ones (fractional leaves)."""
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    train = rng.permutation(len(x))[:1200]
    forest = RandomForestClassifier(n_estimators=25, max_depth=max_depth, random_state=0)
    forest.fit(x[train], y[train])
    graph = forest_to_ir(forest, [str(c) for c in forest.classes_])
    expected = forest.predict_proba(x)
    np.testing.assert_allclose(reference.run(graph, x), expected, atol=1e-12)
    sklearn_top = expected.argmax(1)
    report = check_compiled(graph, x, labels=sklearn_top)  # "accuracy" against scikit-learn
    assert report.rows == 1797
    assert report.compiled_accuracy_percent == 100.0  # 0 mismatches with scikit-learn
    assert report.label_agreement_percent == 100.0  # and with the Python reference


def test_continuous_features_use_exact_thresholds() -> None:
    """Thresholds are float64 midpoints between float32 values: the C compares exactly."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(600, 5)).astype(np.float32)
    y = (x[:, 0] * x[:, 1] > 0).astype(int) + (x[:, 2] > 0.3)
    forest = RandomForestClassifier(n_estimators=8, random_state=1).fit(x, y)
    graph = forest_to_ir(forest, ["low", "mid", "high"])
    report = check_compiled(graph, x, labels=forest.predict_proba(x).argmax(1))
    assert report.compiled_accuracy_percent == 100.0


def test_thresholds_between_adjacent_float32_values() -> None:
    """Neighbouring float32 values with different labels: each threshold is a float64 midpoint
    that rounds to one of its neighbours in float32, so a nearest-float32 threshold would send
    half of the points the wrong way."""
    rng = np.random.default_rng(6)
    ulp = np.spacing(np.float32(1e4))  # sklearn ignores gaps under 1e-7: use big values
    column = np.float32(1e4) + np.arange(400, dtype=np.float32) * ulp
    x = np.stack([column, rng.normal(size=400).astype(np.float32)], axis=1)
    y = rng.integers(0, 2, size=400)
    forest = RandomForestClassifier(n_estimators=3, bootstrap=False, random_state=0).fit(x, y)
    sklearn_top = forest.predict_proba(x).argmax(1)
    report = check_compiled(forest_to_ir(forest, ["a", "b"]), x, labels=sklearn_top)
    assert report.compiled_accuracy_percent == 100.0


def test_refuses_unfitted_models_and_wrong_labels() -> None:
    with pytest.raises(InvalidInput, match="fitted"):
        forest_to_ir(RandomForestClassifier(), ["a"])
    forest = RandomForestClassifier(n_estimators=2).fit([[0.0], [1.0]], [0, 1])
    with pytest.raises(InvalidInput, match="3 labels for a model of 2 classes"):
        forest_to_ir(forest, ["a", "b", "c"])
