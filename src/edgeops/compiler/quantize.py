"""Post-training int8 quantization with the TFLite int8 spec's arithmetic.

- Weights: per output channel, symmetric, zero point 0, range [-127, 127].
- Activations: per tensor, asymmetric, from the min/max over a calibration batch (the range
  always includes 0 so that zero padding is exact).
- Biases: int32 with scale input_scale · weight_scale[channel].
- Requantization: real multipliers as int32 multiplier + shift (`fixedpoint.py`).
- `relu`/`relu6` after a dense/conv/add are fused into the op as output clamps.
- Pooling, reshape and a standalone relu keep their input's quant params; softmax outputs scale
  1/256, zero point -128.

Float features enter through a `quantize` op placed before the first op that needs int8
(dense, convolutions, add); a leading `scale` (standardisation) stays float, as per-tensor
quantization of raw features of different ranges would lose most of their precision, and is
merged into the `quantize` op (inputs x, mean, std) so no float copy of the features is kept. Ops with
no int8 kernel (trees, anomaly scores) stay float behind a `dequantize` op.

Attributes an int8 op carries (besides its float attrs):

| kind | attrs |
| --- | --- |
| `quantize` / `dequantize` | scale, zero_point (a `quantize` reading x, mean, std standardises first, in float32) |
| dense, conv1d, conv2d, depthwise_conv2d | input_zero_point, output_zero_point, multiplier, shift (per output channel), activation_min, activation_max |
| `add` | input_zero_points, input_multipliers, input_shifts, left_shift, output_multiplier, output_shift, output_zero_point, activation_min, activation_max |
| `scale` (int8 input) | input_zero_point, offset (int32 per element), multiplier, shift (per element), output_zero_point |
| `relu` / `relu6` | activation_min, activation_max |
| `softmax` | table (256 ints: exp(-d · input_scale) · 2^16) |
"""  # noqa: E501

import copy
import math
from typing import Any

import numpy as np

from edgeops.compiler import reference
from edgeops.compiler.fixedpoint import INT32_MAX, INT32_MIN, quantize_multiplier
from edgeops.compiler.ir import Graph, Op, Quant, Tensor
from edgeops.errors import InvalidInput

ANCHORS = frozenset({"dense", "conv1d", "conv2d", "depthwise_conv2d", "add"})
FOLLOWERS = frozenset({
    "max_pool1d", "avg_pool1d", "max_pool2d", "avg_pool2d", "reshape", "relu", "relu6",
    "softmax", "scale",
})  # fmt: skip
FUSABLE = frozenset({"dense", "conv1d", "conv2d", "depthwise_conv2d", "add"})
ADD_LEFT_SHIFT = 20
SOFTMAX_SCALE = 1.0 / 256
SOFTMAX_ZERO_POINT = -128
SOFTMAX_TABLE_BITS = 16


def activation_params(low: float, high: float) -> tuple[float, int]:
    """(scale, zero_point) for int8 values covering [low, high] widened to include 0."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = float(np.float32((high - low) / 255.0))
    if not scale > 0 or not math.isfinite(scale):
        return 1.0, 0
    zero_point = round(-128 - low / scale)
    return scale, int(min(max(zero_point, -128), 127))


def quantize_weights(weight: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weights, float32 per-channel scales): symmetric per channel along `axis`."""
    moved = np.moveaxis(np.asarray(weight, dtype=np.float64), axis, 0)
    peak = np.abs(moved.reshape(len(moved), -1)).max(axis=1)
    scale = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    shape = [1] * moved.ndim
    shape[0] = -1
    quantized = np.clip(np.round(moved / scale.reshape(shape)), -127, 127).astype(np.int8)
    return np.ascontiguousarray(np.moveaxis(quantized, 0, axis)), scale


def _quant(scale: float, zero_point: int) -> Quant:
    return Quant(np.array([scale], dtype=np.float32), np.array([zero_point], dtype=np.int32))


def _scale_of(tensor: Tensor) -> float:
    assert tensor.quant is not None
    return float(tensor.quant.scale[0])


def _zero_of(tensor: Tensor) -> int:
    assert tensor.quant is not None
    return int(tensor.quant.zero_point[0])


def _clamps(activation: str, scale: float, zero_point: int) -> tuple[int, int]:
    low, high = -128, 127
    if activation in ("relu", "relu6"):
        low = max(low, zero_point)
    if activation == "relu6":
        high = min(high, zero_point + round(6.0 / scale))
    return low, high


def _multipliers(reals: np.ndarray) -> tuple[list[int], list[int]]:
    pairs = [quantize_multiplier(float(r)) for r in reals]
    return [m for m, _ in pairs], [s for _, s in pairs]


