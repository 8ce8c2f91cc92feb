"""The quantizer follows the TFLite int8 spec; its fixed-point arithmetic matches exact math."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.compiler.conftest import check_compiled

from edgeops.compiler import int8_reference, reference
from edgeops.compiler.fixedpoint import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    round_half_away,
    rounding_divide_by_power_of_two,
    saturating_rounding_doubling_high_mul,
)
from edgeops.compiler.ir import GraphBuilder
from edgeops.compiler.quantize import activation_params, quantize, quantize_weights
from edgeops.errors import InvalidInput

int32s = st.integers(-(2**31), 2**31 - 1)


def _round_away(value: Fraction) -> int:
    return math.floor(abs(value) + Fraction(1, 2)) * (1 if value >= 0 else -1)


@given(a=int32s, b=int32s)
def test_high_mul_is_rounded_doubled_high_half(a: int, b: int) -> None:
    got = int(saturating_rounding_doubling_high_mul(np.array([a]), np.array([b]))[0])
    if a == b == -(2**31):
        assert got == 2**31 - 1
    else:
        assert got == _round_away(Fraction(2 * a * b, 2**32))


@given(x=int32s, exponent=st.integers(0, 31))
def test_divide_by_power_of_two_rounds_half_away(x: int, exponent: int) -> None:
    got = int(rounding_divide_by_power_of_two(np.array([x]), exponent)[0])
    assert got == _round_away(Fraction(x, 2**exponent))


@given(real=st.floats(1e-9, 1e6))
def test_quantized_multiplier_represents_the_real(real: float) -> None:
    multiplier, shift = quantize_multiplier(real)
    if multiplier:
        assert 2**30 <= multiplier < 2**31
        assert abs(multiplier * 2.0 ** (shift - 31) - real) <= real * 2**-30


@given(x=st.integers(-(2**20), 2**20), real=st.floats(1e-6, 4.0))
def test_multiply_by_quantized_multiplier_is_within_one_of_exact(x: int, real: float) -> None:
    multiplier, shift = quantize_multiplier(real)
    got = int(multiply_by_quantized_multiplier(np.array([x]), multiplier, shift)[0])
    exact = Fraction(x) * Fraction(multiplier) * Fraction(2) ** (shift - 31)
    assert abs(got - exact) <= 1


def test_round_half_away_matches_c_roundf() -> None:
    values = np.array([0.5, 1.5, 2.5, -0.5, -1.5, 0.49999997, -2.5000002], dtype=np.float32)
    assert round_half_away(values).tolist() == [1, 2, 3, -1, -2, 0, -3]


@given(low=st.floats(-1e3, 1e3), width=st.floats(1e-3, 1e3))
def test_activation_range_includes_zero_exactly(low: float, width: float) -> None:
    scale, zero_point = activation_params(low, low + width)
    assert -128 <= zero_point <= 127 and scale > 0
    assert scale * (-128 - zero_point) <= min(low, 0) + scale
    assert scale * (127 - zero_point) >= max(low + width, 0) - scale


def test_weights_are_symmetric_per_channel() -> None:
    weight = np.array([[0.5, -1.0, 0.25], [10.0, 5.0, -2.5]])
    quantized, scale = quantize_weights(weight, axis=0)
    assert quantized.dtype == np.int8
    assert quantized.tolist() == [[64, -127, 32], [127, 64, -32]]
    np.testing.assert_allclose(scale, [1.0 / 127, 10.0 / 127], rtol=1e-6)


def _mlp(rng: np.random.Generator) -> GraphBuilder:
    builder = GraphBuilder((6,))
    builder.op("scale", (6,), {"mean": rng.normal(size=6), "std": rng.uniform(1, 2, size=6)})
    builder.op("dense", (8,), {"w": rng.normal(size=(8, 6)), "b": rng.normal(size=8)})
    builder.op("relu6", (8,))
    builder.op("reshape", (4, 2), shape=(4, 2))
    builder.op("max_pool1d", (2, 2), size=2)
    builder.op("reshape", (4,), shape=(4,))
    builder.op("dense", (3,), {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=3)})
    builder.op("softmax", (3,))
    return builder


def test_quantized_graph_follows_the_spec() -> None:
    rng = np.random.default_rng(1)
    graph = _mlp(rng).build("classification", ["a", "b", "c"])
    x = rng.normal(size=(200, 6)).astype(np.float32)
    q = quantize(graph, x)
    kinds = [op.kind for op in q.ops]
    # scale stays float inside the quantize op before the first dense; relu6 fused into it
    assert kinds == ["quantize", "dense", "reshape", "max_pool1d", "reshape", "dense", "softmax"]
    assert q.ops[0].inputs == graph.ops[0].inputs  # x, mean, std
    first_dense = q.ops[1]
    weight, bias = q.tensor(first_dense.inputs[1]), q.tensor(first_dense.inputs[2])
    assert weight.dtype == "int8" and weight.quant is not None and weight.quant.axis == 0
    assert np.abs(weight.data).max() == 127 and (weight.quant.zero_point == 0).all()
    assert bias.dtype == "int32" and bias.quant is not None
    in_scale = q.tensor(first_dense.inputs[0]).quant.scale[0]
    np.testing.assert_allclose(bias.quant.scale, in_scale * weight.quant.scale, rtol=1e-6)
    out = q.tensor(first_dense.outputs[0]).quant
    assert first_dense.attrs["activation_min"] >= out.zero_point[0]  # relu: real 0 and up
    six = out.zero_point[0] + round(6 / out.scale[0])
    assert first_dense.attrs["activation_max"] == min(127, six)
    pooled = q.tensor(q.ops[3].outputs[0]).quant
    assert pooled.scale[0] == out.scale[0] and pooled.zero_point[0] == out.zero_point[0]
    softmax = q.tensor(q.outputs[0]).quant
    assert softmax.scale[0] == pytest.approx(1 / 256) and softmax.zero_point[0] == -128
    # and it still computes the model
    exact = reference.run(graph, x)
    approx = int8_reference.dequantized(q, int8_reference.run(q, x))
    assert np.abs(exact - approx).max() < 0.05
    assert (exact.argmax(1) == approx.argmax(1)).mean() > 0.95


def test_input_quantization_rounds_ties_away_from_zero_in_c() -> None:
    """Inputs exactly halfway between two integers: C's roundf and the reference agree."""
    rng = np.random.default_rng(2)
    graph = _mlp(rng).build("classification", ["a", "b", "c"])
    q = quantize(graph, rng.normal(size=(50, 6)))
    q.ops[0].inputs = ["input"]  # quantize x as is, without standardising
    q.ops[0].attrs.update(scale=0.5, zero_point=3)
    ties = (np.arange(-30, 30).reshape(10, 6) * 0.5 + 0.25).astype(np.float32)
    ratio = ties.astype(np.float64) / 0.5  # exactly k + 0.5
    away = np.where(ratio > 0, ratio + 0.5, ratio - 0.5)
    assert (int8_reference.quantize_input(ties, 0.5, 0) == away).all()
    check_compiled(q, ties)


def test_calibration_must_fit_the_input() -> None:
    graph = _mlp(np.random.default_rng(3)).build("classification", ["a", "b", "c"])
    with pytest.raises(InvalidInput, match="calibration batch has shape"):
        quantize(graph, np.zeros((10, 5)))


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(-1e4, 1e4, width=32), min_size=1, max_size=20),
       scale=st.floats(1e-3, 10.0), zero_point=st.integers(-128, 127))  # fmt: skip
def test_quantize_input_is_clamped_and_close(
    values: list[float], scale: float, zero_point: int
) -> None:
    x = np.array(values, dtype=np.float32)
    q = int8_reference.quantize_input(x, scale, zero_point)
    assert q.min() >= -128 and q.max() <= 127
    inside = (q > -128) & (q < 127)
    real = (q - zero_point) * np.float32(scale)
    assert (np.abs(real - x)[inside] <= scale * 0.5001 + 1e-6).all()
