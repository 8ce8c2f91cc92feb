"""The int8 reference interpreter: the exact integers an int8 graph (from `quantize`) computes.

Accumulates in int64 and rounds exactly as the C runtime (`runtime/edgeops_int8.h`), so the
generated C must agree with it bit for bit. Float ops before the int8 part (`scale`,
`quantize`) run in float32 like the C; float ops after it use the float reference."""

from collections.abc import Callable

import numpy as np

from edgeops.compiler import reference
from edgeops.compiler.fixedpoint import c_divide, multiply_by_quantized_multiplier, round_half_away
from edgeops.compiler.ir import Graph, Op, pad_amounts
from edgeops.errors import InvalidInput

Kernel = Callable[[Graph, Op, list[np.ndarray]], np.ndarray]


def _requantize(acc: np.ndarray, op: Op) -> np.ndarray:
    """Per-channel (last axis) multiplier/shift, output zero point and clamps."""
    scaled = multiply_by_quantized_multiplier(
        acc, np.asarray(op.attrs["multiplier"]), np.asarray(op.attrs["shift"])
    )
    out = scaled + op.attrs["output_zero_point"]
    low, high = op.attrs.get("activation_min", -128), op.attrs.get("activation_max", 127)
    return np.asarray(np.clip(out, low, high))


def _centered(graph: Graph, op: Op, x: np.ndarray) -> np.ndarray:
    return x.astype(np.int64) - int(op.attrs["input_zero_point"])


