"""The float reference interpreter: what an IR graph computes, in numpy, over a batch.

Learners check their `to_ir` against it; the compiler checks its float C against it."""

from collections.abc import Callable

import numpy as np

from edgeops.compiler.ir import Graph, Op, TreeEnsemble, pad_amounts
from edgeops.errors import InvalidInput

Kernel = Callable[[Graph, Op, list[np.ndarray]], np.ndarray]


def _windows(x: np.ndarray, axis: int, size: int, stride: int) -> np.ndarray:
    """Sliding windows along `axis` of a batch: the window axis is appended last."""
    view = np.lib.stride_tricks.sliding_window_view(x, size, axis=axis)
    index = [slice(None)] * view.ndim
    index[axis] = slice(None, None, stride)
    return view[tuple(index)]


def _pad(x: np.ndarray, axes_kernels: list[tuple[int, int, int]], padding: str) -> np.ndarray:
    widths = [(0, 0)] * x.ndim
    for axis, kernel, stride in axes_kernels:
        widths[axis] = pad_amounts(x.shape[axis], kernel, stride, padding)
    return np.pad(x, widths)


def _dense(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x, weight, bias = args
    return np.asarray(x @ weight.T + bias)


def _conv1d(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x, weight, bias = args  # x (n, L, C); weight (K, k, C)
    k, stride = weight.shape[1], int(op.attrs.get("stride", 1))
    x = _pad(x, [(1, k, stride)], op.attrs.get("padding", "valid"))
    patches = _windows(x, 1, k, stride)  # (n, L', C, k)
    return np.asarray(np.einsum("nlck,okc->nlo", patches, weight) + bias)


def _conv2d(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x, weight, bias = args  # x (n, H, W, C); weight (K, kh, kw, C)
    kh, kw = weight.shape[1:3]
    sh, sw = op.attrs.get("stride", (1, 1))
    x = _pad(x, [(1, kh, sh), (2, kw, sw)], op.attrs.get("padding", "valid"))
    patches = _windows(_windows(x, 1, kh, sh), 2, kw, sw)  # (n, H', W', C, kh, kw)
    return np.asarray(np.einsum("nhwcij,oijc->nhwo", patches, weight) + bias)


def _depthwise(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x, weight, bias = args  # weight (kh, kw, C)
    kh, kw = weight.shape[:2]
    sh, sw = op.attrs.get("stride", (1, 1))
    x = _pad(x, [(1, kh, sh), (2, kw, sw)], op.attrs.get("padding", "valid"))
    patches = _windows(_windows(x, 1, kh, sh), 2, kw, sw)
    return np.asarray(np.einsum("nhwcij,ijc->nhwc", patches, weight) + bias)


def _pool(reduce: Callable[..., np.ndarray], dims: int) -> Kernel:
    def kernel(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
        x = args[0]
        size = op.attrs["size"] if dims == 2 else (op.attrs["size"],)
        stride = op.attrs.get("stride", size) if dims == 2 else (op.attrs.get("stride", size[0]),)
        for axis in range(dims):
            x = _windows(x, 1 + axis, size[axis], stride[axis])
        return reduce(x, axis=tuple(range(x.ndim - dims, x.ndim)))

    return kernel


def _softmax(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    shifted = args[0] - args[0].max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return np.asarray(exp / exp.sum(axis=-1, keepdims=True))


def _reshape(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    return args[0].reshape((args[0].shape[0], *op.attrs["shape"]))


def tree_probabilities(trees: TreeEnsemble, x: np.ndarray) -> np.ndarray:
    """Average leaf probabilities over the trees, walking each tree for every row."""
    total = np.zeros((x.shape[0], trees.value[0].shape[1]))
    rows = np.arange(x.shape[0])
    for feature, threshold, left, right, value in zip(
        trees.feature, trees.threshold, trees.left, trees.right, trees.value, strict=True
    ):
        node = np.zeros(x.shape[0], dtype=np.int64)
        while True:
            inner = left[node] != -1
            if not inner.any():
                break
            go_left = x[rows, np.maximum(feature[node], 0)] <= threshold[node]
            node = np.where(inner, np.where(go_left, left[node], right[node]), node)
        total += value[node]
    return total / len(trees.feature)


def _trees(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    return tree_probabilities(op.attrs["trees"], args[0])


def _kmeans(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x, centers = args
    distances = np.sqrt(((x[:, None, :] - centers[None]) ** 2).sum(axis=-1))
    return np.asarray(distances.min(axis=1, keepdims=True))


def _gmm(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    """Negative log-likelihood under a full-covariance mixture (scikit-learn's parametrisation:
    precision Cholesky factors)."""
    x, means, chol, log_weights = args
    n_features = x.shape[1]
    log_det = np.log(np.abs(np.diagonal(chol, axis1=1, axis2=2))).sum(axis=1)
    y = np.einsum("nf,kfg->nkg", x, chol) - np.einsum("kf,kfg->kg", means, chol)[None]
    log_prob = -0.5 * (n_features * np.log(2 * np.pi) + (y**2).sum(axis=2)) + log_det
    joint = log_prob + log_weights[None]
    top = joint.max(axis=1, keepdims=True)
    return np.asarray(-(top + np.log(np.exp(joint - top).sum(axis=1, keepdims=True))))


KERNELS: dict[str, Kernel] = {
    "dense": _dense,
    "conv1d": _conv1d,
    "conv2d": _conv2d,
    "depthwise_conv2d": _depthwise,
    "max_pool1d": _pool(np.max, 1),
    "avg_pool1d": _pool(np.mean, 1),
    "max_pool2d": _pool(np.max, 2),
    "avg_pool2d": _pool(np.mean, 2),
    "reshape": _reshape,
    "relu": lambda g, o, a: np.maximum(a[0], 0),
    "relu6": lambda g, o, a: np.clip(a[0], 0, 6),
    "softmax": _softmax,
    "add": lambda g, o, a: a[0] + a[1],
    "scale": lambda g, o, a: (a[0] - a[1]) / a[2],
    "tree_ensemble": _trees,
    "kmeans_anomaly": _kmeans,
    "gmm_anomaly": _gmm,
}


def run(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The graph's (first) output for a batch `x` of shape (n, *input shape), in float64."""
    return run_all(graph, x)[graph.outputs[0]]


def run_all(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every activation of the graph (input included) by tensor name, in float64: what the
    quantizer calibrates on."""
    expected = graph.tensor(graph.inputs[0]).shape
    batch = np.asarray(x, dtype=np.float64)
    if batch.shape[1:] != expected:
        raise InvalidInput(f"model input has shape {batch.shape[1:]}; the model takes {expected}")
    values: dict[str, np.ndarray] = {graph.inputs[0]: batch}
    for op in graph.ops:
        args = [
            values[name] if name in values else graph.constant(name).astype(np.float64)
            for name in op.inputs
        ]
        values[op.outputs[0]] = KERNELS[op.kind](graph, op, args)
    return values
