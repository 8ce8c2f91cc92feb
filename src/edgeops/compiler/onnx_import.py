"""ONNX → IR, for the op set `onnx_export` writes and what PyTorch exports for the same layers:
bring your own model.

Layout: the IR is channels-last, ONNX convolutions channels-first. Every ONNX tensor is tracked
with how it relates to its IR tensor — `last` (same order), `first` (the channels-first view of
a channels-last IR tensor) or `flat_first` (such a view flattened: the next dense layer's weight
columns are permuted so the IR flattens channels-last). `Transpose` between the two layouts is
free. A graph input of rank ≥ 3 read directly by a convolution or pool is channels-first (as
PyTorch exports); the IR input is then its channels-last shape.

Nodes: Gemm, MatMul (+ Add of a constant: folded into the bias), Conv (group 1 or depthwise),
MaxPool, AveragePool, Flatten, Reshape, Transpose, Relu, Clip(0, 6), Softmax (last axis), Add,
Sub/Div/Mul by constants (→ `scale`), Identity, Dropout, Constant."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from edgeops.compiler.ir import Graph, Op, Task, Tensor, pad_amounts
from edgeops.errors import InvalidInput


@dataclass
class _Value:
    name: str  # the IR tensor
    layout: str  # "last", "first" or "flat_first"
    permutation: np.ndarray | None = None  # flat_first: onnx index → IR index


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _to_last(rank: int) -> list[int]:
    return [0, *range(2, rank), 1]


def _to_first(rank: int) -> list[int]:
    return [0, rank - 1, *range(1, rank - 1)]


class _Importer:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.onnx_graph = model.graph
        self.constants: dict[str, np.ndarray] = {
            init.name: numpy_helper.to_array(init) for init in self.onnx_graph.initializer
        }
        self.values: dict[str, _Value] = {}
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.producers: dict[str, Op] = {}
        self.readers: dict[str, int] = {}
        for node in self.onnx_graph.node:
            for name in node.input:
                self.readers[name] = self.readers.get(name, 0) + 1

    def shape(self, value: _Value) -> tuple[int, ...]:
        return self.tensors[value.name].shape

    def add(
        self, kind: str, inputs: list[str], output_shape: tuple[int, ...], /, **attrs: Any
    ) -> str:
        name = f"t{len(self.ops)}"
        self.tensors[name] = Tensor(name, tuple(int(d) for d in output_shape))
        op = Op(kind, inputs, [name], attrs)
        self.ops.append(op)
        self.producers[name] = op
        return name

    def constant(self, stem: str, array: np.ndarray) -> str:
        name = f"{stem}{len(self.ops)}_{len(self.tensors)}"
        data = np.ascontiguousarray(array, dtype=np.float32)
        self.tensors[name] = Tensor(name, tuple(data.shape), data=data)
        return name

    def const(self, name: str, node: onnx.NodeProto) -> np.ndarray:
        if name not in self.constants:
            raise InvalidInput(f"ONNX node {node.op_type} ({node.name or node.output[0]}): input "
                               f"{name!r} must be a constant here")  # fmt: skip
        return self.constants[name]

    def input_layout(self, name: str, rank: int) -> str:
        if rank < 3:
            return "last"
        readers = [n for n in self.onnx_graph.node if name in n.input]
        spatial = {"Conv", "MaxPool", "AveragePool"}
        return "first" if any(n.op_type in spatial for n in readers) else "last"

    def run(self) -> Graph:
        graph = self.onnx_graph
        initialized = set(self.constants)
        inputs = [i for i in graph.input if i.name not in initialized]
        if len(inputs) != 1 or len(graph.output) != 1:
            raise InvalidInput("ONNX import takes models with one input and one output")
        source = inputs[0]
        dims = [d.dim_value for d in source.type.tensor_type.shape.dim]
        if len(dims) < 2 or any(d <= 0 for d in dims[1:]):
            raise InvalidInput(f"ONNX input {source.name!r} needs a fixed shape after the batch "
                               f"dimension, got {dims}")  # fmt: skip
        layout = self.input_layout(source.name, len(dims))
        shape = tuple(dims[1:])
        if layout == "first":
            shape = (*shape[1:], shape[0])
        self.tensors["input"] = Tensor("input", shape)
        self.values[source.name] = _Value("input", layout)
        for node in graph.node:
            handler = getattr(self, f"_{node.op_type.lower()}", None)
            if handler is None:
                raise InvalidInput(f"ONNX op {node.op_type} is not supported by the importer")
            handler(node)
        output = self.values[graph.output[0].name]
        if output.layout == "first":
            raise InvalidInput("the ONNX model's output is channels-first: transpose or flatten "
                               "it before the output")  # fmt: skip
        result = Graph(["input"], [output.name], self.tensors, self.ops)
        result.check()
        return result

    def value(self, name: str) -> _Value:
        if name not in self.values:
            raise InvalidInput(f"ONNX tensor {name!r} is used before it is computed (or is a "
                               "constant where an activation is expected)")  # fmt: skip
        return self.values[name]

    def alias(self, node: onnx.NodeProto, value: _Value) -> None:
        self.values[node.output[0]] = value

    # ---- nodes ----

    def _constant(self, node: onnx.NodeProto) -> None:
        self.constants[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])

    def _identity(self, node: onnx.NodeProto) -> None:
        if node.input[0] in self.constants:
            self.constants[node.output[0]] = self.constants[node.input[0]]
        else:
            self.alias(node, self.value(node.input[0]))

    _dropout = _identity

    def _transpose(self, node: onnx.NodeProto) -> None:
        value = self.value(node.input[0])
        rank = len(self.shape(value)) + 1
        perm = list(_attrs(node).get("perm", []))
        if value.layout == "last" and perm == _to_first(rank):
            self.alias(node, _Value(value.name, "first"))
        elif value.layout == "first" and perm == _to_last(rank):
            self.alias(node, _Value(value.name, "last"))
        elif perm == list(range(rank)):
            self.alias(node, value)
        else:
            raise InvalidInput(f"ONNX Transpose perm {perm} is not a channels-first/last swap")

    def _gemm(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0:
            raise InvalidInput("ONNX Gemm with transA or alpha != 1 is not supported")
        weight = self.const(node.input[1], node).astype(np.float64)
        weight = weight if attrs.get("transB", 0) else weight.T
        bias = (self.const(node.input[2], node).astype(np.float64) * attrs.get("beta", 1.0)
                if len(node.input) > 2 and node.input[2] else np.zeros(len(weight)))  # fmt: skip
        self.dense(node, weight, np.broadcast_to(bias, (len(weight),)))

    def _matmul(self, node: onnx.NodeProto) -> None:
        weight = self.const(node.input[1], node).astype(np.float64).T
        self.dense(node, weight, np.zeros(len(weight)))

    def dense(self, node: onnx.NodeProto, weight: np.ndarray, bias: np.ndarray) -> None:
        value = self.value(node.input[0])
        if value.layout == "flat_first":
            assert value.permutation is not None
            permuted = np.zeros_like(weight)
            permuted[:, value.permutation] = weight
            weight = permuted
        elif value.layout != "last" or len(self.shape(value)) != 1:
            raise InvalidInput("ONNX Gemm/MatMul must read a flat (batch, features) tensor")
        if weight.shape[1] != self.shape(value)[0]:
            raise InvalidInput(f"ONNX Gemm weight {weight.shape} does not fit its input "
                               f"{self.shape(value)}")  # fmt: skip
        name = self.add("dense", [value.name, self.constant("w", weight),
                                  self.constant("b", bias)], (len(weight),))  # fmt: skip
        self.alias(node, _Value(name, "last"))

    def _conv(self, node: onnx.NodeProto) -> None:
        value = self.value(node.input[0])
        if value.layout != "first":
            raise InvalidInput("ONNX Conv must read a channels-first tensor")
        attrs = _attrs(node)
        weight = self.const(node.input[1], node).astype(np.float64)
        bias = (self.const(node.input[2], node) if len(node.input) > 2 and node.input[2]
                else np.zeros(weight.shape[0]))  # fmt: skip
        shape = self.shape(value)
        spatial = len(shape) - 1
        kernel = tuple(weight.shape[2:])
        strides = tuple(attrs.get("strides", [1] * spatial))
        if any(d != 1 for d in attrs.get("dilations", [1] * spatial)):
            raise InvalidInput("ONNX Conv dilations are not supported")
        padding = self.padding(node, shape[:-1], kernel, strides)
        group = int(attrs.get("group", 1))
        channels = shape[-1]
        out_spatial = [(shape[i] + sum(self.pads(node, spatial)[i::spatial]) - kernel[i])
                       // strides[i] + 1 for i in range(spatial)]  # fmt: skip
        b = self.constant("b", bias)
        if group == 1 and spatial == 1:
            w = self.constant("w", weight.transpose(0, 2, 1))
            name = self.add("conv1d", [value.name, w, b], (*out_spatial, weight.shape[0]),
                            stride=strides[0], padding=padding)  # fmt: skip
        elif group == 1 and spatial == 2:
            w = self.constant("w", weight.transpose(0, 2, 3, 1))
            name = self.add("conv2d", [value.name, w, b], (*out_spatial, weight.shape[0]),
                            stride=list(strides), padding=padding)  # fmt: skip
        elif spatial == 2 and group == channels and weight.shape[:2] == (channels, 1):
            w = self.constant("w", weight[:, 0].transpose(1, 2, 0))
            name = self.add("depthwise_conv2d", [value.name, w, b], (*out_spatial, channels),
                            stride=list(strides), padding=padding)  # fmt: skip
        else:
            raise InvalidInput(f"ONNX Conv with group {group} over {spatial}-D input is not "
                               "supported (1-D/2-D, group 1 or depthwise)")  # fmt: skip
        self.alias(node, _Value(name, "first"))

    def pads(self, node: onnx.NodeProto, spatial: int) -> list[int]:
        attrs = _attrs(node)
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
            raise InvalidInput("ONNX auto_pad SAME_* is not supported: give explicit pads")
        return list(attrs.get("pads", [0] * (2 * spatial)))

    def padding(self, node: onnx.NodeProto, shape: tuple[int, ...], kernel: tuple[int, ...],
                strides: tuple[int, ...]) -> str:  # fmt: skip
        pads = self.pads(node, len(shape))
        if not any(pads):
            return "valid"
        same = [pad_amounts(shape[i], kernel[i], strides[i], "same") for i in range(len(shape))]
        if pads == [a for a, _ in same] + [b for _, b in same]:
            return "same"
        raise InvalidInput(f"ONNX {node.op_type} pads {pads} are neither none nor 'same'")

    def pool(self, node: onnx.NodeProto, kind: str) -> None:
        value = self.value(node.input[0])
        if value.layout != "first":
            raise InvalidInput(f"ONNX {node.op_type} must read a channels-first tensor")
        attrs = _attrs(node)
        size = tuple(int(v) for v in attrs["kernel_shape"])
        strides = tuple(int(v) for v in attrs.get("strides", size))
        shape = self.shape(value)
        if any(self.pads(node, len(size))) or attrs.get("ceil_mode", 0):
            raise InvalidInput(f"ONNX {node.op_type} with padding or ceil_mode is not supported")
        out = [(shape[i] - size[i]) // strides[i] + 1 for i in range(len(size))]
        if len(size) == 1:
            name = self.add(f"{kind}_pool1d", [value.name], (*out, shape[-1]), size=size[0],
                            stride=strides[0])  # fmt: skip
        else:
            name = self.add(f"{kind}_pool2d", [value.name], (*out, shape[-1]), size=list(size),
                            stride=list(strides))  # fmt: skip
        self.alias(node, _Value(name, "first"))

    def _maxpool(self, node: onnx.NodeProto) -> None:
        self.pool(node, "max")

    def _averagepool(self, node: onnx.NodeProto) -> None:
        self.pool(node, "avg")

    def flatten(self, node: onnx.NodeProto, value: _Value) -> None:
        shape = self.shape(value)
        count = int(np.prod(shape))
        if len(shape) == 1 and value.layout == "last":
            self.alias(node, value)
            return
        name = self.add("reshape", [value.name], (count,), shape=[count])
        if value.layout == "first":  # ONNX flattens (C, *spatial); the IR (*spatial, C)
            channels_last = np.arange(count).reshape(shape)
            order = np.moveaxis(channels_last, -1, 0).ravel()
            self.alias(node, _Value(name, "flat_first", order))
        else:
            self.alias(node, _Value(name, "last"))

    def _flatten(self, node: onnx.NodeProto) -> None:
        if _attrs(node).get("axis", 1) != 1:
            raise InvalidInput("ONNX Flatten must keep the batch axis (axis=1)")
        self.flatten(node, self.value(node.input[0]))

    def _reshape(self, node: onnx.NodeProto) -> None:
        value = self.value(node.input[0])
        target = [int(v) for v in self.const(node.input[1], node)]
        count = int(np.prod(self.shape(value)))
        if len(target) == 2 and target[1] in (-1, count):
            self.flatten(node, value)
            return
        rest = target[1:]
        if value.layout != "last" or target[0] not in (-1, 0) or -1 in rest or \
                int(np.prod(rest)) != count:  # fmt: skip
            raise InvalidInput(f"ONNX Reshape to {target} is not supported here")
        name = self.add("reshape", [value.name], tuple(rest), shape=rest)
        self.alias(node, _Value(name, "last"))

    def unary(self, node: onnx.NodeProto, kind: str) -> None:
        value = self.value(node.input[0])
        name = self.add(kind, [value.name], self.shape(value))
        self.alias(node, _Value(name, value.layout, value.permutation))

    def _relu(self, node: onnx.NodeProto) -> None:
        self.unary(node, "relu")

    def _clip(self, node: onnx.NodeProto) -> None:
        attrs = _attrs(node)
        low = float(self.const(node.input[1], node)) if len(node.input) > 1 and node.input[1] \
            else attrs.get("min", None)  # fmt: skip
        high = float(self.const(node.input[2], node)) if len(node.input) > 2 and node.input[2] \
            else attrs.get("max", None)  # fmt: skip
        if low != 0.0 or high != 6.0:
            raise InvalidInput(f"ONNX Clip({low}, {high}) is not supported (only relu6)")
        self.unary(node, "relu6")

    def _softmax(self, node: onnx.NodeProto) -> None:
        value = self.value(node.input[0])
        axis = _attrs(node).get("axis", -1)
        if value.layout != "last" or axis not in (-1, len(self.shape(value))):
            raise InvalidInput("ONNX Softmax must run over the last axis of a flat tensor")
        self.unary(node, "softmax")

    def _add(self, node: onnx.NodeProto) -> None:
        a, b = node.input[0], node.input[1]
        if a in self.constants or b in self.constants:
            constant, other = (a, b) if a in self.constants else (b, a)
            value = self.value(other)
            producer = self.producers.get(value.name)
            if producer is not None and producer.kind == "dense" and self.readers[other] == 1:
                bias = self.tensors[producer.inputs[2]].data
                assert bias is not None
                fused = bias + self.constants[constant].astype(np.float32).ravel()
                self.tensors[producer.inputs[2]].data = fused.astype(np.float32)
                self.alias(node, value)
                return
            self.elementwise(node, other, -self.constants[constant], None)
            return
        left, right = self.value(a), self.value(b)
        if left.layout != right.layout or self.shape(left) != self.shape(right):
            raise InvalidInput("ONNX Add needs two tensors of one shape and layout")
        name = self.add("add", [left.name, right.name], self.shape(left))
        self.alias(node, _Value(name, left.layout, left.permutation))

    def elementwise(self, node: onnx.NodeProto, source: str, mean: np.ndarray | None,
                    std: np.ndarray | None) -> None:  # fmt: skip
        """(x - mean) / std with constants broadcast to x: the IR `scale` op."""
        value = self.value(source)
        if value.layout != "last":
            raise InvalidInput(f"ONNX {node.op_type} by a constant must read a channels-last "
                               "tensor")  # fmt: skip
        shape = self.shape(value)
        full_mean = np.broadcast_to(np.zeros(1) if mean is None else mean, (1, *shape))[0]
        full_std = np.broadcast_to(np.ones(1) if std is None else std, (1, *shape))[0]
        name = self.add("scale", [value.name, self.constant("mean", full_mean),
                                  self.constant("std", full_std)], shape)  # fmt: skip
        self.alias(node, _Value(name, "last"))

    def _sub(self, node: onnx.NodeProto) -> None:
        self.elementwise(node, node.input[0], self.const(node.input[1], node), None)

    def _div(self, node: onnx.NodeProto) -> None:
        std = self.const(node.input[1], node)
        value = self.value(node.input[0])
        producer = self.producers.get(value.name)
        if producer is not None and producer.kind == "scale" and self.readers[node.input[0]] == 1:
            old = self.tensors[producer.inputs[2]].data
            assert old is not None
            combined = old * np.broadcast_to(std, (1, *old.shape))[0]
            self.tensors[producer.inputs[2]].data = combined.astype(np.float32)
            self.alias(node, value)
            return
        self.elementwise(node, node.input[0], None, std)

    def _mul(self, node: onnx.NodeProto) -> None:
        a, b = node.input[0], node.input[1]
        constant, other = (a, b) if a in self.constants else (b, a)
        factor = self.const(constant, node).astype(np.float64)
        if not np.all(factor != 0):
            raise InvalidInput("ONNX Mul by a constant with zeros is not supported")
        self.elementwise(node, other, None, 1.0 / factor)


def import_model(data: bytes, *, labels: list[str] | None = None,
                 task: Task | None = None) -> Graph:  # fmt: skip
    """An IR graph from ONNX bytes. `labels` name the outputs of a classifier (default: the
    model's `labels` metadata, as `onnx_export` writes it); `task` defaults to the metadata's,
    else classification when the graph ends in Softmax, else regression."""
    try:
        model = onnx.load_from_string(data)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises its own and protobuf errors
        raise InvalidInput(f"not a valid ONNX model: {str(exc).splitlines()[0][:200]}") from None
    graph = _Importer(model).run()
    meta = {prop.key: prop.value for prop in model.metadata_props}
    ends_softmax = graph.ops and graph.ops[-1].kind == "softmax"
    chosen = task or meta.get("task") or ("classification" if ends_softmax else "regression")
    if chosen not in ("classification", "regression", "anomaly"):
        raise InvalidInput(f"task {chosen!r} is not classification, regression or anomaly")
    graph.task = chosen
    names = labels if labels is not None else [x for x in meta.get("labels", "").split(",") if x]
    outputs = int(np.prod(graph.tensor(graph.outputs[0]).shape))
    if graph.task == "classification" and len(names) != outputs:
        raise InvalidInput(f"the model has {outputs} outputs but {len(names)} labels were given "
                           "(--labels a,b,c: one per output, in order)")  # fmt: skip
    graph.labels = list(names) if graph.task == "classification" else []
    return graph
