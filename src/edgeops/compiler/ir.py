"""The model IR: the seam between learners (which produce it) and the compiler (which turns it into
C, int8 or ONNX).

A `Graph` is a list of `Op`s in execution order over named `Tensor`s. Shapes exclude the batch
dimension. Layout is channels-last, as on devices (and in TFLite): a 1-D signal is (length,
channels), an image (height, width, channels). Learners trained in channels-first frameworks
permute their weights when they export.

Op kinds and their attributes (weights and biases are constant tensors named in `inputs`):

| kind | inputs | attrs |
| --- | --- | --- |
| `dense` | x (n_in,), weight (n_out, n_in), bias (n_out,) | — |
| `conv1d` | x (L, C), weight (K, k, C), bias (K,) | stride, padding ("valid"/"same") |
| `conv2d` | x (H, W, C), weight (K, kh, kw, C), bias (K,) | stride (sh, sw), padding |
| `depthwise_conv2d` | x (H, W, C), weight (kh, kw, C), bias (C,) | stride, padding |
| `max_pool1d` / `avg_pool1d` | x (L, C) | size, stride |
| `max_pool2d` / `avg_pool2d` | x (H, W, C) | size (ph, pw), stride (sh, sw) |
| `reshape` | x | shape (the output shape; row-major order is kept) |
| `relu` / `relu6` / `softmax` | x | — |
| `add` | a, b (same shape) | — |
| `scale` | x, mean, std (both shaped like x) | — (x - mean) / std: feature standardisation |
| `tree_ensemble` | x (n_in,) | trees (see `TreeEnsemble`), n_classes |
| `kmeans_anomaly` | x (n_in,), centers (k, n_in) | — smallest Euclidean distance |
| `gmm_anomaly` | x, means (k, n_in), precisions_chol (k, n_in, n_in), log_weights (k,) | — |
| `quantize` / `dequantize` | x (quantize: or x, mean, std) | scale, zero_point |

Int8 graphs (made by `compiler.quantize`) carry `Quant` on their int8 tensors and the
requantization parameters in op attrs (see `compiler/quantize.py`); `quantize` maps float to
int8 (standardising first when given mean and std), `dequantize` int8 to float.

`gmm_anomaly` outputs the negative log-likelihood (scikit-learn's parametrisation).

Padding "same" keeps ceil(length / stride) outputs, padding zeros as TensorFlow does
(`pad_amounts`).
"""

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edgeops.errors import InvalidInput

DType = Literal["float32", "int8", "int32"]
Task = Literal["classification", "regression", "anomaly"]
OP_KINDS = frozenset({
    "dense", "conv1d", "conv2d", "depthwise_conv2d", "max_pool1d", "avg_pool1d", "max_pool2d",
    "avg_pool2d", "reshape", "relu", "relu6", "softmax", "add", "scale", "tree_ensemble",
    "kmeans_anomaly", "gmm_anomaly", "quantize", "dequantize",
})  # fmt: skip


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per-tensor (axis None) or per
    channel along `axis`."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None


@dataclass
class Tensor:
    """A named tensor: an activation (data None) or a constant (weights, biases, tables)."""

    name: str
    shape: tuple[int, ...]
    dtype: DType = "float32"
    data: np.ndarray | None = None
    quant: Quant | None = None


@dataclass
class TreeEnsemble:
    """Trees as flat node arrays, as scikit-learn stores them: a node is a leaf when
    `left[i] == -1`; otherwise go left when x[feature[i]] <= threshold[i]. `value[i]` is the
    leaf's class probabilities (already normalised); the ensemble averages them."""

    feature: list[np.ndarray]
    threshold: list[np.ndarray]
    left: list[np.ndarray]
    right: list[np.ndarray]
    value: list[np.ndarray]


@dataclass
class Op:
    kind: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """A model: ops over tensors, with what a device needs to read its output (`labels`, `task`)."""

    inputs: list[str]
    outputs: list[str]
    tensors: dict[str, Tensor]
    ops: list[Op]
    task: Task = "classification"
    labels: list[str] = field(default_factory=list)

    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    def constant(self, name: str) -> np.ndarray:
        data = self.tensors[name].data
        if data is None:
            raise InvalidInput(f"IR tensor {name} is not a constant")
        return data

    def check(self) -> None:
        """Refuse a graph whose ops name unknown tensors or kinds, or whose activations are
        produced twice or used before they exist."""
        produced = set(self.inputs) | {n for n, t in self.tensors.items() if t.data is not None}
        for op in self.ops:
            if op.kind not in OP_KINDS:
                raise InvalidInput(f"IR op kind {op.kind!r} is not supported")
            for name in op.inputs:
                if name not in self.tensors:
                    raise InvalidInput(f"IR op {op.kind} reads unknown tensor {name!r}")
                if name not in produced:
                    raise InvalidInput(f"IR op {op.kind} reads {name!r} before it is computed")
            for name in op.outputs:
                if name in produced:
                    raise InvalidInput(f"IR tensor {name!r} is produced twice")
                if name not in self.tensors:
                    raise InvalidInput(f"IR op {op.kind} writes unknown tensor {name!r}")
                produced.add(name)
        missing = [name for name in self.outputs if name not in produced]
        if missing:
            raise InvalidInput(f"IR outputs {missing} are never computed")

    def parameter_count(self) -> int:
        return sum(int(t.data.size) for t in self.tensors.values() if t.data is not None)


class GraphBuilder:
    """Builds a graph op by op, naming tensors `t0, t1, ...` and constants after their op."""

    def __init__(self, input_shape: tuple[int, ...]) -> None:
        self.tensors: dict[str, Tensor] = {"input": Tensor("input", tuple(input_shape))}
        self.ops: list[Op] = []
        self.current = "input"

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tensors[self.current].shape

    def constant(self, stem: str, data: np.ndarray) -> str:
        name = f"{stem}{len(self.ops)}"
        array = np.ascontiguousarray(data, dtype=np.float32)
        self.tensors[name] = Tensor(name, tuple(array.shape), data=array)
        return name

    def op(
        self,
        kind: str,
        output_shape: tuple[int, ...],
        constants: dict[str, np.ndarray] | None = None,
        /,
        **attrs: Any,
    ) -> str:
        inputs = [self.current] + [self.constant(k, v) for k, v in (constants or {}).items()]
        output = f"t{len(self.ops)}"
        self.tensors[output] = Tensor(output, tuple(output_shape))
        self.ops.append(Op(kind, inputs, [output], dict(attrs)))
        self.current = output
        return output

    def build(self, task: Task, labels: list[str]) -> Graph:
        graph = Graph(["input"], [self.current], self.tensors, self.ops, task, list(labels))
        graph.check()
        return graph


def conv_output_length(length: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return -(-length // stride)
    return (length - kernel) // stride + 1


def pad_amounts(length: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """Zeros before and after an axis for "same" padding (TensorFlow's rule: the extra one goes
    after); none for "valid"."""
    if padding != "same":
        return 0, 0
    out = conv_output_length(length, kernel, stride, padding)
    total = max((out - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2
