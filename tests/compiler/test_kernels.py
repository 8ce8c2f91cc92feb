"""Every C kernel against the numpy references: int8 bit-exact with `int8_reference`, float
within 1e-5 of `reference`, on random shapes, weights and quant params."""

import zlib

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from tests.compiler.conftest import check_compiled

from edgeops.compiler import int8_reference
from edgeops.compiler.ir import Graph, GraphBuilder, Op, Tensor, conv_output_length
from edgeops.compiler.quantize import quantize

EXAMPLES = settings(max_examples=5, deadline=None)
activations = st.sampled_from(["none", "relu", "relu6"])
spreads = st.sampled_from([0.05, 1.0, 20.0])


def _rng(*seeds: object) -> np.random.Generator:
    """A generator seeded by the example (crc32: `hash` of strings changes between runs)."""
    return np.random.default_rng(zlib.crc32(repr(seeds).encode()))


def assert_float_and_int8_compile_exactly(
    builder: GraphBuilder, rng: np.random.Generator, spread: float, rows: int = 40
) -> None:
    """Compile the float graph and its int8 version; outliers past the calibration range check
    the clamps."""
    graph = builder.build("regression", [])
    shape = graph.tensor("input").shape
    x = (rng.normal(size=(rows, *shape)) * spread).astype(np.float32)
    check_compiled(graph, x)
    quantized = quantize(graph, x[: rows // 2])
    assert any(t.dtype == "int8" for t in quantized.tensors.values())
    check_compiled(quantized, x * 1.5)


def _activate(builder: GraphBuilder, activation: str) -> None:
    if activation != "none":
        builder.op(activation, builder.shape)


@EXAMPLES
@given(n_in=st.integers(1, 40), n_out=st.integers(1, 24), activation=activations, spread=spreads)
def test_dense(n_in: int, n_out: int, activation: str, spread: float) -> None:
    rng = _rng(n_in, n_out, activation, spread)
    builder = GraphBuilder((n_in,))
    weights = {"w": rng.normal(size=(n_out, n_in)), "b": rng.normal(size=n_out)}
    builder.op("dense", (n_out,), weights)
    _activate(builder, activation)
    assert_float_and_int8_compile_exactly(builder, rng, spread)


@EXAMPLES
@given(
    length=st.integers(3, 24), channels=st.integers(1, 4), filters=st.integers(1, 6),
    kernel=st.integers(1, 5), stride=st.integers(1, 3), padding=st.sampled_from(["valid", "same"]),
    activation=activations, spread=spreads,
)  # fmt: skip
def test_conv1d(length, channels, filters, kernel, stride, padding, activation, spread) -> None:
    assume(kernel <= length)
    rng = _rng(length, channels, filters, kernel, stride, padding, activation)
    builder = GraphBuilder((length, channels))
    out = conv_output_length(length, kernel, stride, padding)
    weights = {"w": rng.normal(size=(filters, kernel, channels)), "b": rng.normal(size=filters)}
    builder.op("conv1d", (out, filters), weights, stride=stride, padding=padding)
    _activate(builder, activation)
    assert_float_and_int8_compile_exactly(builder, rng, spread, rows=12)


@EXAMPLES
@given(
    height=st.integers(3, 10), width=st.integers(3, 10), channels=st.integers(1, 3),
    filters=st.integers(1, 4), kh=st.integers(1, 3), kw=st.integers(1, 3),
    stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
    padding=st.sampled_from(["valid", "same"]), depthwise=st.booleans(), activation=activations,
)  # fmt: skip
def test_conv2d_and_depthwise(
    height, width, channels, filters, kh, kw, stride, padding, depthwise, activation
) -> None:
    rng = _rng(height, width, channels, filters, kh, kw, stride, padding, depthwise)
    builder = GraphBuilder((height, width, channels))
    out_h = conv_output_length(height, kh, stride[0], padding)
    out_w = conv_output_length(width, kw, stride[1], padding)
    if depthwise:
        weights = {"w": rng.normal(size=(kh, kw, channels)), "b": rng.normal(size=channels)}
        builder.op("depthwise_conv2d", (out_h, out_w, channels), weights, stride=stride,
                   padding=padding)  # fmt: skip
    else:
        weights = {"w": rng.normal(size=(filters, kh, kw, channels)), "b": rng.normal(size=filters)}
        builder.op("conv2d", (out_h, out_w, filters), weights, stride=stride, padding=padding)
    _activate(builder, activation)
    assert_float_and_int8_compile_exactly(builder, rng, 1.0, rows=8)


@EXAMPLES
@given(
    two_d=st.booleans(), average=st.booleans(), size=st.integers(1, 3), stride=st.integers(1, 3),
    length=st.integers(3, 9), channels=st.integers(1, 3), spread=spreads,
)  # fmt: skip
def test_pools(two_d, average, size, stride, length, channels, spread) -> None:
    """A 1x1 convolution makes the pool's input int8; its quant params pass through."""
    rng = _rng(two_d, average, size, stride, length, channels)
    shape = (length, length + 1, channels) if two_d else (length, channels)
    builder = GraphBuilder(shape)
    kernel_shape = (channels, 1, 1, channels) if two_d else (channels, 1, channels)
    pointwise = {"w": rng.normal(size=kernel_shape), "b": rng.normal(size=channels)}
    builder.op("conv2d" if two_d else "conv1d", shape, pointwise)
    kind = ("avg" if average else "max") + ("_pool2d" if two_d else "_pool1d")
    if two_d:
        out = (*((d - size) // stride + 1 for d in shape[:2]), channels)
        builder.op(kind, out, size=(size, size), stride=(stride, stride))
    else:
        builder.op(kind, ((length - size) // stride + 1, channels), size=size, stride=stride)
    assert_float_and_int8_compile_exactly(builder, rng, spread, rows=12)


@EXAMPLES
@given(n=st.integers(2, 30), six=st.booleans(), spread=spreads)
def test_standalone_relu_scale_and_softmax(n: int, six: bool, spread: float) -> None:
    """A relu after a reshape is not fused: it runs as a clamp; `scale` on int8 input and the
    table softmax follow."""
    rng = _rng(n, six, spread)
    builder = GraphBuilder((n,))
    builder.op("dense", (n,), {"w": rng.normal(size=(n, n)), "b": rng.normal(size=n)})
    builder.op("reshape", (n, 1), shape=(n, 1))
    builder.op("relu6" if six else "relu", (n, 1))
    builder.op("reshape", (n,), shape=(n,))
    builder.op("scale", (n,), {"mean": rng.normal(size=n), "std": rng.uniform(0.2, 3, size=n)})
    builder.op("softmax", (n,))
    assert_float_and_int8_compile_exactly(builder, rng, spread)


def _add_graph(rng: np.random.Generator, n: int, activation: str) -> Graph:
    tensors = {"input": Tensor("input", (n,))}
    ops = []
    for branch in ("a", "b"):
        weight = (rng.normal(size=(n, n)) * rng.uniform(0.1, 5)).astype(np.float32)
        tensors[f"w{branch}"] = Tensor(f"w{branch}", (n, n), data=weight)
        bias = rng.normal(size=n).astype(np.float32)
        tensors[f"b{branch}"] = Tensor(f"b{branch}", (n,), data=bias)
        tensors[branch] = Tensor(branch, (n,))
        ops.append(Op("dense", ["input", f"w{branch}", f"b{branch}"], [branch]))
    tensors["sum"] = Tensor("sum", (n,))
    ops.append(Op("add", ["a", "b"], ["sum"]))
    output = "sum"
    if activation != "none":
        tensors["out"] = Tensor("out", (n,))
        ops.append(Op(activation, ["sum"], ["out"]))
        output = "out"
    graph = Graph(["input"], [output], tensors, ops, "regression", [])
    graph.check()
    return graph


@EXAMPLES
@given(n=st.integers(1, 20), activation=activations, spread=spreads)
def test_add(n: int, activation: str, spread: float) -> None:
    rng = _rng(n, activation, spread)
    graph = _add_graph(rng, n, activation)
    x = (rng.normal(size=(30, n)) * spread).astype(np.float32)
    check_compiled(graph, x)
    quantized = quantize(graph, x)
    assert [op.kind for op in quantized.ops] == ["quantize", "dense", "dense", "add"]
    check_compiled(quantized, x)


@settings(max_examples=8, deadline=None)
@given(
    multiplier=st.integers(2**30, 2**31 - 1), shift=st.integers(-27, 4),
    input_zero=st.integers(-128, 127), output_zero=st.integers(-128, 127),
    low=st.integers(-128, 0), high=st.integers(0, 127),
)  # fmt: skip
def test_int8_arithmetic_with_arbitrary_quant_params(
    multiplier, shift, input_zero, output_zero, low, high
) -> None:
    """Any requantization parameters (also left shifts and saturation), the same integers."""
    rng = _rng(multiplier, shift, input_zero, output_zero)
    builder = GraphBuilder((12,))
    builder.op("dense", (5,), {"w": rng.normal(size=(5, 12)), "b": rng.normal(size=5)})
    builder.op("relu", (5,))
    graph = quantize(builder.build("regression", []), rng.normal(size=(20, 12)))
    dense = graph.ops[1]
    dense.attrs.update(
        multiplier=[multiplier] * 5, shift=[shift - i for i in range(5)],
        input_zero_point=input_zero, output_zero_point=output_zero,
        activation_min=low, activation_max=high,
    )  # fmt: skip
    x = rng.normal(size=(25, 12)).astype(np.float32) * 3
    outputs = int8_reference.run(graph, x)
    assert outputs.min() >= low and outputs.max() <= high
    check_compiled(graph, x)


def test_tree_kmeans_and_gmm_float() -> None:
    from sklearn.cluster import KMeans
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.mixture import GaussianMixture

    from edgeops.compiler.from_sklearn import forest_to_ir

    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] ** 2 > 0.5).astype(int) + (x[:, 2] > 1)
    forest = RandomForestClassifier(n_estimators=5, max_depth=5, random_state=0).fit(x, y)
    check_compiled(forest_to_ir(forest, ["a", "b", "c"]), x)

    centers = KMeans(3, n_init=2, random_state=0).fit(x).cluster_centers_
    builder = GraphBuilder((4,))
    builder.op("kmeans_anomaly", (1,), {"centers": centers})
    check_compiled(builder.build("anomaly", []), x * 2)

    gmm = GaussianMixture(3, random_state=0).fit(x)
    builder = GraphBuilder((4,))
    builder.op("gmm_anomaly", (1,), {"means": gmm.means_, "chol": gmm.precisions_cholesky_,
                                     "log_weights": np.log(gmm.weights_)})  # fmt: skip
    report = check_compiled(builder.build("anomaly", []), x * 2)
    assert report.label_agreement_percent is None


def test_float_op_after_int8_part_reads_dequantized_values() -> None:
    rng = np.random.default_rng(9)
    builder = GraphBuilder((6,))
    builder.op("dense", (4,), {"w": rng.normal(size=(4, 6)), "b": rng.normal(size=4)})
    builder.op("relu", (4,))
    builder.op("kmeans_anomaly", (1,), {"centers": rng.normal(size=(3, 4))})
    graph = builder.build("anomaly", [])
    x = rng.normal(size=(40, 6)).astype(np.float32)
    quantized = quantize(graph, x)
    assert [op.kind for op in quantized.ops] == [
        "quantize",
        "dense",
        "dequantize",
        "kmeans_anomaly",
    ]
    report = check_compiled(quantized, x)
    assert report.int8 and report.int8_mismatches is None
    assert report.max_abs_error <= 1e-5  # C vs the int8 reference's float tail
    assert report.end_to_end_max_abs_error <= 1e-5
