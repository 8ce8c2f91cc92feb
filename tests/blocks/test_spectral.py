"""The spectral block against a plain loop-by-loop numpy computation, its filter against
scipy.signal.sosfilt, its validation, and its C twin."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import signal

from edgeops.blocks.base import CFunction, SignalSpec
from edgeops.blocks.dsp.cbuild import compile_and_run, float_array, header
from edgeops.blocks.dsp.spectral import Spectral
from edgeops.errors import InvalidInput
from edgeops.testing import C_TOLERANCE, relative_error, vibration_windows

SPEC = SignalSpec(frequency_hz=100.0, axes=3, window_samples=200)


def straightforward(windows: np.ndarray, spec: SignalSpec, params: dict[str, object]) -> np.ndarray:
    """The block's definition spelled out one window and axis at a time."""
    p = Spectral(params).params
    size = p.fft_length
    rows = []
    for window in windows.astype(np.float64):
        row: list[float] = []
        for axis in range(spec.axes):
            x = window[:, axis]
            if p.filter != "none":
                sos = signal.butter(
                    p.order, p.cutoff_hz, p.filter, fs=spec.frequency_hz, output="sos"
                )
                x = signal.sosfilt(sos, x)
            x = np.concatenate([x[:size], np.zeros(max(0, size - len(x)))])
            spectrum = np.fft.fft(x)[: size // 2 + 1]
            power = np.abs(spectrum) ** 2 / size
            half = size // 2
            for band in range(p.bands):
                bins = [k for k in range(half + 1) if min(k * p.bands // half, p.bands - 1) == band]
                row.append(math.log10(sum(power[bins]) + 1e-12))
            peaks = [
                (power[k], k)
                for k in range(1, half)
                if power[k] > power[k - 1] and power[k] > power[k + 1]
            ]
            peaks.sort(key=lambda peak: -peak[0])  # stable: equal heights keep frequency order
            for i in range(p.peaks):
                if i < len(peaks):
                    row += [peaks[i][1] * spec.frequency_hz / size, peaks[i][0]]
                else:
                    row += [0.0, 0.0]
        rows.append(row)
    return np.array(rows)


PARAMS = [
    {},
    {"fft_length": 256, "bands": 8, "peaks": 5},
    {"fft_length": 64, "bands": 1, "peaks": 0},  # truncates the 200-step window
    {"filter": "low", "cutoff_hz": 10.0, "order": 4},
    {"filter": "high", "cutoff_hz": 2.0, "order": 9, "fft_length": 512},
    {"filter": "low", "cutoff_hz": 1.0, "order": 9},  # the hardest case for float state
]


@pytest.mark.parametrize("params", PARAMS)
def test_matches_the_straightforward_computation(params: dict[str, object]) -> None:
    windows = vibration_windows(SPEC, 4, seed=7)
    got = Spectral(params).transform(windows, SPEC)
    np.testing.assert_allclose(got, straightforward(windows, SPEC, params), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("params", PARAMS)
def test_c_matches_numpy_on_random_and_vibration(params: dict[str, object]) -> None:
    block = Spectral(params)
    function = block.emit_c(SPEC)
    random = np.random.default_rng(8).normal(0, 3, size=(12, 200, 3)).astype(np.float32)
    for windows in (random, vibration_windows(SPEC, 12, seed=9)):
        reference = block.transform(windows, SPEC)
        assert relative_error(compile_and_run(function, windows), reference) <= C_TOLERANCE


def sosfilt_function(sos: np.ndarray, length: int) -> CFunction:
    source = f"""{header("biquad.h")}
{float_array("sos", sos.ravel(), c_type="double")}
int filter_{length}(const float *input, float *output)
{{
    int t;
    for (t = 0; t < {length}; t++) output[t] = input[t];
    edgeops_sosfilt(sos, {len(sos)}, output, {length}, 1);
    return 0;
}}
"""
    return CFunction(f"filter_{length}", source, input_len=length, output_len=length)


@pytest.mark.parametrize(
    ("btype", "cutoff", "order"), [("low", 5.0, 2), ("high", 20.0, 9), ("low", 1.0, 9)]
)
def test_c_filter_matches_scipy_sosfilt(btype: str, cutoff: float, order: int) -> None:
    sos = signal.butter(order, cutoff, btype, fs=100.0, output="sos")
    windows = vibration_windows(SignalSpec(100.0, 1, 300), 5)[:, :, 0]
    expected = signal.sosfilt(sos, windows.astype(np.float64), axis=1)
    got = compile_and_run(sosfilt_function(sos, 300), windows)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())


def test_peaks_find_the_vibration_harmonics() -> None:
    t = np.arange(256) / 100.0
    x = np.sin(2 * np.pi * 12.5 * t) + 0.5 * np.sin(2 * np.pi * 25.0 * t)
    windows = x.astype(np.float32).reshape(1, 256, 1)
    spec = SignalSpec(100.0, 1, 256)
    out = Spectral({"fft_length": 256, "bands": 2, "peaks": 3}).transform(windows, spec)[0]
    assert out[2] == pytest.approx(12.5) and out[4] == pytest.approx(25.0)
    assert out[3] > out[5] > 0
    assert out[7] < 1e-9 * out[5]  # the third "peak" is rounding noise


def test_missing_peaks_are_padded_with_zeros() -> None:
    impulse = np.zeros((1, 200, 3), dtype=np.float32)
    impulse[0, 0, :] = 1.0  # a flat spectrum: no bin beats its neighbours
    block = Spectral()
    out = block.transform(impulse, SPEC).reshape(3, 10)
    assert np.all(out[:, 4:] == 0.0)
    c_out = compile_and_run(block.emit_c(SPEC), impulse).reshape(3, 10)
    np.testing.assert_allclose(c_out[:, :4], out[:, :4], rtol=1e-5)
    assert np.all(c_out[:, 4:] == 0.0)


def test_silence_is_floored_not_infinite() -> None:
    out = Spectral().transform(np.zeros((1, 200, 3), dtype=np.float32), SPEC)
    np.testing.assert_allclose(out.reshape(3, 10)[:, :4], -12.0)
    assert np.all(out.reshape(3, 10)[:, 4:] == 0.0)


@settings(max_examples=25, deadline=None)
@given(
    fft_exponent=st.integers(4, 12),
    bands=st.integers(1, 64),
    peaks=st.integers(0, 16),
    axes=st.integers(1, 3),
    steps=st.integers(1, 300),
    filter=st.sampled_from(["none", "low", "high"]),
    order=st.integers(1, 9),
)
def test_shape_and_dtype(
    fft_exponent: int, bands: int, peaks: int, axes: int, steps: int, filter: str, order: int
) -> None:
    size = 2**fft_exponent
    params = {
        "fft_length": size,
        "bands": min(bands, size // 2),
        "peaks": peaks,
        "filter": filter,
        "cutoff_hz": 7.0,
        "order": order,
    }
    spec = SignalSpec(50.0, axes, steps)
    windows = np.random.default_rng(steps).normal(size=(2, steps, axes))
    out = Spectral(params).transform(windows, spec)
    assert out.dtype == np.float32
    assert out.shape == (2, axes * (min(bands, size // 2) + 2 * peaks))
    assert np.all(np.isfinite(out))


def test_cutoff_must_be_below_nyquist() -> None:
    block = Spectral({"filter": "low", "cutoff_hz": 60.0})
    with pytest.raises(InvalidInput, match=r"cutoff_hz = 60.0 .* 0 < cutoff_hz < 50.0"):
        block.check(SPEC)
    with pytest.raises(InvalidInput, match="cutoff_hz"):
        block.transform(np.zeros((1, 200, 3)), SPEC)
    with pytest.raises(InvalidInput, match="cutoff_hz"):
        block.emit_c(SPEC)
    Spectral({"cutoff_hz": 60.0}).check(SPEC)  # no filter, no constraint


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fft_length": 100}, "fft_length"),
        ({"fft_length": 8}, "fft_length"),
        ({"fft_length": 8192}, "fft_length"),
        ({"order": 10}, "order"),
        ({"order": 0}, "order"),
        ({"cutoff_hz": 0}, "cutoff_hz"),
        ({"filter": "band"}, "filter"),
        ({"bands": 0}, "bands"),
        ({"fft_length": 16, "bands": 9}, "bands"),
        ({"peaks": 17}, "peaks"),
    ],
)
def test_bad_params_name_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Spectral(params)
