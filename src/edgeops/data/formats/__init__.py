"""File importers. Each format turns bytes into a `ParsedSample`, or raises `InvalidSample`
with one line that names the problem; `parse_file` picks the format from the file name."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edgeops.errors import InvalidSample

SampleKind = Literal["timeseries", "audio", "image"]


@dataclass(frozen=True)
class Sensor:
    name: str
    units: str


@dataclass(frozen=True)
class ParsedSample:
    """A sample as read from a file, before it is stored.

    `values` is the canonical array form:
    - timeseries: float32, shape (n_steps, n_axes), finite;
    - audio: float32, shape (n_frames, n_channels), in [-1, 1];
    - image: uint8, shape (height, width, channels) with channels 1 (grayscale) or 3 (RGB).
    """

    kind: SampleKind
    values: np.ndarray
    format: str
    sensors: list[Sensor]
    interval_ms: float | None = None
    sample_rate: int | None = None
    device_name: str | None = None
    device_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def finite_float32(wide: np.ndarray, row: Callable[[int], str]) -> np.ndarray:
    """Readings (n_steps, n_sensors) as float32, or an `InvalidSample` naming the first row
    (`row(index)` says where it is in the file) with NaN, infinity or a value float32 can't
    hold."""
    if (bad := _first_unfinite_row(wide)) is not None:
        raise InvalidSample(
            f"values contain NaN or infinity at {row(bad)}; remove or interpolate them"
        )
    with np.errstate(over="ignore"):  # overflow is reported just below
        narrow = wide.astype(np.float32)
    if (bad := _first_unfinite_row(narrow)) is not None:
        raise InvalidSample(f"{row(bad)} holds a value too large for float32; rescale the readings")
    return narrow


def _first_unfinite_row(values: np.ndarray) -> int | None:
    finite = np.isfinite(values)
    if finite.all():  # where, only when there is something to report
        return None
    return int(np.flatnonzero(~finite.all(axis=1))[0])
