"""The `mfe` block: log mel filterbank energies in dB, floored and scaled to [0, 1]."""

import math
from typing import Any

import numpy as np
from pydantic import Field

from edgeops.blocks.base import CFunction, FeatureBlock, SignalSpec
from edgeops.blocks.dsp.audio import MelFrontEnd, MelParams, audio_c_function, normalise_db
from edgeops.blocks.dsp.cbuild import c_float, function_name
from edgeops.blocks.registry import register


@register
class MFE(FeatureBlock):
    """Mel-filterbank energies. Framing and power spectra as the `spectrogram` block
    (`pre_emphasis` defaults to 0 = off); then `num_filters` triangular mel filters between
    `low_frequency_hz` and `high_frequency_hz` (0 = Nyquist), built as python_speech_features'
    `get_filterbanks`, give energies E; L = ln(E + 2.2e-16) is `log_energies` (equal to
    python_speech_features' `logfbank` with a rectangular window).

    Features, frame-major: clip((10·log10(E + 2.2e-16) - noise_floor_db) / -noise_floor_db,
    0, 1), with 10·log10(E + 2.2e-16) = L · 10 / ln 10."""

    name = "mfe"
    version = 1
    feature_range = 1.0  # features lie in [0, 1] (edgeops.testing.C_TOLERANCE)

    class Params(MelParams):
        frame_stride_s: float = Field(0.01, gt=0, le=1.0)
        noise_floor_db: float = Field(-52.0, ge=-200, lt=0)

    params: Params

    def front_end(self, spec: SignalSpec) -> MelFrontEnd:
        return MelFrontEnd(self.name, self.params, spec)

    def check(self, spec: SignalSpec) -> None:
        self.front_end(spec)

    def log_energies(self, windows: np.ndarray, spec: SignalSpec) -> np.ndarray:
        """(n, frames, num_filters) float64 natural-log energies, before the noise floor."""
        return self.front_end(spec).log_energies(windows)

    def transform(
        self, windows: np.ndarray, spec: SignalSpec, state: dict[str, Any] | None = None
    ) -> np.ndarray:
        """windows: (n, samples, 1) → (n, frames * num_filters) float32."""
        db = self.log_energies(windows, spec) * (10 / math.log(10))
        features = normalise_db(db, self.params.noise_floor_db)
        return features.reshape(len(features), -1).astype(np.float32)

    def emit_c(self, spec: SignalSpec, state: dict[str, Any] | None = None) -> CFunction:
        front = self.front_end(spec)
        name = function_name(self.name, self.version, self.params.model_dump(), spec, state)
        count, floor = self.params.num_filters, self.params.noise_floor_db
        per_frame = front.c_energies(name, "energies") + (
            f"""        for (k = 0; k < {count}; k++) {{
            float value = (energies[k] * {c_float(10 / math.log(10))} - {c_float(floor)})
                          / {c_float(-floor)};
            out[k] = value < 0.0f ? 0.0f : (value > 1.0f ? 1.0f : value);
        }}
"""
        )
        return audio_c_function(
            name,
            spec,
            self.params,
            front.framing,
            front.c_tables(name),
            per_frame,
            count,
            declarations=f"    static float energies[{count}];\n",
        )
