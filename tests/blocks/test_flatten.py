"""The flatten block against scipy.stats, its constant-axis rule, params and its C twin."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats

from edgeops.blocks.base import SignalSpec
from edgeops.blocks.dsp.cbuild import compile_and_run
from edgeops.blocks.dsp.flatten import STATISTICS, Flatten
from edgeops.testing import C_TOLERANCE, relative_error, vibration_windows

SPEC = SignalSpec(frequency_hz=100.0, axes=3, window_samples=200)


def scipy_reference(windows: np.ndarray) -> np.ndarray:
    x = windows.astype(np.float64)
    per_stat = [
        x.mean(axis=1),
        x.min(axis=1),
        x.max(axis=1),
        np.sqrt((x**2).mean(axis=1)),
        x.std(axis=1),
        stats.skew(x, axis=1),
        stats.kurtosis(x, axis=1),
    ]
    return np.stack(per_stat, axis=2).reshape(len(x), -1)


def test_matches_scipy_stats() -> None:
    windows = np.random.default_rng(1).gamma(2.0, size=(10, 200, 3)).astype(np.float32)
    got = Flatten().transform(windows, SPEC)
    np.testing.assert_allclose(got, scipy_reference(windows), rtol=1e-5, atol=1e-6)


def test_selected_statistics_come_in_canonical_order() -> None:
    windows = np.random.default_rng(2).normal(size=(4, 200, 3)).astype(np.float32)
    block = Flatten({"statistics": ["kurtosis", "mean"]})
    assert block.params.statistics == ("mean", "kurtosis")
    full = Flatten().transform(windows, SPEC).reshape(4, 3, len(STATISTICS))
    expected = full[:, :, [0, 6]].reshape(4, -1)
    np.testing.assert_array_equal(block.transform(windows, SPEC), expected)


def test_constant_axis_has_zero_skewness_and_kurtosis() -> None:
    windows = np.random.default_rng(3).normal(size=(2, 200, 3)).astype(np.float32)
    windows[0, :, 1] = 0.1  # 0.1 is not exact in binary: the mean rounds, deviations don't vanish
    windows[1, :, 2] = 0.0
    block = Flatten()
    got = block.transform(windows, SPEC).reshape(2, 3, 7)
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got[0, 1, 5:], [0.0, 0.0])
    np.testing.assert_array_equal(got[1, 2, 5:], [0.0, 0.0])
    c_out = compile_and_run(block.emit_c(SPEC), windows).reshape(2, 3, 7)
    np.testing.assert_array_equal(c_out[0, 1, 5:], [0.0, 0.0])
    np.testing.assert_array_equal(c_out[1, 2, 5:], [0.0, 0.0])


@pytest.mark.parametrize("statistics", [["std"], ["min", "max"], list(STATISTICS)])
def test_c_matches_numpy_on_random_and_vibration(statistics: list[str]) -> None:
    block = Flatten({"statistics": statistics})
    function = block.emit_c(SPEC)
    random = np.random.default_rng(4).normal(3.0, 5.0, size=(16, 200, 3)).astype(np.float32)
    for windows in (random, vibration_windows(SPEC, 16)):
        reference = block.transform(windows, SPEC)
        assert relative_error(compile_and_run(function, windows), reference) <= C_TOLERANCE


@settings(max_examples=30, deadline=None)
@given(
    statistics=st.lists(st.sampled_from(STATISTICS), min_size=1, unique=True),
    axes=st.integers(1, 4),
    steps=st.integers(1, 64),
    count=st.integers(0, 5),
)
def test_shape_and_dtype(statistics: list[str], axes: int, steps: int, count: int) -> None:
    spec = SignalSpec(frequency_hz=50.0, axes=axes, window_samples=steps)
    windows = np.random.default_rng(steps).normal(size=(count, steps, axes))
    out = Flatten({"statistics": statistics}).transform(windows, spec)
    assert out.dtype == np.float32
    assert out.shape == (count, axes * len(statistics))
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize(
    "params",
    [{"statistics": []}, {"statistics": ["median"]}, {"statistics": ["mean", "mean"]}],
)
def test_bad_params_name_the_field(params: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="statistics"):
        Flatten(params)


def test_unknown_params_are_refused() -> None:
    with pytest.raises(ValidationError, match="stats"):
        Flatten({"stats": ["mean"]})
