"""The raw block: step-major flattening, scaling, learned normalisation, and its C twin."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from edgeops.blocks.base import SignalSpec
from edgeops.blocks.dsp.cbuild import compile_and_run
from edgeops.blocks.dsp.raw import Raw
from edgeops.errors import InvalidInput
from edgeops.testing import C_TOLERANCE, relative_error, vibration_windows

SPEC = SignalSpec(frequency_hz=100.0, axes=3, window_samples=200)


def test_flattens_step_major_and_scales() -> None:
    spec = SignalSpec(frequency_hz=10.0, axes=2, window_samples=3)
    windows = np.array([[[1, 2], [3, 4], [5, 6]]], dtype=np.float32)
    np.testing.assert_array_equal(
        Raw({"scale": 2.0}).transform(windows, spec), [[2, 4, 6, 8, 10, 12]]
    )


def test_fit_learns_per_axis_mean_and_std() -> None:
    windows = vibration_windows(SPEC, 20)
    block = Raw({"normalize": True})
    state = block.fit(windows, SPEC)
    assert state is not None
    steps = windows.astype(np.float64).reshape(-1, 3)
    np.testing.assert_allclose(state["mean"], steps.mean(axis=0))
    np.testing.assert_allclose(state["std"], steps.std(axis=0))
    normalised = block.transform(windows, SPEC, state).reshape(-1, 3)
    np.testing.assert_allclose(normalised.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(normalised.std(axis=0), 1.0, rtol=1e-4)


def test_without_normalize_there_is_no_state() -> None:
    assert Raw().fit(vibration_windows(SPEC, 2), SPEC) is None


def test_constant_axis_gets_unit_std() -> None:
    windows = np.zeros((3, 200, 3), dtype=np.float32)
    state = Raw({"normalize": True}).fit(windows, SPEC)
    assert state == {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


@pytest.mark.parametrize("params", [{}, {"scale": 0.25}, {"normalize": True, "scale": 3.0}])
def test_c_matches_numpy_on_random_and_vibration(params: dict[str, object]) -> None:
    block = Raw(params)
    random = np.random.default_rng(5).normal(0, 4, size=(8, 200, 3)).astype(np.float32)
    for windows in (random, vibration_windows(SPEC, 8)):
        state = block.fit(windows, SPEC)
        reference = block.transform(windows, SPEC, state)
        output = compile_and_run(block.emit_c(SPEC, state), windows)
        assert relative_error(output, reference) <= C_TOLERANCE


@settings(max_examples=30, deadline=None)
@given(scale=st.floats(1e-3, 1e3), axes=st.integers(1, 4), steps=st.integers(1, 50))
def test_shape_and_dtype(scale: float, axes: int, steps: int) -> None:
    spec = SignalSpec(frequency_hz=20.0, axes=axes, window_samples=steps)
    windows = np.random.default_rng(axes).normal(size=(3, steps, axes))
    out = Raw({"scale": scale}).transform(windows, spec)
    assert out.dtype == np.float32
    assert out.shape == (3, steps * axes)


def test_wrong_window_shape_is_refused() -> None:
    with pytest.raises(InvalidInput, match="expected"):
        Raw().transform(np.zeros((2, 10, 3)), SPEC)


@pytest.mark.parametrize("scale", [0, -1.0, 1e9])
def test_bad_scale_names_the_field(scale: float) -> None:
    with pytest.raises(ValidationError, match="scale"):
        Raw({"scale": scale})
