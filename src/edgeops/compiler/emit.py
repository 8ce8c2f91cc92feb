"""C for each IR op: its constant tables and the one kernel call that runs it."""

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from edgeops.compiler.from_sklearn import float32_at_most
from edgeops.compiler.ir import Graph, Op, TreeEnsemble, pad_amounts
from edgeops.compiler.memory import ALIASING_KINDS, MemoryPlan
from edgeops.errors import InvalidInput

C_TYPES = {"float32": "float", "int8": "int8_t", "int32": "int32_t"}
ACCUMULATOR_LIMIT = 2**31 - 1
INT8_WEIGHTED = frozenset({"dense", "conv1d", "conv2d", "depthwise_conv2d"})


def c_float(value: float) -> str:
    """A float32 C literal that reads back to the same float32."""
    if not math.isfinite(value):
        raise InvalidInput(f"cannot put {value} into C: model constants must be finite")
    text = f"{np.float32(value).item():.9g}"
    if not any(c in text for c in ".en"):
        text += ".0"
    return text + "f"


def c_string(text: str) -> str:
    """A C string literal (UTF-8; anything but printable ASCII as octal escapes)."""
    out = []
    for byte in text.encode("utf-8"):
        char = chr(byte)
        if char in '"\\?' or not 32 <= byte < 127:
            out.append(f"\\{byte:03o}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def c_array(c_type: str, name: str, values: Iterable[Any]) -> str:
    items = [c_float(float(v)) if c_type == "float" else str(int(v)) for v in values]
    rows = ",\n    ".join(", ".join(items[i : i + 12]) for i in range(0, len(items), 12))
    return f"static const {c_type} {name}[{max(len(items), 1)}] = {{\n    {rows or '0'}\n}};\n"


def _count(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


class Emitter:
    """Collects declarations (constant arrays, parameter structs) and kernel calls for a graph
    whose activations live in the arena at `plan.offsets`."""

    def __init__(self, graph: Graph, plan: MemoryPlan) -> None:
        self.graph = graph
        self.plan = plan
        self.declarations: list[str] = []
        self.constants: dict[str, str] = {}
        self.headers: set[str] = set()
        self.tree_index_type = "int32_t"  # narrowed by a tree ensemble whose indices fit

    def tensor(self, name: str) -> str:
        """A C expression for a tensor: an arena pointer or a constant array."""
        tensor = self.graph.tensor(name)
        if tensor.data is not None:
            return self.constant(name)
        return f"EO_TENSOR({C_TYPES[tensor.dtype]}, {self.plan.offsets[name]})"

    def constant(self, name: str) -> str:
        if name not in self.constants:
            tensor = self.graph.tensor(name)
            assert tensor.data is not None
            identifier = f"k{len(self.constants)}"
            self.declarations.append(
                f"/* {name} {tensor.dtype} {list(tensor.shape)} */\n"
                + c_array(C_TYPES[tensor.dtype], identifier, tensor.data.ravel())
            )
            self.constants[name] = identifier
        return self.constants[name]

    def table(self, stem: str, c_type: str, values: Iterable[Any]) -> str:
        identifier = f"{stem}{len(self.declarations)}"
        self.declarations.append(c_array(c_type, identifier, values))
        return identifier

    def struct(self, c_type: str, stem: str, fields: list[Any]) -> str:
        identifier = f"{stem}{len(self.declarations)}"
        body = ", ".join(str(f) for f in fields)
        self.declarations.append(f"static const {c_type} {identifier} = {{{body}}};\n")
        return f"&{identifier}"

    def call(self, op: Op) -> str | None:
        """The statement that runs `op` (None for a reshape: it only renames bytes)."""
        if op.kind in ALIASING_KINDS:
            return None
        out = self.graph.tensor(op.outputs[0])
        int8 = out.dtype == "int8"
        self.headers.add("edgeops_int8.h" if int8 or op.kind == "dequantize" else "edgeops_float.h")
        handler = getattr(self, f"_{op.kind}")
        statement: str = handler(op, int8)
        return statement

    # --- ops -----------------------------------------------------------------------------

    def _requant(self, op: Op, channels: int) -> str:
        attrs = op.attrs
        multiplier = self.table("multiplier", "int32_t", attrs["multiplier"])
        shift = self.table("shift", "int32_t", attrs["shift"])
        return self.struct("eo_requant", "requant", [
            multiplier, shift, attrs["input_zero_point"], attrs["output_zero_point"],
            attrs.get("activation_min", -128), attrs.get("activation_max", 127),
        ])  # fmt: skip

    def _check_accumulator(self, op: Op, terms: int) -> None:
        bias = self.graph.constant(op.inputs[2])
        # partial sums stay within this bound, in any order (and with a folded bias: below it
        # by at most terms * 128 * 127 more)
        bound = int(np.abs(bias.astype(np.int64)).max(initial=0)) + terms * (255 + 128) * 127
        if bound > ACCUMULATOR_LIMIT:
            raise InvalidInput(
                f"{op.kind} {op.outputs[0]}: {terms} products per output could overflow the "
                "int32 accumulator; split the layer"
            )

    def _dense(self, op: Op, int8: bool) -> str:
        x, w, y = self.tensor(op.inputs[0]), self.tensor(op.inputs[1]), self.tensor(op.outputs[0])
        n_out, n_in = self.graph.tensor(op.inputs[1]).shape
        if int8:
            self._check_accumulator(op, n_in)
            weight = self.graph.constant(op.inputs[1]).astype(np.int64)
            bias = self.graph.constant(op.inputs[2]).astype(np.int64)
            folded = bias - int(op.attrs["input_zero_point"]) * weight.sum(axis=1)
            b = self.table("folded_bias", "int32_t", folded)
            return f"eo_dense_s8({x}, {n_in}, {w}, {b}, {n_out}, {self._requant(op, n_out)}, {y});"
        b = self.tensor(op.inputs[2])
        return f"eo_dense_f32({x}, {n_in}, {w}, {b}, {n_out}, {y});"

    def _geometry(self, op: Op, kernel: tuple[int, int], out_c: int) -> str:
        shape = self.graph.tensor(op.inputs[0]).shape
        out_shape = self.graph.tensor(op.outputs[0]).shape
        if len(shape) == 2:  # (length, channels): a height-1 image
            shape, out_shape = (1, *shape), (1, *out_shape)
            stride = (1, int(op.attrs.get("stride", 1)))
        else:
            stride = tuple(op.attrs.get("stride", (1, 1)))
        padding = op.attrs.get("padding", "valid")
        top = pad_amounts(shape[0], kernel[0], stride[0], padding)[0]
        left = pad_amounts(shape[1], kernel[1], stride[1], padding)[0]
        return self.struct("eo_conv_geometry", "geometry", [
            shape[0], shape[1], shape[2], out_shape[0], out_shape[1], out_c,
            kernel[0], kernel[1], stride[0], stride[1], top, left,
        ])  # fmt: skip

    def _convolution(self, op: Op, int8: bool, kernel: tuple[int, int], out_c: int) -> str:
        x, w, b = (self.tensor(n) for n in op.inputs)
        y = self.tensor(op.outputs[0])
        geometry = self._geometry(op, kernel, out_c)
        if int8:
            in_c = self.graph.tensor(op.inputs[0]).shape[-1]
            per_channel = 1 if op.kind == "depthwise_conv2d" else in_c
            self._check_accumulator(op, kernel[0] * kernel[1] * per_channel)
            return f"eo_{op.kind}_s8({x}, {geometry}, {w}, {b}, {self._requant(op, out_c)}, {y});"
        return f"eo_{op.kind}_f32({x}, {geometry}, {w}, {b}, {y});"

    def _conv1d(self, op: Op, int8: bool) -> str:
        out_c, k, _ = self.graph.tensor(op.inputs[1]).shape
        return self._convolution(op, int8, (1, k), out_c)

    def _conv2d(self, op: Op, int8: bool) -> str:
        out_c, kh, kw, _ = self.graph.tensor(op.inputs[1]).shape
        return self._convolution(op, int8, (kh, kw), out_c)

    def _depthwise_conv2d(self, op: Op, int8: bool) -> str:
        kh, kw, channels = self.graph.tensor(op.inputs[1]).shape
        return self._convolution(op, int8, (kh, kw), channels)

    def _pool(self, op: Op, int8: bool, average: bool) -> str:
        shape = self.graph.tensor(op.inputs[0]).shape
        out_shape = self.graph.tensor(op.outputs[0]).shape
        if len(shape) == 2:
            shape, out_shape = (1, *shape), (1, *out_shape)
            size = (1, int(op.attrs["size"]))
            stride = (1, int(op.attrs.get("stride", size[1])))
        else:
            size = tuple(op.attrs["size"])
            stride = tuple(op.attrs.get("stride", size))
        geometry = self.struct("eo_pool_geometry", "pool", [
            shape[0], shape[1], shape[2], out_shape[0], out_shape[1], *size, *stride,
        ])  # fmt: skip
        kind = "avg" if average else "max"
        suffix = "s8" if int8 else "f32"
        x, y = self.tensor(op.inputs[0]), self.tensor(op.outputs[0])
        return f"eo_{kind}_pool_{suffix}({x}, {geometry}, {y});"

    def _max_pool1d(self, op: Op, int8: bool) -> str:
        return self._pool(op, int8, False)

    def _max_pool2d(self, op: Op, int8: bool) -> str:
        return self._pool(op, int8, False)

    def _avg_pool1d(self, op: Op, int8: bool) -> str:
        return self._pool(op, int8, True)

    def _avg_pool2d(self, op: Op, int8: bool) -> str:
        return self._pool(op, int8, True)

    def _elementwise(self, op: Op) -> tuple[str, int, str]:
        x, y = self.tensor(op.inputs[0]), self.tensor(op.outputs[0])
        return x, _count(self.graph.tensor(op.outputs[0]).shape), y

    def _relu(self, op: Op, int8: bool) -> str:
        x, n, y = self._elementwise(op)
        if int8:
            low, high = op.attrs["activation_min"], op.attrs["activation_max"]
            return f"eo_clamp_s8_array({x}, {n}, {low}, {high}, {y});"
        return f"eo_{op.kind}_f32({x}, {n}, {y});"

    _relu6 = _relu

    def _softmax(self, op: Op, int8: bool) -> str:
        x, n, y = self._elementwise(op)
        if int8:
            table = self.table("softmax_table", "int32_t", op.attrs["table"])
            return f"eo_softmax_s8({x}, {n}, {table}, {y});"
        return f"eo_softmax_f32({x}, {n}, {y});"

    def _add(self, op: Op, int8: bool) -> str:
        a, b = (self.tensor(n) for n in op.inputs)
        _, n, y = self._elementwise(op)
        if not int8:
            return f"eo_add_f32({a}, {b}, {n}, {y});"
        attrs = op.attrs
        params = self.struct("eo_add_params", "add", [
            "{" + ", ".join(map(str, attrs["input_zero_points"])) + "}",
            "{" + ", ".join(map(str, attrs["input_multipliers"])) + "}",
            "{" + ", ".join(map(str, attrs["input_shifts"])) + "}",
            attrs["left_shift"], attrs["output_multiplier"], attrs["output_shift"],
            attrs["output_zero_point"], attrs["activation_min"], attrs["activation_max"],
        ])  # fmt: skip
        return f"eo_add_s8({a}, {b}, {n}, {params}, {y});"

    def _scale(self, op: Op, int8: bool) -> str:
        x, n, y = self._elementwise(op)
        if not int8:
            mean, std = self.tensor(op.inputs[1]), self.tensor(op.inputs[2])
            return f"eo_scale_f32({x}, {mean}, {std}, {n}, {y});"
        offset = self.table("offset", "int32_t", op.attrs["offset"])
        return f"eo_scale_s8({x}, {n}, {offset}, {self._requant(op, n)}, {y});"

    def _quantize(self, op: Op, int8: bool) -> str:
        x, n, y = self._elementwise(op)
        scale, zero = c_float(op.attrs["scale"]), op.attrs["zero_point"]
        if len(op.inputs) == 3:  # standardise first
            mean, std = self.tensor(op.inputs[1]), self.tensor(op.inputs[2])
            return f"eo_standardize_quantize_s8({x}, {mean}, {std}, {n}, {scale}, {zero}, {y});"
        return f"eo_quantize_s8({x}, {n}, {scale}, {zero}, {y});"

    def _dequantize(self, op: Op, int8: bool) -> str:
        x, n, y = self._elementwise(op)
        scale, zero = c_float(op.attrs["scale"]), op.attrs["zero_point"]
        return f"eo_dequantize_s8({x}, {n}, {scale}, {zero}, {y});"

    def _tree_ensemble(self, op: Op, int8: bool) -> str:
        self.headers.add("edgeops_trees.h")
        trees: TreeEnsemble = op.attrs["trees"]
        roots: list[int] = []
        features: list[int] = []
        thresholds: list[float] = []
        lefts: list[int] = []
        rights: list[int] = []
        leaves: list[np.ndarray] = []
        base = 0
        for feature, threshold, left, right, value in zip(
            trees.feature, trees.threshold, trees.left, trees.right, trees.value, strict=True
        ):
            roots.append(base)
            for node in range(len(feature)):
                if left[node] == -1:
                    lefts.append(-1)
                    rights.append(len(leaves))
                    features.append(0)
                    thresholds.append(0.0)
                    leaves.append(np.asarray(value[node], dtype=np.float64).ravel())
                else:
                    lefts.append(base + int(left[node]))
                    rights.append(base + int(right[node]))
                    features.append(int(feature[node]))
                    thresholds.append(float(float32_at_most(np.array([threshold[node]]))[0]))
            base += len(feature)
        # identical leaves (pure ones above all) share a row, as float32 as the C sees them
        rows, row_of_leaf = np.unique(
            np.stack(leaves).astype(np.float32), axis=0, return_inverse=True
        )
        row_of_leaf = row_of_leaf.ravel()
        rights = [
            row_of_leaf[r] if left == -1 else r for left, r in zip(lefts, rights, strict=True)
        ]
        index_type = "int16_t" if max(base, len(rows), max(features) + 1) < 2**15 else "int32_t"
        self.tree_index_type = index_type
        model = self.struct("eo_tree_ensemble", "trees", [
            len(roots), rows.shape[1], self.table("roots", "int32_t", roots),
            self.table("feature", index_type, features),
            self.table("threshold", "float", thresholds),
            self.table("left", index_type, lefts), self.table("right", index_type, rights),
            self.table("leaf_values", "float", rows.ravel()),
        ])  # fmt: skip
        return f"eo_trees_f32({self.tensor(op.inputs[0])}, {model}, {self.tensor(op.outputs[0])});"

    def _kmeans_anomaly(self, op: Op, int8: bool) -> str:
        self.headers.add("edgeops_anomaly.h")
        k, n_in = self.graph.tensor(op.inputs[1]).shape
        x, centers, y = (
            self.tensor(op.inputs[0]),
            self.tensor(op.inputs[1]),
            self.tensor(op.outputs[0]),
        )
        return f"eo_kmeans_anomaly_f32({x}, {n_in}, {centers}, {k}, {y});"

    def _gmm_anomaly(self, op: Op, int8: bool) -> str:
        self.headers.add("edgeops_anomaly.h")
        k, n_in = self.graph.tensor(op.inputs[1]).shape
        chol = self.graph.constant(op.inputs[2]).astype(np.float64)
        log_weights = self.graph.constant(op.inputs[3]).astype(np.float64)
        log_det = np.log(np.abs(np.diagonal(chol, axis1=1, axis2=2))).sum(axis=1)
        log_norm = log_weights + log_det - 0.5 * n_in * np.log(2 * np.pi)
        norm = self.table("log_norm", "float", log_norm)
        x, means = self.tensor(op.inputs[0]), self.tensor(op.inputs[1])
        chol_name, y = self.tensor(op.inputs[2]), self.tensor(op.outputs[0])
        return f"eo_gmm_anomaly_f32({x}, {n_in}, {means}, {chol_name}, {norm}, {k}, {y});"
