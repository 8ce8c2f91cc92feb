"""Windowing: one sample's canonical array cut into the recipe's windows (an image is one
window of its pixels, row-major).

A window starts every `stride_ms`; the first starts at step 0. A tail shorter than one window
after the last full window is dropped (padding it would invent data the devices never see in
the middle of a recording). Only a sample shorter than one window is padded, with zeros at the
end, and only when the recipe says `zero_pad`.
"""

import numpy as np

from edgeops.errors import InvalidInput
from edgeops.recipes.spec import Recipe, signal_spec

RATE_TOLERANCE = 0.01  # a sample's rate may differ from the recipe's by 1% (clock drift)


def _label(sample: int | str | None) -> str:
    return "sample" if sample is None else f"sample {sample}"


def sample_rate_hz(interval_ms: float | None, sample_rate: int | None) -> float | None:
    """The sample's rate in Hz from its manifest fields (None when it records neither)."""
    if sample_rate:
        return float(sample_rate)
    if interval_ms:
        return 1000.0 / interval_ms
    return None


def check_sample(
    shape: tuple[int, ...] | list[int],
    interval_ms: float | None,
    sample_rate: int | None,
    recipe: Recipe,
    sample: int | str | None = None,
) -> None:
    """Refuse a sample whose rate or axis count does not fit the recipe (cheap: no values).
    A sample that records no rate at all is taken to match."""
    source = recipe.input
    if source.kind == "image":
        expected = (source.height, source.width, source.channels)
        if tuple(shape) != expected:
            raise InvalidInput(
                f"{_label(sample)} is an image of shape {tuple(shape)} (height, width, channels) "
                f"but the recipe's input is {expected}; set input.width/height/channels to the "
                "camera's size (the image block resizes)"
            )
        return
    assert source.frequency_hz is not None  # guaranteed by InputSpec for signals
    rate = sample_rate_hz(interval_ms, sample_rate)
    if rate is not None and abs(rate - source.frequency_hz) > RATE_TOLERANCE * source.frequency_hz:
        raise InvalidInput(
            f"{_label(sample)} is {rate:g} Hz but the recipe expects {source.frequency_hz:g} Hz "
            "(resample the data or change input.frequency_hz)"
        )
    axes = shape[1] if len(shape) == 2 else 1 if len(shape) == 1 else None
    if axes != len(source.axes):
        raise InvalidInput(
            f"{_label(sample)} has shape {tuple(shape)} but the recipe expects (steps, "
            f"{len(source.axes)}) for axes {', '.join(source.axes)}"
        )


def windows_of(
    values: np.ndarray,
    interval_ms: float | None,
    sample_rate: int | None,
    recipe: Recipe,
    sample: int | str | None = None,
) -> np.ndarray:
    """float32 (n_windows, window_samples, axes): every full window of the sample, one every
    stride; a sample shorter than one window becomes one zero-padded window (`input.zero_pad`)
    or an InvalidInput naming `sample`."""
    if recipe.input.kind == "image":  # one image is one window: (1, h*w, c)
        check_sample(np.shape(values), interval_ms, sample_rate, recipe, sample)
        image = np.asarray(values, dtype=np.float32)
        return image.reshape(1, image.shape[0] * image.shape[1], image.shape[2])
    array = np.asarray(values, dtype=np.float32)
    if array.ndim == 1:
        array = array[:, None]
    check_sample(array.shape, interval_ms, sample_rate, recipe, sample)
    spec = signal_spec(recipe)
    source = recipe.input
    assert source.frequency_hz is not None and source.stride_ms is not None
    window = spec.window_samples
    stride = max(1, round(source.stride_ms * source.frequency_hz / 1000))
    steps = array.shape[0]
    if steps < window:
        if not source.zero_pad:
            raise InvalidInput(
                f"{_label(sample)} has {steps} steps, shorter than one window of {window} "
                f"({source.window_ms:g} ms at {source.frequency_hz:g} Hz); set input.zero_pad "
                "to pad it or remove the sample"
            )
        padded = np.zeros((1, window, array.shape[1]), dtype=np.float32)
        padded[0, :steps] = array
        return padded
    views = np.lib.stride_tricks.sliding_window_view(array, window, axis=0)[::stride]
    return np.ascontiguousarray(views.transpose(0, 2, 1), dtype=np.float32)
