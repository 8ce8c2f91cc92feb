"""Whole models compiled to C: a digits MLP (float exact, int8 bit-exact and accurate), a
conv1d net and a depthwise-separable conv2d net (int8 bit-exact)."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from tests.compiler.conftest import check_compiled

from edgeops.compiler.ir import Graph, GraphBuilder, conv_output_length
from edgeops.compiler.quantize import quantize


def digits_mlp() -> tuple[Graph, np.ndarray, np.ndarray, np.ndarray]:
    """(graph, x, y, training row mask): 64-32-16-10 trained on 1,200 digits; the graph takes
    raw pixels and standardises them itself."""
    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    train = np.zeros(len(x), dtype=bool)
    train[np.random.default_rng(0).permutation(len(x))[:1200]] = True
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std[std == 0] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((32, 16), max_iter=300, random_state=0).fit(
            (x[train] - mean) / std, y[train]
        )
    builder = GraphBuilder((64,))
    builder.op("scale", (64,), {"mean": mean, "std": std})
    for index, (weight, bias) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        builder.op("dense", (len(bias),), {"w": weight.T, "b": bias})
        builder.op("relu" if index < len(mlp.coefs_) - 1 else "softmax", (len(bias),))
    return builder.build("classification", [str(c) for c in mlp.classes_]), x, y, train


@pytest.fixture(scope="module")
def mlp() -> tuple[Graph, np.ndarray, np.ndarray, np.ndarray]:
    return digits_mlp()


def test_digits_mlp_float_c_equals_reference(mlp) -> None:
    graph, x, y, _ = mlp
    report = check_compiled(graph, x, labels=y)
    assert report.label_agreement_percent == 100.0
    assert report.compiled_accuracy_percent == report.float_accuracy_percent


def test_digits_mlp_int8_is_bit_exact_and_within_a_point(mlp) -> None:
    graph, x, y, train = mlp
    quantized = quantize(graph, x[train][:300])
    test = ~train
    report = check_compiled(quantized, x[test], float_graph=graph, labels=y[test])
    assert report.int8_mismatches == 0
    assert report.rows == 597
    assert report.float_accuracy_percent > 90
    assert report.compiled_accuracy_percent >= report.float_accuracy_percent - 1.0
    assert report.label_agreement_percent >= 97
    assert report.macs == 64 * 32 + 32 * 16 + 16 * 10
    everything = check_compiled(quantized, x, float_graph=graph)  # all 1,797 rows bit-exact
    assert everything.int8_mismatches == 0


def _conv1d_net(rng: np.random.Generator) -> Graph:
    builder = GraphBuilder((40, 3))
    builder.op("conv1d", (40, 8), {"w": rng.normal(size=(8, 5, 3)) * 0.4, "b": rng.normal(size=8)},
               stride=1, padding="same")  # fmt: skip
    builder.op("relu", (40, 8))
    builder.op("max_pool1d", (20, 8), size=2, stride=2)
    length = conv_output_length(20, 3, 2, "valid")
    builder.op("conv1d", (length, 12), {"w": rng.normal(size=(12, 3, 8)) * 0.3,
               "b": rng.normal(size=12) * 0.1}, stride=2, padding="valid")  # fmt: skip
    builder.op("relu6", (length, 12))
    builder.op("avg_pool1d", (length // 3, 12), size=3, stride=3)
    flat = length // 3 * 12
    builder.op("reshape", (flat,), shape=(flat,))
    builder.op("dense", (4,), {"w": rng.normal(size=(4, flat)) * 0.2, "b": rng.normal(size=4)})
    builder.op("softmax", (4,))
    return builder.build("classification", ["idle", "walk", "run", "fall"])


def _separable_conv2d_net(rng: np.random.Generator) -> Graph:
    builder = GraphBuilder((16, 16, 1))
    builder.op("conv2d", (8, 8, 8), {"w": rng.normal(size=(8, 3, 3, 1)), "b": rng.normal(size=8)},
               stride=(2, 2), padding="same")  # fmt: skip
    builder.op("relu6", (8, 8, 8))
    builder.op("depthwise_conv2d", (8, 8, 8), {"w": rng.normal(size=(3, 3, 8)) * 0.5,
               "b": rng.normal(size=8) * 0.1}, stride=(1, 1), padding="same")  # fmt: skip
    builder.op("relu6", (8, 8, 8))
    builder.op("conv2d", (8, 8, 16), {"w": rng.normal(size=(16, 1, 1, 8)) * 0.3,
               "b": rng.normal(size=16) * 0.1})  # fmt: skip
    builder.op("relu", (8, 8, 16))
    builder.op("max_pool2d", (4, 4, 16), size=(2, 2), stride=(2, 2))
    builder.op("avg_pool2d", (1, 1, 16), size=(4, 4), stride=(4, 4))
    builder.op("reshape", (16,), shape=(16,))
    builder.op("dense", (3,), {"w": rng.normal(size=(3, 16)), "b": rng.normal(size=3)})
    builder.op("softmax", (3,))
    return builder.build("classification", ["cat", "dog", "bird"])


@pytest.mark.parametrize(
    "make, shape", [(_conv1d_net, (40, 3)), (_separable_conv2d_net, (16, 16, 1))]
)
def test_convolutional_nets_are_bit_exact(make, shape) -> None:
    rng = np.random.default_rng(11)
    graph = make(rng)
    x = rng.normal(size=(120, *shape)).astype(np.float32)
    check_compiled(graph, x)
    quantized = quantize(graph, x[:60])
    report = check_compiled(quantized, x, float_graph=graph)
    assert report.int8_mismatches == 0
    assert report.label_agreement_percent >= 80
