"""The `spectrogram` block: framed power spectra in dB, floored and scaled to [0, 1]."""

from typing import Any

import numpy as np
from pydantic import Field

from edgeops.blocks.base import CFunction, FeatureBlock, SignalSpec
from edgeops.blocks.dsp.audio import (
    ENERGY_FLOOR,
    AudioParams,
    Framing,
    audio_c_function,
    normalise_db,
    power_frames,
)
from edgeops.blocks.dsp.cbuild import c_float, function_name
from edgeops.blocks.registry import register


@register
class Spectrogram(FeatureBlock):
    """Audio (one axis) cut into frames of `frame_length_s` every `frame_stride_s` seconds
    (both rounded half-up to samples; frames = 1 + floor((window - frame) / stride)); the
    window is first pre-emphasised as a whole with `pre_emphasis` (0 = off; y[t] = x[t] -
    a·x[t-1]). Each frame is zero-padded to `fft_length` (a longer frame is truncated to its
    first `fft_length` samples, as python_speech_features does) and turned into power
    P[k] = |X[k]|² / fft_length for k = 0..fft_length/2.

    Features, frame-major: clip((10·log10(P + 2.2e-16) - noise_floor_db) / -noise_floor_db,
    0, 1) — the noise floor maps to 0, 0 dB and louder to 1 (Edge Impulse's normalisation)."""

    name = "spectrogram"
    version = 1
    feature_range = 1.0  # features lie in [0, 1] (edgeops.testing.C_TOLERANCE)

    class Params(AudioParams):
        noise_floor_db: float = Field(-52.0, ge=-200, lt=0)

    params: Params

    def check(self, spec: SignalSpec) -> None:
        Framing(self.name, self.params, spec)

    def transform(
        self, windows: np.ndarray, spec: SignalSpec, state: dict[str, Any] | None = None
    ) -> np.ndarray:
        """windows: (n, samples, 1) → (n, frames * (fft_length/2 + 1)) float32."""
        framing = Framing(self.name, self.params, spec)
        power = power_frames(windows, spec, self.params, framing)
        features = normalise_db(10 * np.log10(power + ENERGY_FLOOR), self.params.noise_floor_db)
        return features.reshape(len(features), -1).astype(np.float32)

    def emit_c(self, spec: SignalSpec, state: dict[str, Any] | None = None) -> CFunction:
        framing = Framing(self.name, self.params, spec)
        name = function_name(self.name, self.version, self.params.model_dump(), spec, state)
        bins = self.params.fft_length // 2 + 1
        floor = self.params.noise_floor_db
        per_frame = f"""        for (k = 0; k < {bins}; k++) {{
            float value = (10.0f * log10f(power[k] + {c_float(ENERGY_FLOOR)}) - {c_float(floor)})
                          / {c_float(-floor)};
            out[k] = value < 0.0f ? 0.0f : (value > 1.0f ? 1.0f : value);
        }}
"""
        return audio_c_function(name, spec, self.params, framing, "", per_frame, bins)