def _dense(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x, weight, bias = args
    acc = _centered(graph, op, x) @ weight.astype(np.int64).T + bias.astype(np.int64)
    return _requantize(acc, op)


def _padded(x: np.ndarray, axes: list[tuple[int, int, int]], padding: str) -> np.ndarray:
    widths = [(0, 0)] * x.ndim
    for axis, kernel, stride in axes:
        widths[axis] = pad_amounts(x.shape[axis], kernel, stride, padding)
    return np.pad(x, widths)  # zeros: the zero point, once x is centered


def _conv1d(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x, weight, bias = args
    k, stride = weight.shape[1], int(op.attrs.get("stride", 1))
    centered = _padded(_centered(graph, op, x), [(1, k, stride)], op.attrs.get("padding", "valid"))
    patches = reference._windows(centered, 1, k, stride)
    acc = np.einsum("nlck,okc->nlo", patches, weight.astype(np.int64)) + bias.astype(np.int64)
    return _requantize(acc, op)


def _conv2d_patches(op: Op, x: np.ndarray, kh: int, kw: int) -> np.ndarray:
    sh, sw = op.attrs.get("stride", (1, 1))
    padded = _padded(x, [(1, kh, sh), (2, kw, sw)], op.attrs.get("padding", "valid"))
    return reference._windows(reference._windows(padded, 1, kh, sh), 2, kw, sw)


def _conv2d(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x, weight, bias = args
    patches = _conv2d_patches(op, _centered(graph, op, x), *weight.shape[1:3])
    acc = np.einsum("nhwcij,oijc->nhwo", patches, weight.astype(np.int64))
    return _requantize(acc + bias.astype(np.int64), op)


def _depthwise(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x, weight, bias = args
    patches = _conv2d_patches(op, _centered(graph, op, x), *weight.shape[:2])
    acc = np.einsum("nhwcij,ijc->nhwc", patches, weight.astype(np.int64))
    return _requantize(acc + bias.astype(np.int64), op)


def _pool(average: bool, dims: int) -> Kernel:
    def kernel(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
        x = args[0].astype(np.int64)
        size = tuple(op.attrs["size"]) if dims == 2 else (op.attrs["size"],)
        stride = (
            tuple(op.attrs.get("stride", size)) if dims == 2 else (op.attrs.get("stride", size[0]),)
        )
        for axis in range(dims):
            x = reference._windows(x, 1 + axis, size[axis], stride[axis])
        window_axes = tuple(range(x.ndim - dims, x.ndim))
        if not average:
            return np.asarray(x.max(axis=window_axes))
        count = int(np.prod(size))
        total = x.sum(axis=window_axes)
        rounded = np.where(total > 0, total + count // 2, total - count // 2)
        return np.asarray(np.clip(c_divide(rounded, count), -128, 127))

    return kernel


def _softmax(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x = args[0].astype(np.int64)
    table = np.asarray(op.attrs["table"], dtype=np.int64)
    exps = table[x.max(axis=-1, keepdims=True) - x]
    total = exps.sum(axis=-1, keepdims=True)
    return np.asarray(np.clip((exps * 256 + total // 2) // total - 128, -128, 127))


def _add(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    attrs = op.attrs
    scaled = [
        multiply_by_quantized_multiplier(
            (value.astype(np.int64) - zero_point) << attrs["left_shift"], multiplier, shift
        )
        for value, zero_point, multiplier, shift in zip(
            args, attrs["input_zero_points"], attrs["input_multipliers"], attrs["input_shifts"],
            strict=True,
        )
    ]  # fmt: skip
    total = multiply_by_quantized_multiplier(
        scaled[0] + scaled[1], attrs["output_multiplier"], attrs["output_shift"]
    )
    out = total + attrs["output_zero_point"]
    return np.asarray(np.clip(out, attrs["activation_min"], attrs["activation_max"]))


def _scale(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x = args[0]
    if x.dtype == np.float32:  # the float standardisation before quantization, as C computes it
        mean = args[1].astype(np.float32)
        std = args[2].astype(np.float32)
        return np.asarray((x - mean) / std, dtype=np.float32)
    flat = x.reshape(len(x), -1)
    acc = _centered(graph, op, flat) + np.asarray(op.attrs["offset"], dtype=np.int64)
    return np.asarray(np.clip(_requantize(acc, op), -128, 127)).reshape(x.shape)


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float32 → int8 as the C does: roundf(x / scale) + zero_point, clamped (NaN → -128)."""
    ratio = np.asarray(x, dtype=np.float32) / np.float32(scale)
    shifted = round_half_away(ratio).astype(np.float32) + np.float32(zero_point)
    clamped = np.where(shifted >= -128, np.minimum(shifted, 127), -128)
    return clamped.astype(np.int64)


def _quantize(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    x = args[0]
    if len(args) == 3:  # standardised first, in float32 like the C
        x = _scale(graph, op, [np.asarray(x, dtype=np.float32), *args[1:]])
    return quantize_input(x, op.attrs["scale"], op.attrs["zero_point"])


def _dequantize(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    centered = (args[0].astype(np.int64) - op.attrs["zero_point"]).astype(np.float32)
    return np.asarray(centered * np.float32(op.attrs["scale"]), dtype=np.float32)


def _clamp(graph: Graph, op: Op, args: list[np.ndarray]) -> np.ndarray:
    return np.asarray(np.clip(args[0], op.attrs["activation_min"], op.attrs["activation_max"]))


INT8_KERNELS: dict[str, Kernel] = {
    "dense": _dense,
    "conv1d": _conv1d,
    "conv2d": _conv2d,
    "depthwise_conv2d": _depthwise,
    "max_pool1d": _pool(False, 1),
    "avg_pool1d": _pool(True, 1),
    "max_pool2d": _pool(False, 2),
    "avg_pool2d": _pool(True, 2),
    "reshape": lambda g, o, a: a[0].reshape((a[0].shape[0], *o.attrs["shape"])),
    "relu": _clamp,
    "relu6": _clamp,
    "softmax": _softmax,
    "add": _add,
    "scale": _scale,
}


def run_all(graph: Graph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every activation by name: int8 tensors as int64 arrays of int8 values, float ones as
    float32 (before the int8 part) or float64 (float ops after it)."""
    expected = graph.tensor(graph.inputs[0]).shape
    batch = np.asarray(x, dtype=np.float32)
    if batch.shape[1:] != expected:
        raise InvalidInput(f"model input has shape {batch.shape[1:]}; the model takes {expected}")
    values: dict[str, np.ndarray] = {graph.inputs[0]: batch}
    for op in graph.ops:
        args = [values[name] if name in values else graph.constant(name) for name in op.inputs]
        int8_op = graph.tensor(op.outputs[0]).dtype == "int8" or op.kind == "dequantize"
        if op.kind == "quantize":
            result = _quantize(graph, op, args)
        elif op.kind == "dequantize":
            result = _dequantize(graph, op, args)
        elif int8_op or (op.kind == "scale" and args[0].dtype == np.float32):
            result = INT8_KERNELS[op.kind](graph, op, args)
        else:
            result = reference.KERNELS[op.kind](graph, op, [a.astype(np.float64) for a in args])
        values[op.outputs[0]] = result
    return values


def run(graph: Graph, x: np.ndarray) -> np.ndarray:
    """The graph's (first) output for a batch: the int8 values of an int8 output (as int64), or
    floats."""
    return run_all(graph, x)[graph.outputs[0]]


def dequantized(graph: Graph, values: np.ndarray, name: str | None = None) -> np.ndarray:
    """Real values of an int8 tensor's integers (the graph's output by default)."""
    tensor = graph.tensor(name or graph.outputs[0])
    if tensor.quant is None:
        return np.asarray(values, dtype=np.float64)
    scale = float(tensor.quant.scale[0])
    return (np.asarray(values, np.float64) - float(tensor.quant.zero_point[0])) * scale
