"""IR → ONNX: a float graph as an ONNX model (opset 17) that onnxruntime runs to the same
numbers as `reference.run`.

The ONNX model takes the IR's own input: features shaped (batch, *input shape), channels-last.
ONNX convolutions and pools are channels-first, so each one is wrapped in a pair of `Transpose`
nodes (`onnx_import` reads such pairs back as no-ops). Supported: dense, conv1d, conv2d,
depthwise_conv2d, max/avg pools, reshape, relu, relu6, softmax, add, scale, kmeans_anomaly.
Trees, Gaussian mixtures and int8 graphs have no ONNX form here."""

from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeops.compiler.ir import Graph, Op, pad_amounts
from edgeops.errors import InvalidInput

OPSET = 17
INPUT_NAME = "features"
OUTPUT_NAME = "output"
EXPORTABLE = frozenset({
    "dense", "conv1d", "conv2d", "depthwise_conv2d", "max_pool1d", "avg_pool1d", "max_pool2d",
    "avg_pool2d", "reshape", "relu", "relu6", "softmax", "add", "scale", "kmeans_anomaly",
})  # fmt: skip


def _pair(value: Any) -> tuple[int, int]:
    items = [int(v) for v in np.ravel(value)]
    return (items[0], items[-1]) if items else (1, 1)


