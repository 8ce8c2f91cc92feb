"""Windowing: counts and shapes against a plain-loop reference, rate and length errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeops.errors import InvalidInput
from edgeops.recipes.spec import Recipe, load_recipe
from edgeops.recipes.windows import windows_of


def recipe(
    window_ms: float = 500, stride_ms: float = 250, axes: int = 3, zero_pad: bool = True
) -> Recipe:
    names = ", ".join(f"a{i}" for i in range(axes))
    return load_recipe(
        f"name: w\ninput: {{axes: [{names}], frequency_hz: 100, window_ms: {window_ms}, "
        f"stride_ms: {stride_ms}, zero_pad: {str(zero_pad).lower()}}}\n"
        "features: [{name: flatten}]\nlearner: {name: trees}\n"
    )


def reference(values: np.ndarray, window: int, stride: int) -> list[np.ndarray]:
    """Independent loop: a window at every stride while a full window fits."""
    found, start = [], 0
    while start + window <= len(values):
        found.append(values[start : start + window])
        start += stride
    return found


@settings(max_examples=60, deadline=None)
@given(
    steps=st.integers(1, 400),
    window_ms=st.sampled_from([10, 50, 100, 500, 1000]),
    stride_ms=st.sampled_from([10, 30, 250, 500, 2000]),
    axes=st.integers(1, 4),
)
def test_windows_match_a_plain_loop(steps: int, window_ms: int, stride_ms: int, axes: int) -> None:
    values = np.arange(steps * axes, dtype=np.float32).reshape(steps, axes)
    windows = windows_of(values, 10.0, None, recipe(window_ms, stride_ms, axes))
    window, stride = window_ms // 10, stride_ms // 10
    assert windows.dtype == np.float32
    assert windows.shape[1:] == (window, axes)
    expected = reference(values, window, stride)
    if not expected:  # shorter than one window: one zero-padded window
        assert windows.shape[0] == 1
        np.testing.assert_array_equal(windows[0, :steps], values)
        assert not windows[0, steps:].any()
    else:
        assert windows.shape[0] == 1 + (steps - window) // stride
        np.testing.assert_array_equal(windows, np.stack(expected))


def test_rate_within_one_percent_is_accepted() -> None:
    values = np.zeros((100, 3), dtype=np.float32)
    assert windows_of(values, None, 99, recipe()).shape == (3, 50, 3)
    assert windows_of(values, 1000 / 100.9, None, recipe()).shape == (3, 50, 3)


def test_rate_mismatch_names_the_sample() -> None:
    values = np.zeros((100, 3), dtype=np.float32)
    with pytest.raises(InvalidInput, match="sample 12 is 50 Hz but the recipe expects 100 Hz"):
        windows_of(values, 20.0, None, recipe(), 12)


def test_axis_count_must_match() -> None:
    with pytest.raises(InvalidInput, match=r"sample 3 has shape \(100, 2\).*a0, a1, a2"):
        windows_of(np.zeros((100, 2), dtype=np.float32), 10.0, None, recipe(), 3)


def test_short_sample_without_padding_is_refused() -> None:
    with pytest.raises(InvalidInput, match="sample 7 has 20 steps, shorter than one window of 50"):
        windows_of(np.zeros((20, 3)), 10.0, None, recipe(zero_pad=False), 7)