class _Quantizer:
    def __init__(self, graph: Graph, calibration: dict[str, np.ndarray]) -> None:
        self.source = graph
        self.ranges = {
            name: (float(values.min()), float(values.max())) for name, values in calibration.items()
        }
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.renamed: dict[str, str] = {}  # a fused op's output → the activation's output

    def run(self) -> Graph:
        graph = self.source
        for name, tensor in graph.tensors.items():
            if tensor.data is not None:
                self.tensors[name] = copy.deepcopy(tensor)
        for name in graph.inputs:
            self.tensors[name] = copy.deepcopy(graph.tensors[name])
        fused = self._fusions()
        for index, op in enumerate(graph.ops):
            if index in fused.values():
                continue
            activation_op = graph.ops[fused[index]] if index in fused else None
            self._op(op, activation_op)
        outputs = [self.renamed.get(name, name) for name in graph.outputs]
        quantized = Graph(
            list(graph.inputs), outputs, self.tensors, self.ops, graph.task, list(graph.labels)
        )
        quantized.check()
        return quantized

    def _fusions(self) -> dict[int, int]:
        """Op index → index of the relu/relu6 right after it that it absorbs."""
        graph = self.source
        readers: dict[str, list[int]] = {}
        for index, op in enumerate(graph.ops):
            for name in op.inputs:
                readers.setdefault(name, []).append(index)
        fusions: dict[int, int] = {}
        for index, op in enumerate(graph.ops):
            out = op.outputs[0]
            users = readers.get(out, [])
            if (
                op.kind in FUSABLE
                and len(users) == 1
                and graph.ops[users[0]].kind in ("relu", "relu6")
                and out not in graph.outputs
            ):
                fusions[index] = users[0]
        return fusions

    def _activation(
        self, name: str, scale: float, zero_point: int, shape: tuple[int, ...] | None = None
    ) -> None:
        shape = self.source.tensors[name].shape if shape is None else shape
        self.tensors[name] = Tensor(name, shape, "int8", quant=_quant(scale, zero_point))

    def _calibrated(self, name: str) -> tuple[float, int]:
        return activation_params(*self.ranges[name])

    def _as_int8(self, name: str) -> str:
        tensor = self.tensors[name]
        if tensor.dtype == "int8":
            return name
        target = f"{name}_q"
        if target not in self.tensors:
            scale, zero_point = self._calibrated(name)
            self._activation(target, scale, zero_point, tensor.shape)
            inputs = [name]
            producer = self.ops[-1] if self.ops else None
            if producer and producer.kind == "scale" and self._read_once(name):
                # standardise and quantize in one pass: no float copy of the features
                self.ops.pop()
                del self.tensors[name]
                inputs = list(producer.inputs)
            attrs = {"scale": scale, "zero_point": zero_point}
            self.ops.append(Op("quantize", inputs, [target], attrs))
        return target

    def _read_once(self, name: str) -> bool:
        readers = sum(name in op.inputs for op in self.source.ops)
        return readers == 1 and name not in self.source.outputs

    def _as_float(self, name: str) -> str:
        tensor = self.tensors[name]
        if tensor.dtype != "int8":
            return name
        target = f"{name}_f"
        if target not in self.tensors:
            self.tensors[target] = Tensor(target, tensor.shape)
            attrs = {"scale": _scale_of(tensor), "zero_point": _zero_of(tensor)}
            self.ops.append(Op("dequantize", [name], [target], attrs))
        return target

    def _is_int8(self, name: str) -> bool:
        return self.tensors[name].dtype == "int8"

    def _op(self, op: Op, activation_op: Op | None) -> None:
        if op.kind in ANCHORS or (op.kind in FOLLOWERS and self._is_int8(op.inputs[0])):
            self._int8_op(op, activation_op)
            return
        inputs = [name if name in self.tensors and self.tensors[name].data is not None
                  else self._as_float(name) for name in op.inputs]  # fmt: skip
        for name in op.outputs:
            self.tensors[name] = copy.deepcopy(self.source.tensors[name])
        self.ops.append(Op(op.kind, inputs, list(op.outputs), dict(op.attrs)))

    def _int8_op(self, op: Op, activation_op: Op | None) -> None:
        activation = activation_op.kind if activation_op else "none"
        out = activation_op.outputs[0] if activation_op else op.outputs[0]
        if activation_op:
            self.renamed[op.outputs[0]] = out
        attrs: dict[str, Any] = dict(op.attrs)
        if op.kind == "add":
            inputs = [self._as_int8(op.inputs[0]), self._as_int8(op.inputs[1])]
            self._activation(out, *self._calibrated(out))
            attrs.update(self._add_attrs(inputs, out, activation))
        elif op.kind in ANCHORS:
            x = self._as_int8(op.inputs[0])
            self._activation(out, *self._calibrated(out))
            weight, bias = op.inputs[1], op.inputs[2]
            attrs.update(self._weighted(op.kind, x, weight, bias, out, activation))
            inputs = [x, weight, bias]
        else:
            x = op.inputs[0]
            inputs = [x]
            source = self.tensors[x]
            if op.kind == "softmax":
                self._activation(out, SOFTMAX_SCALE, SOFTMAX_ZERO_POINT)
                attrs["table"] = softmax_table(_scale_of(source))
            elif op.kind == "scale":
                self._activation(out, *self._calibrated(out))
                attrs.update(self._scale_attrs(op, x, out))
            else:
                self._activation(out, _scale_of(source), _zero_of(source))
                if op.kind in ("relu", "relu6"):
                    low, high = _clamps(op.kind, _scale_of(source), _zero_of(source))
                    attrs.update(activation_min=low, activation_max=high)
        self.ops.append(Op(op.kind, inputs, [out], attrs))

    def _weighted(
        self, kind: str, x: str, weight: str, bias: str, out: str, activation: str
    ) -> dict[str, Any]:
        axis = 2 if kind == "depthwise_conv2d" else 0
        w_tensor = self.tensors[weight]
        assert w_tensor.data is not None
        q_weight, w_scale = quantize_weights(w_tensor.data, axis)
        self.tensors[weight] = Tensor(
            weight, w_tensor.shape, "int8", q_weight,
            Quant(w_scale, np.zeros(len(w_scale), dtype=np.int32), axis),
        )  # fmt: skip
        in_scale, out_scale = _scale_of(self.tensors[x]), _scale_of(self.tensors[out])
        bias_scale = np.float64(in_scale) * w_scale.astype(np.float64)
        b_tensor = self.tensors[bias]
        assert b_tensor.data is not None
        q_bias = np.clip(np.round(b_tensor.data / bias_scale), INT32_MIN, INT32_MAX)
        self.tensors[bias] = Tensor(
            bias, b_tensor.shape, "int32", q_bias.astype(np.int32),
            Quant(bias_scale.astype(np.float32), np.zeros(len(w_scale), np.int32), 0),
        )  # fmt: skip
        multiplier, shift = _multipliers(bias_scale / out_scale)
        low, high = _clamps(activation, out_scale, _zero_of(self.tensors[out]))
        return {
            "input_zero_point": _zero_of(self.tensors[x]),
            "output_zero_point": _zero_of(self.tensors[out]),
            "multiplier": multiplier,
            "shift": shift,
            "activation_min": low,
            "activation_max": high,
        }

    def _add_attrs(self, inputs: list[str], out: str, activation: str) -> dict[str, Any]:
        scales = [_scale_of(self.tensors[name]) for name in inputs]
        out_scale = _scale_of(self.tensors[out])
        twice_max = 2 * max(scales)
        input_pairs = [quantize_multiplier(s / twice_max) for s in scales]
        output_multiplier, output_shift = quantize_multiplier(
            twice_max / ((1 << ADD_LEFT_SHIFT) * out_scale)
        )
        low, high = _clamps(activation, out_scale, _zero_of(self.tensors[out]))
        return {
            "input_zero_points": [_zero_of(self.tensors[name]) for name in inputs],
            "input_multipliers": [m for m, _ in input_pairs],
            "input_shifts": [s for _, s in input_pairs],
            "left_shift": ADD_LEFT_SHIFT,
            "output_multiplier": output_multiplier,
            "output_shift": output_shift,
            "output_zero_point": _zero_of(self.tensors[out]),
            "activation_min": low,
            "activation_max": high,
        }

    def _scale_attrs(self, op: Op, x: str, out: str) -> dict[str, Any]:
        mean = self.source.constant(op.inputs[1]).astype(np.float64).ravel()
        std = self.source.constant(op.inputs[2]).astype(np.float64).ravel()
        if not (std > 0).all():
            raise InvalidInput("scale: every std must be positive to quantize the op")
        in_scale, out_scale = _scale_of(self.tensors[x]), _scale_of(self.tensors[out])
        offset = np.clip(np.round(-mean / in_scale), INT32_MIN // 2, INT32_MAX // 2)
        multiplier, shift = _multipliers(in_scale / (std * out_scale))
        return {
            "input_zero_point": _zero_of(self.tensors[x]),
            "offset": [int(v) for v in offset],
            "multiplier": multiplier,
            "shift": shift,
            "output_zero_point": _zero_of(self.tensors[out]),
        }


def softmax_table(input_scale: float) -> list[int]:
    """exp(-d · input_scale) in Q16 for d = max - x in 0..255: the int8 softmax's only table."""
    return [round(math.exp(-d * input_scale) * (1 << SOFTMAX_TABLE_BITS)) for d in range(256)]


def quantize(graph: Graph, calibration_x: np.ndarray) -> Graph:
    """An int8 copy of `graph`, calibrated on a representative batch `calibration_x` of shape
    (n, *input shape) (a few hundred training rows are plenty)."""
    graph.check()
    batch = np.asarray(calibration_x, dtype=np.float32)
    expected = graph.tensor(graph.inputs[0]).shape
    if batch.ndim != len(expected) + 1 or batch.shape[1:] != expected or len(batch) == 0:
        raise InvalidInput(
            f"calibration batch has shape {batch.shape}; expected (n >= 1, "
            f"{', '.join(map(str, expected))}) like the model's input"
        )
    calibration = reference.run_all(graph, batch)
    return _Quantizer(graph, calibration).run()
