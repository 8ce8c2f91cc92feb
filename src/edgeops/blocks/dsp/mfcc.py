"""The `mfcc` block: mel-frequency cepstral coefficients, the standard speech feature."""

from typing import Any

import numpy as np
from pydantic import Field, model_validator

from edgeops.blocks.base import CFunction, FeatureBlock, SignalSpec
from edgeops.blocks.dsp.audio import (
    MelFrontEnd,
    MelParams,
    audio_c_function,
    dct_matrix,
    lifter_weights,
)
from edgeops.blocks.dsp.cbuild import float_array, function_name
from edgeops.blocks.registry import register


@register
class MFCC(FeatureBlock):
    """Mel-frequency cepstral coefficients. Log mel energies L as the `mfe` block (but
    `pre_emphasis` defaults to 0.98 here, frames are 0.02 s every 0.02 s, 32 filters); then the
    first `num_cepstral` coefficients of the orthonormal DCT-II of L, each times the lifter
    1 + (cep_lifter/2)·sin(π·n/cep_lifter) when `cep_lifter` > 0. Matches
    python_speech_features' `mfcc(..., appendEnergy=False, winfunc=ones)`.

    Features, frame-major: num_cepstral per frame."""

    name = "mfcc"
    version = 1

    class Params(MelParams):
        num_cepstral: int = Field(13, ge=1, le=40)
        num_filters: int = Field(32, ge=2, le=128)
        frame_stride_s: float = Field(0.02, gt=0, le=1.0)
        pre_emphasis: float = Field(0.98, ge=0, le=1)
        cep_lifter: int = Field(0, ge=0, le=100)

        @model_validator(mode="after")
        def _cepstra_fit(self) -> "MFCC.Params":
            if self.num_cepstral > self.num_filters:
                raise ValueError(
                    f"num_cepstral {self.num_cepstral} is above num_filters "
                    f"{self.num_filters} (a DCT of {self.num_filters} values has that many)"
                )
            return self

    params: Params

    def front_end(self, spec: SignalSpec) -> MelFrontEnd:
        return MelFrontEnd(self.name, self.params, spec)

    def check(self, spec: SignalSpec) -> None:
        self.front_end(spec)

    def cepstral_matrix(self) -> np.ndarray:
        """(num_cepstral, num_filters): the DCT rows with the lifter folded in."""
        p = self.params
        lifter = lifter_weights(p.num_cepstral, p.cep_lifter)
        matrix: np.ndarray = dct_matrix(p.num_cepstral, p.num_filters) * lifter[:, None]
        return matrix

    def transform(
        self, windows: np.ndarray, spec: SignalSpec, state: dict[str, Any] | None = None
    ) -> np.ndarray:
        """windows: (n, samples, 1) → (n, frames * num_cepstral) float32."""
        cepstra: np.ndarray = self.front_end(spec).log_energies(windows) @ self.cepstral_matrix().T
        return cepstra.reshape(len(cepstra), -1).astype(np.float32)

    def emit_c(self, spec: SignalSpec, state: dict[str, Any] | None = None) -> CFunction:
        front = self.front_end(spec)
        name = function_name(self.name, self.version, self.params.model_dump(), spec, state)
        cepstral, filters = self.params.num_cepstral, self.params.num_filters
        matrix = self.cepstral_matrix()
        tables = (
            front.c_tables(name)
            + float_array(f"{name}_dct", matrix.ravel())
            + float_array(f"{name}_dct_sum", matrix.sum(axis=1))
        )
        # ln(E_j) = ln(E_max) + ln(E_j / E_max): the DCT of the ratios carries float rounding
        # relative to the spread of the log energies, not to their (large) level; the level
        # comes back through each row's sum, computed in double (~0 for every row but the
        # first, whose DCT basis is constant).
        per_frame = front.c_energies(name, "energies", relative=True) + (
            f"""        for (k = 0; k < {cepstral}; k++) {{
            float sum = 0.0f;
            for (t = 0; t < {filters}; t++) sum += {name}_dct[k * {filters} + t] * energies[t];
            out[k] = sum + {name}_dct_sum[k] * level;
        }}
"""
        )
        return audio_c_function(
            name,
            spec,
            self.params,
            front.framing,
            tables,
            per_frame,
            cepstral,
            declarations=f"    static float energies[{filters}];\n    float level, loudest;\n",
        )