class _Exporter:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.names: dict[str, str] = {graph.inputs[0]: INPUT_NAME}
        self.count = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def constant(self, stem: str, array: np.ndarray, dtype: Any = np.float32) -> str:
        name = self.fresh(stem)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), name))
        return name

    def node(self, kind: str, inputs: list[str], output: str | None = None, **attrs: Any) -> str:
        output = output or self.fresh(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [output], **attrs))
        return output

    def channels_first(self, x: str, rank: int) -> str:
        """(N, *spatial, C) → (N, C, *spatial)."""
        return self.node("Transpose", [x], perm=[0, rank - 1, *range(1, rank - 1)])

    def channels_last(self, x: str, rank: int, output: str) -> str:
        return self.node("Transpose", [x], output, perm=[0, *range(2, rank), 1])

    def run(self) -> onnx.ModelProto:
        graph = self.graph
        for index, op in enumerate(graph.ops):
            if op.kind not in EXPORTABLE:
                raise InvalidInput(
                    f"IR op {op.kind} has no ONNX form here (ONNX export covers "
                    f"{', '.join(sorted(EXPORTABLE))})"
                )
            out = OUTPUT_NAME if op.outputs[0] == graph.outputs[0] else f"t{index}"
            self.names[op.outputs[0]] = getattr(self, f"_{op.kind}")(op, out)
        shape_in = graph.tensor(graph.inputs[0]).shape
        shape_out = graph.tensor(graph.outputs[0]).shape
        onnx_graph = helper.make_graph(
            self.nodes,
            "edgeops",
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", *shape_in])],
            [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", *shape_out])],
            self.initializers,
        )
        model = helper.make_model(
            onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edgeops"
        )
        model.ir_version = 8  # readable by onnxruntime releases of the last years
        helper.set_model_props(model, {"task": graph.task, "labels": ",".join(graph.labels)})
        onnx.checker.check_model(model)
        return model

    def x(self, op: Op, index: int = 0) -> str:
        return self.names[op.inputs[index]]

    def weights(self, op: Op) -> tuple[np.ndarray, np.ndarray]:
        return self.graph.constant(op.inputs[1]), self.graph.constant(op.inputs[2])

    def _dense(self, op: Op, out: str) -> str:
        weight, bias = self.weights(op)
        return self.node("Gemm", [self.x(op), self.constant("w", weight),
                                  self.constant("b", bias)], out, transB=1)  # fmt: skip

    def _convolution(self, op: Op, out: str, weight: np.ndarray, spatial: int,
                     stride: tuple[int, ...], group: int = 1) -> str:  # fmt: skip
        rank = spatial + 2
        shape = self.graph.tensor(op.inputs[0]).shape
        kernel = weight.shape[2:]
        padding = op.attrs.get("padding", "valid")
        amounts = [pad_amounts(shape[i], kernel[i], stride[i], padding) for i in range(spatial)]
        pads = [a for a, _ in amounts] + [b for _, b in amounts]
        conv = self.node(
            "Conv", [self.channels_first(self.x(op), rank), self.constant("w", weight),
                     self.constant("b", self.graph.constant(op.inputs[2]))],
            kernel_shape=list(kernel), strides=list(stride), pads=pads, group=group,
        )  # fmt: skip
        return self.channels_last(conv, rank, out)

    def _conv1d(self, op: Op, out: str) -> str:
        weight = self.graph.constant(op.inputs[1]).transpose(0, 2, 1)  # (K, k, C) → (K, C, k)
        return self._convolution(op, out, weight, 1, (int(op.attrs.get("stride", 1)),))

    def _conv2d(self, op: Op, out: str) -> str:
        weight = self.graph.constant(op.inputs[1]).transpose(0, 3, 1, 2)
        return self._convolution(op, out, weight, 2, _pair(op.attrs.get("stride", (1, 1))))

    def _depthwise_conv2d(self, op: Op, out: str) -> str:
        weight = self.graph.constant(op.inputs[1])  # (kh, kw, C) → (C, 1, kh, kw)
        onnx_weight = weight.transpose(2, 0, 1)[:, None]
        return self._convolution(op, out, onnx_weight, 2, _pair(op.attrs.get("stride", (1, 1))),
                                 group=weight.shape[2])  # fmt: skip

    def _pool(self, op: Op, out: str, kind: str, spatial: int) -> str:
        if spatial == 1:
            size: tuple[int, ...] = (int(op.attrs["size"]),)
            stride: tuple[int, ...] = (int(op.attrs.get("stride", size[0])),)
        else:
            size = _pair(op.attrs["size"])
            stride = _pair(op.attrs.get("stride", size))
        rank = spatial + 2
        pooled = self.node(kind, [self.channels_first(self.x(op), rank)],
                           kernel_shape=list(size), strides=list(stride))  # fmt: skip
        return self.channels_last(pooled, rank, out)

    def _max_pool1d(self, op: Op, out: str) -> str:
        return self._pool(op, out, "MaxPool", 1)

    def _avg_pool1d(self, op: Op, out: str) -> str:
        return self._pool(op, out, "AveragePool", 1)

    def _max_pool2d(self, op: Op, out: str) -> str:
        return self._pool(op, out, "MaxPool", 2)

    def _avg_pool2d(self, op: Op, out: str) -> str:
        return self._pool(op, out, "AveragePool", 2)

    def _reshape(self, op: Op, out: str) -> str:
        shape = self.constant("shape", np.array([-1, *op.attrs["shape"]]), np.int64)
        return self.node("Reshape", [self.x(op), shape], out)

    def _relu(self, op: Op, out: str) -> str:
        return self.node("Relu", [self.x(op)], out)

    def _relu6(self, op: Op, out: str) -> str:
        low, high = self.constant("min", np.array(0.0)), self.constant("max", np.array(6.0))
        return self.node("Clip", [self.x(op), low, high], out)

    def _softmax(self, op: Op, out: str) -> str:
        return self.node("Softmax", [self.x(op)], out, axis=-1)

    def _add(self, op: Op, out: str) -> str:
        return self.node("Add", [self.x(op, 0), self.x(op, 1)], out)

    def _scale(self, op: Op, out: str) -> str:
        mean = self.constant("mean", self.graph.constant(op.inputs[1]))
        centred = self.node("Sub", [self.x(op), mean])
        return self.node("Div", [centred, self.constant("std", self.graph.constant(op.inputs[2]))],
                         out)  # fmt: skip

    def _kmeans_anomaly(self, op: Op, out: str) -> str:
        centers = self.graph.constant(op.inputs[1])
        axis1 = self.constant("axis", np.array([1]), np.int64)
        axis2 = self.constant("axis", np.array([2]), np.int64)
        spread = self.node("Sub", [self.node("Unsqueeze", [self.x(op), axis1]),
                                   self.constant("centers", centers)])  # fmt: skip
        squares = self.node("ReduceSum", [self.node("Mul", [spread, spread]), axis2], keepdims=0)
        nearest = self.node("ReduceMin", [squares], axes=[1], keepdims=1)
        return self.node("Sqrt", [nearest], out)


def export(graph: Graph) -> onnx.ModelProto:
    """The float `graph` as an ONNX model: input `features` (batch, *input shape), output
    `output`; the task and labels in the model's metadata."""
    graph.check()
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise InvalidInput("ONNX export takes graphs with one input and one output")
    if any(t.dtype != "float32" for t in graph.tensors.values()):
        raise InvalidInput("ONNX export takes the float graph (int8 graphs run in the C runtime)")
    return _Exporter(graph).run()


def to_bytes(graph: Graph) -> bytes:
    return bytes(export(graph).SerializeToString())
