"""The block protocol: what every feature block is and promises."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from edgeops.errors import InvalidInput


def _power_of_two(value: int) -> int:
    if value & (value - 1):
        raise ValueError("fft_length must be a power of two from 16 to 4096")
    return value


# The FFT length every spectral block takes: our radix-2 FFT needs a power of two.
FFTLength = Annotated[int, Field(ge=16, le=4096), AfterValidator(_power_of_two)]


class BlockParams(BaseModel):
    """A block's parameters: defaults and bounds declared as pydantic fields; unknown fields are
    refused, and a block's params are immutable once made."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class SignalSpec:
    """What a block receives: windows of `window_samples` steps of `axes` values, sampled at
    `frequency_hz` (images: `image_shape` = (height, width, channels) and no frequency)."""

    frequency_hz: float
    axes: int
    window_samples: int
    image_shape: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class CFunction:
    """A block's device side: C99 source defining
    `int <name>(const float *input, float *output)`, with every size fixed at generation time.
    `input` holds one window, step-major (step 0's axes, then step 1's, ...); `output` receives
    `output_len` floats; the function returns 0 on success. No malloc; `static` buffers only."""

    name: str
    source: str
    input_len: int
    output_len: int


class FeatureBlock(ABC):
    """A feature block turns windows into feature vectors, the same way in numpy and in C.

    Changing what a block computes means a new `version`; old versions stay registered so old
    recipes reproduce."""

    name: ClassVar[str]
    version: ClassVar[int]
    kind: ClassVar[str] = "feature"
    Params: ClassVar[type[BlockParams]] = BlockParams

    def __init__(self, params: BlockParams | dict[str, Any] | None = None) -> None:
        if isinstance(params, BlockParams):
            self.params = params
        else:
            self.params = self.Params.model_validate(params or {})

    def check(self, spec: SignalSpec) -> None:  # noqa: B027 - most blocks accept any signal
        """Refuse a signal the parameters can't handle (InvalidInput naming field and range)."""

    def fit(self, windows: np.ndarray, spec: SignalSpec) -> dict[str, Any] | None:
        """Learn state from training windows (e.g. normalisation); most blocks need none."""
        return None

    @abstractmethod
    def transform(
        self, windows: np.ndarray, spec: SignalSpec, state: dict[str, Any] | None = None
    ) -> np.ndarray:
        """windows: float32 (n, window_samples, axes) → float32 (n, n_features)."""

    def emit_c(self, spec: SignalSpec, state: dict[str, Any] | None = None) -> CFunction | None:
        """The C version of `transform` for `spec`, or None if the block has none yet."""
        return None

    def describe(self) -> dict[str, Any]:
        """Name, version, kind and parameters with defaults (for `edgeops blocks list`)."""
        return {
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "params": self.params.model_dump(),
        }


def require_windows(windows: np.ndarray, spec: SignalSpec) -> np.ndarray:
    """The windows as float32 (n, window_samples, axes), or a clear error."""
    array = np.asarray(windows, dtype=np.float32)
    expected = (spec.window_samples, spec.axes)
    if array.ndim != 3 or array.shape[1:] != expected:
        raise InvalidInput(
            f"windows have shape {array.shape}; expected (n, {expected[0]}, {expected[1]}) "
            "for this signal (steps per window, axes)"
        )
    return array
