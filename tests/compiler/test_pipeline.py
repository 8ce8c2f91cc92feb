"""The whole device pipeline in C: a raw 3-axis window through the recipe's feature blocks
(flatten + spectral, as the blocks emit them) and a dense net, against numpy features and the
Python references."""

import numpy as np
import pytest

from edgeops.compiler.ir import Graph, GraphBuilder
from edgeops.compiler.quantize import quantize
from edgeops.compiler.verify import python_features, verify
from edgeops.recipes.spec import Recipe, load_recipe

RECIPE = """
name: motion
input: {axes: [accX, accY, accZ], frequency_hz: 100, window_ms: 1000, stride_ms: 500}
features:
  - {name: flatten}
  - {name: spectral, params: {fft_length: 64, bands: 4, peaks: 2}}
learner: {name: nn-classifier}
"""


def motion_windows(n: int, seed: int) -> np.ndarray:
    """Three classes of motion: still, a 5 Hz shake, a 20 Hz vibration, with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(100) / 100.0
    windows = rng.normal(0, 0.2, size=(n, 100, 3))
    for i in range(n):
        frequency = [0.0, 5.0, 20.0][i % 3]
        phase = rng.uniform(0, 2 * np.pi, size=3)
        windows[i] += rng.uniform(0.5, 2) * np.sin(2 * np.pi * frequency * t[:, None] + phase)
    windows[:, :, 2] += 1.0  # gravity
    return windows.astype(np.float32)


def dense_net(features: np.ndarray) -> Graph:
    rng = np.random.default_rng(3)
    n = features.shape[1]
    builder = GraphBuilder((n,))
    std = features.std(axis=0)
    builder.op("scale", (n,), {"mean": features.mean(axis=0), "std": np.where(std > 0, std, 1)})
    builder.op("dense", (16,), {"w": rng.normal(size=(16, n)) * 0.3, "b": rng.normal(size=16)})
    builder.op("relu", (16,))
    builder.op("dense", (3,), {"w": rng.normal(size=(3, 16)), "b": rng.normal(size=3)})
    builder.op("softmax", (3,))
    return builder.build("classification", ["still", "shake", "vibration"])


@pytest.fixture(scope="module")
def setup() -> tuple[Recipe, np.ndarray, np.ndarray, Graph]:
    recipe = load_recipe(RECIPE)
    windows = motion_windows(90, seed=1)
    features = python_features(recipe, None, windows)
    assert features.shape == (90, 3 * 7 + 3 * (4 + 2 * 2))
    return recipe, windows, features, dense_net(features)


def test_float_pipeline_matches_numpy_features_and_reference(setup) -> None:
    recipe, windows, features, graph = setup
    report = verify(graph, windows, recipe=recipe, measure=False)
    assert report.feature_max_abs_error is not None
    assert report.feature_max_abs_error <= 1e-4 * np.abs(features).max()
    assert report.max_abs_error <= 1e-5
    assert report.end_to_end_max_abs_error <= 1e-3
    assert report.label_agreement_percent == 100.0


def test_int8_pipeline_is_bit_exact(setup) -> None:
    recipe, windows, features, graph = setup
    quantized = quantize(graph, features[:45])
    report = verify(quantized, windows, recipe=recipe, float_graph=graph)
    assert report.int8_mismatches == 0
    assert report.end_to_end_max_abs_error <= 0.1
    assert report.label_agreement_percent >= 95
    assert report.host is not None and report.host.bss_bytes >= report.arena_bytes
    assert report.host.flash_bytes > 0
    assert "eo_flatten_" in report.sources["edgeops.c"]
    assert "eo_spectral_" in report.sources["edgeops.c"]
