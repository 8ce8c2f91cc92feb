"""File importers. Each format turns bytes into a `ParsedSample`, or raises `InvalidSample`
with one line that names the problem; `parse_file` picks the format from the file name."""

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

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
