"""The C radix-2 FFT (blocks/dsp/c/fft.h) against numpy.fft.rfft, linearity and Parseval."""

import math
from functools import cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeops.blocks.base import CFunction
from edgeops.blocks.dsp.cbuild import compile_and_run, fft_tables, float_array, header

LENGTHS = st.sampled_from([16, 32, 64, 128, 256, 512, 1024])
SEEDS = st.integers(0, 2**32 - 1)


@cache
def fft_function(size: int) -> CFunction:
    """edgeops_rfft wrapped as a block-shaped function: size reals → re, im of bins 0..N/2."""
    angles = [2 * math.pi * k / size for k in range(size // 2)]
    source = f"""{header("fft.h")}
{float_array("cos_table", [math.cos(a) for a in angles])}
{float_array("sin_table", [math.sin(a) for a in angles])}
int fft_{size}(const float *input, float *output)
{{
    static float re[{size}], im[{size}];
    int k;
    for (k = 0; k < {size}; k++) re[k] = input[k];
    edgeops_rfft(re, im, {size}, cos_table, sin_table);
    for (k = 0; k <= {size // 2}; k++) {{
        output[2 * k] = re[k];
        output[2 * k + 1] = im[k];
    }}
    return 0;
}}
"""
    return CFunction(f"fft_{size}", source, input_len=size, output_len=size + 2)


def c_rfft(signals: np.ndarray) -> np.ndarray:
    pairs = compile_and_run(fft_function(signals.shape[1]), signals).astype(np.float64)
    return pairs[:, 0::2] + 1j * pairs[:, 1::2]


def random_signals(size: int, seed: int, count: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(1e-3, 1e3)
    return (scale * rng.standard_normal((count, size))).astype(np.float32)


@settings(max_examples=25, deadline=None)
@given(size=LENGTHS, seed=SEEDS)
def test_matches_numpy(size: int, seed: int) -> None:
    signals = random_signals(size, seed)
    expected = np.fft.rfft(signals.astype(np.float64), axis=1)
    got = c_rfft(signals)
    # float32 FFT error grows like eps * log2(N) * the signal's energy, not per bin.
    bound = 1e-6 * math.log2(size) * np.linalg.norm(signals, axis=1, keepdims=True)
    assert np.all(np.abs(got - expected) <= bound)


@settings(max_examples=15, deadline=None)
@given(size=LENGTHS, seed=SEEDS, a=st.floats(-10, 10), b=st.floats(-10, 10))
def test_linearity(size: int, seed: int, a: float, b: float) -> None:
    x, y = random_signals(size, seed, count=2)
    combined = (a * x.astype(np.float64) + b * y).astype(np.float32)
    spectra = c_rfft(np.stack([x, y, combined]))
    scale = (abs(a) * np.linalg.norm(x) + abs(b) * np.linalg.norm(y)) + 1e-6
    error = np.max(np.abs(spectra[2] - (a * spectra[0] + b * spectra[1])))
    assert error <= 2e-6 * math.log2(size) * scale


@settings(max_examples=15, deadline=None)
@given(size=LENGTHS, seed=SEEDS)
def test_parseval(size: int, seed: int) -> None:
    signals = random_signals(size, seed)
    spectra = np.abs(c_rfft(signals)) ** 2
    # rfft holds bins 0..N/2; the others are mirror images of bins 1..N/2-1.
    energy = (spectra[:, 0] + spectra[:, -1] + 2 * spectra[:, 1:-1].sum(axis=1)) / size
    expected = (signals.astype(np.float64) ** 2).sum(axis=1)
    np.testing.assert_allclose(energy, expected, rtol=1e-5)


def test_impulse_and_constant() -> None:
    impulse = np.zeros((1, 64), dtype=np.float32)
    impulse[0, 0] = 1.0
    np.testing.assert_allclose(c_rfft(impulse), np.ones((1, 33)), atol=1e-6)
    constant = np.full((1, 64), 2.0, dtype=np.float32)
    expected = np.zeros((1, 33), dtype=complex)
    expected[0, 0] = 128.0
    np.testing.assert_allclose(c_rfft(constant), expected, atol=1e-4)


@cache
def offset_fft_function(size: int, length: int) -> CFunction:
    """`length` samples zero-padded to `size`, their mean taken out before edgeops_rfft and put
    back after it (edgeops_remove_offset / edgeops_restore_offset)."""
    source = f"""{header("fft.h")}
{fft_tables("t", size, length)}
int offset_fft_{size}_{length}(const float *input, float *output)
{{
    static float re[{size}], im[{size}];
    float offset;
    int k;
    for (k = 0; k < {size}; k++) re[k] = k < {length} ? input[k] : 0.0f;
    offset = edgeops_remove_offset(re, {length});
    edgeops_rfft(re, im, {size}, t_cos, t_sin);
    edgeops_restore_offset(re, im, {size // 2 + 1}, offset, t_box_re, t_box_im);
    for (k = 0; k <= {size // 2}; k++) {{
        output[2 * k] = re[k];
        output[2 * k + 1] = im[k];
    }}
    return 0;
}}
"""
    name = f"offset_fft_{size}_{length}"
    return CFunction(name, source, input_len=length, output_len=size + 2)


@settings(max_examples=25, deadline=None)
@given(
    size=LENGTHS,
    fraction=st.floats(0.05, 1.0),
    offset=st.floats(-1e4, 1e4),
    seed=SEEDS,
)
def test_offset_is_removed_and_restored_exactly(
    size: int, fraction: float, offset: float, seed: int
) -> None:
    """With the offset handled apart, the error is that of the FFT of the signal's variation
    (eps·log2 N·its norm) plus float rounding of offset·B[k] in each bin — not eps·log2 N·the
    offset's norm, which is what the plain FFT (also checked) shows for a large offset."""
    length = max(2, round(fraction * size))
    variation = random_signals(length, seed, count=3).astype(np.float64)
    signals = (offset + variation).astype(np.float32)
    exact = np.fft.rfft(signals.astype(np.float64), n=size, axis=1)
    pairs = compile_and_run(offset_fft_function(size, length), signals).astype(np.float64)
    got = pairs[:, 0::2] + 1j * pairs[:, 1::2]
    centred = signals.astype(np.float64) - signals.mean(axis=1, keepdims=True)
    box = np.abs(np.fft.rfft(np.ones(length), n=size))
    bound = 1e-6 * math.log2(size) * np.linalg.norm(centred, axis=1, keepdims=True)
    bound = bound + 3e-7 * np.abs(signals.mean(axis=1, keepdims=True)) * box + 1e-30
    assert np.all(np.abs(got - exact) <= bound)


def test_the_plain_fft_would_not_meet_that_bound_with_a_large_offset() -> None:
    size = 1024
    signals = (1000.0 + 1e-2 * np.random.default_rng(3).standard_normal((2, size))).astype(
        np.float32
    )
    exact = np.fft.rfft(signals.astype(np.float64), axis=1)
    centred = signals.astype(np.float64) - signals.mean(axis=1, keepdims=True)
    bound = 1e-6 * math.log2(size) * np.linalg.norm(centred, axis=1, keepdims=True)
    plain_error = np.abs(c_rfft(signals) - exact)[:, 1:]
    assert np.max(plain_error) > np.max(bound)
    pairs = compile_and_run(offset_fft_function(size, size), signals).astype(np.float64)
    handled_error = np.abs(pairs[:, 2::2] + 1j * pairs[:, 3::2] - exact[:, 1:])
    assert np.all(handled_error <= bound)
