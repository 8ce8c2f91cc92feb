"""The models of the compiler benchmark, each trained once: data, the trained estimator, its
float IR graph and the int8 graph quantized from it.

- digits MLP 64-32-16-10: scikit-learn's MLPClassifier on the 8x8 digits (1,200 / 597 rows);
- motion conv1d: edgeops' nn-classifier on BasicMotions raw windows (100 steps x 6 axes, the
  demo's 40 / 40 split): conv1d 8x5 stride 2, max pool 2, conv1d 16x3, max pool 2, dense 4;
- audio DS-CNN: nn-classifier on MFCC (registry block `mfcc`, 50 frames x 13) of 1-second
  8 kHz asterisk prompts labelled by folder (digits / letters / phonetic; split by recording,
  20% of each folder to testing, training recordings augmented): conv2d 8x3x3 stride 2, a
  depthwise-separable 3x3 block to 16 channels, average pool 2x2, dense 3;
- digits random forest (25 trees): the tree export, emlearn's other model family.

Every model's first op is `scale` (standardisation with the training mean and std); the peers
take the rows already standardised (`standardised`), so their counts leave that work out.
"""

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from edgeops.blocks.learn.base import FitContext
from edgeops.blocks.learn.nn import NNClassifier
from edgeops.compiler.from_sklearn import forest_to_ir
from edgeops.compiler.ir import Graph, GraphBuilder
from edgeops.compiler.quantize import quantize

SPEECH_SECONDS = 1.0
SPEECH_COPIES = 4  # augmented copies per training recording
CALIBRATION_ROWS = 300


@dataclass
class Model:
    """One trained model and its data: x rows are what the model takes (raw features)."""

    name: str
    description: str
    float_graph: Graph
    int8_graph: Graph | None
    x_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    estimator: Any = None  # the scikit-learn model, for emlearn

    @property
    def calibration(self) -> np.ndarray:
        return self.x_train[:CALIBRATION_ROWS]

    def standardised(self, rows: np.ndarray) -> np.ndarray:
        """rows as the graph's leading `scale` op sees them after standardising (float32)."""
        op = self.float_graph.ops[0]
        if op.kind != "scale":
            return rows.astype(np.float32)
        mean, std = (self.float_graph.constant(name) for name in op.inputs[1:])
        shaped = rows.reshape(len(rows), *mean.shape).astype(np.float32)
        return ((shaped - mean) / std).reshape(rows.shape).astype(np.float32)


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    train = np.zeros(len(x), dtype=bool)
    train[np.random.default_rng(0).permutation(len(x))[:1200]] = True
    return x.astype(np.float32), y, train


def digits_mlp() -> Model:
    x, y, train = _digits()
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std[std == 0] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((32, 16), max_iter=300, random_state=0)
        mlp.fit((x[train] - mean) / std, y[train])
    builder = GraphBuilder((64,))
    builder.op("scale", (64,), {"mean": mean, "std": std})
    for index, (weight, bias) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        builder.op("dense", (len(bias),), {"w": weight.T, "b": bias})
        builder.op("relu" if index < len(mlp.coefs_) - 1 else "softmax", (len(bias),))
    graph = builder.build("classification", [str(c) for c in mlp.classes_])
    return Model("digits_mlp", "MLP 64-32-16-10, scikit-learn digits", graph,
                 quantize(graph, x[train][:CALIBRATION_ROWS]), x[train], x[~train], y[~train],
                 mlp)  # fmt: skip


def digits_forest() -> Model:
    x, y, train = _digits()
    forest = RandomForestClassifier(n_estimators=25, random_state=0).fit(x[train], y[train])
    graph = forest_to_ir(forest, [str(c) for c in forest.classes_])
    return Model("digits_forest", "random forest, 25 trees, scikit-learn digits", graph, None,
                 x[train], x[~train], y[~train], forest)  # fmt: skip


def _network(layers: list[dict[str, Any]], shape: tuple[int, ...], epochs: int, x: np.ndarray,
             y: np.ndarray, labels: list[str]) -> Graph:  # fmt: skip
    learner = NNClassifier({"layers": layers, "epochs": epochs, "input_shape": list(shape)})
    learner.fit(x, y, FitContext(labels=tuple(labels), input_shape=shape, seed=0))
    return learner.to_ir()


def motion_conv1d() -> Model:
    data = np.load(Path(__file__).parents[1] / "src/edgeops/demo/basic_motions.npz")
    x = np.ascontiguousarray(data["X"].transpose(0, 2, 1)).reshape(len(data["X"]), -1)
    labels = sorted(set(data["y"].tolist()))
    y = np.array([labels.index(v) for v in data["y"]])
    train = data["split"] == "training"
    layers = [
        {"conv1d": 8, "kernel": 5, "stride": 2, "padding": "valid"}, {"max_pool": 2},
        {"conv1d": 16, "kernel": 3, "padding": "valid"}, {"max_pool": 2},
    ]  # fmt: skip
    graph = _network(layers, (100, 6), 60, x[train], y[train], labels)
    int8 = quantize(graph, x[train][:CALIBRATION_ROWS])
    return Model("motion_conv1d", "1-D conv net, BasicMotions 100 steps x 6 axes", graph, int8,
                 x[train], x[~train], y[~train])  # fmt: skip


def _speech_windows() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(clips (n, samples, 1) float32 in [-1, 1], labels, training mask, label names)."""
    from scipy.io import wavfile

    sys.path.insert(0, str(Path(__file__).parent))
    from training_data import SPEECH_RATE, augment, speech_recordings

    rng = np.random.default_rng(0)
    samples = round(SPEECH_SECONDS * SPEECH_RATE)
    clips, targets, training = [], [], []
    recordings = speech_recordings()
    names = sorted(recordings)
    for label, paths in sorted(recordings.items()):
        held = set(rng.permutation(len(paths))[: round(0.2 * len(paths))].tolist())
        for index, path in enumerate(paths):
            clip = wavfile.read(path)[1]
            copies = [clip]
            if index not in held:
                copies += [augment(clip, rng) for _ in range(SPEECH_COPIES)]
            for version in copies:
                window = np.zeros(samples, dtype=np.float32)
                window[: min(samples, len(version))] = version[:samples] / 32768.0
                clips.append(window)
                targets.append(names.index(label))
                training.append(index not in held)
    return np.array(clips)[:, :, None], np.array(targets), np.array(training), names


def audio_dscnn() -> Model:
    from edgeops.blocks import registry
    from edgeops.blocks.base import SignalSpec

    clips, y, train, labels = _speech_windows()
    block = registry.get("mfcc")({})
    x = block.transform(clips, SignalSpec(8000.0, 1, clips.shape[1]))
    frames = x.shape[1] // 13
    layers = [
        {"conv2d": 8, "kernel": 3, "stride": 2, "padding": "valid"},
        {"dsconv2d": 16, "kernel": 3, "padding": "valid"}, {"avg_pool": 2},
    ]  # fmt: skip
    graph = _network(layers, (frames, 13, 1), 40, x[train], y[train], labels)
    calibration = x[train][np.random.default_rng(0).permutation(int(train.sum()))]
    return Model("audio_dscnn", f"DS-CNN, MFCC {frames} frames x 13 of asterisk words "
                 f"({' / '.join(labels)})", graph, quantize(graph, calibration[:CALIBRATION_ROWS]),
                 calibration, x[~train], y[~train])  # fmt: skip
