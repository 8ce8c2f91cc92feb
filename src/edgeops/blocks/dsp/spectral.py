"""The `spectral` block: optional Butterworth filter, FFT, band powers and spectral peaks."""

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator
from scipy import signal

from edgeops.blocks.base import (
    BlockParams,
    CFunction,
    FeatureBlock,
    FFTLength,
    SignalSpec,
    require_windows,
)
from edgeops.blocks.dsp.cbuild import (
    c_float,
    fft_tables,
    float_array,
    function_name,
    header,
)
from edgeops.blocks.registry import register
from edgeops.errors import InvalidInput

POWER_FLOOR = 1e-12  # keeps log10 finite for silent bands


@register
class Spectral(FeatureBlock):
    """Per axis: optionally a causal Butterworth filter (`filter` low/high, `cutoff_hz`, `order`;
    second-order sections from zero initial state, as `scipy.signal.sosfilt`), then the power
    spectrum |X[k]|² / N of an `fft_length`-point FFT for bins k = 0..N/2. A window longer than
    N is truncated to its first N steps; a shorter one is zero-padded at the end.

    Features per axis, axis-major: log10(power + 1e-12) summed over `bands` equal-width bands
    from 0 Hz to Nyquist (bin k belongs to band floor(k·bands/(N/2)); the Nyquist bin joins the
    last band), then the `peaks` highest spectral peaks (bins greater than both neighbours) as
    (frequency Hz, power) pairs, highest first (ties: lower frequency first), padded with
    (0, 0) when fewer peaks exist."""

    name = "spectral"
    version = 1

    class Params(BlockParams):
        filter: Literal["none", "low", "high"] = "none"
        cutoff_hz: float = Field(3.0, gt=0)
        order: int = Field(6, ge=1, le=9)
        fft_length: FFTLength = 128
        bands: int = Field(4, ge=1, le=64)
        peaks: int = Field(3, ge=0, le=16)

        @model_validator(mode="after")
        def _bands_fit(self) -> "Spectral.Params":
            if self.bands > self.fft_length // 2:
                raise ValueError(
                    f"bands must be at most fft_length / 2 = {self.fft_length // 2} "
                    "(each band needs a bin)"
                )
            return self

    params: Params

    def check(self, spec: SignalSpec) -> None:
        nyquist = spec.frequency_hz / 2
        if self.params.filter != "none" and not self.params.cutoff_hz < nyquist:
            raise InvalidInput(
                f"spectral: cutoff_hz = {self.params.cutoff_hz} is not below the Nyquist "
                f"frequency; for a signal at {spec.frequency_hz} Hz use 0 < cutoff_hz < {nyquist}"
            )

    def sos(self, spec: SignalSpec) -> np.ndarray | None:
        """The filter as second-order sections (rows b0 b1 b2 a0 a1 a2), or None."""
        if self.params.filter == "none":
            return None
        self.check(spec)
        sections: np.ndarray = signal.butter(
            self.params.order,
            self.params.cutoff_hz,
            btype=self.params.filter,
            fs=spec.frequency_hz,
            output="sos",
        )
        return sections

    def features_per_axis(self) -> int:
        return self.params.bands + 2 * self.params.peaks

    def transform(
        self, windows: np.ndarray, spec: SignalSpec, state: dict[str, Any] | None = None
    ) -> np.ndarray:
        """windows: (n, steps, axes) → (n, axes * (bands + 2 * peaks)) float32."""
        # (n, axes, steps), contiguous: the FFT and the filter run along the last axis.
        x = np.ascontiguousarray(require_windows(windows, spec).transpose(0, 2, 1), np.float64)
        size = self.params.fft_length
        sos = self.sos(spec)
        if sos is not None and x.shape[2] > 0:
            x = signal.sosfilt(sos, x, axis=2)
        spectrum = np.fft.rfft(x, n=size, axis=2)
        power = (spectrum.real**2 + spectrum.imag**2) / size  # (n, axes, N/2+1)
        band_of_bin = np.minimum(
            np.arange(size // 2 + 1) * self.params.bands // (size // 2), self.params.bands - 1
        )
        band_starts = np.searchsorted(band_of_bin, np.arange(self.params.bands))
        band_power = np.add.reduceat(power, band_starts, axis=2)
        parts = [np.log10(band_power + POWER_FLOOR)]
        if self.params.peaks:
            parts.append(self._peaks(power, spec.frequency_hz / size))
        features = np.concatenate(parts, axis=2)
        return features.reshape(len(x), spec.axes * self.features_per_axis()).astype(np.float32)

    def _peaks(self, power: np.ndarray, bin_hz: float) -> np.ndarray:
        """(n, axes, 2 * peaks): (frequency, height) pairs, highest first (ties: lower
        frequency first), (0, 0) padded."""
        n, axes, _ = power.shape
        inner = power[:, :, 1:-1]
        is_peak = (inner > power[:, :, :-2]) & (inner > power[:, :, 2:])
        heights = np.where(is_peak, inner, -np.inf)
        pairs = np.zeros((n, axes, self.params.peaks, 2))
        # One argmax per peak (few peaks, many bins): argmax takes the first of equal maxima,
        # i.e. the lower frequency, as the C does.
        for rank in range(min(self.params.peaks, heights.shape[2])):
            best = np.argmax(heights, axis=2)[:, :, None]
            height = np.take_along_axis(heights, best, axis=2)[:, :, 0]
            found = np.isfinite(height)
            pairs[:, :, rank, 0] = np.where(found, (best[:, :, 0] + 1) * bin_hz, 0.0)
            pairs[:, :, rank, 1] = np.where(found, height, 0.0)
            np.put_along_axis(heights, best, -np.inf, axis=2)
        return pairs.reshape(n, axes, 2 * self.params.peaks)

    def emit_c(self, spec: SignalSpec, state: dict[str, Any] | None = None) -> CFunction:
        name = function_name(self.name, self.version, self.params.model_dump(), spec, state)
        size, bands, peaks = self.params.fft_length, self.params.bands, self.params.peaks
        steps, axes = spec.window_samples, spec.axes
        used = min(steps, size)
        sos = self.sos(spec)
        tables = fft_tables(name, size, used)
        filtering = ""
        if sos is not None:
            tables += float_array(f"{name}_sos", sos.ravel(), c_type="double")
            filtering = f"        edgeops_sosfilt({name}_sos, {len(sos)}, re, {used}, 1);\n"
        per_axis = bands + 2 * peaks
        peak_code = ""
        if peaks:
            peak_code = f"""
        {{
            int top_bin[{peaks}];
            float top_power[{peaks}];
            int count = 0, pos;
            for (k = 1; k < {size // 2}; k++) {{
                float h = power[k];
                if (!(h > power[k - 1] && h > power[k + 1])) continue;
                if (count == {peaks}) {{
                    if (!(top_power[{peaks - 1}] < h)) continue;
                    pos = {peaks - 1};
                }} else {{
                    pos = count++;
                }}
                while (pos > 0 && top_power[pos - 1] < h) {{
                    top_power[pos] = top_power[pos - 1];
                    top_bin[pos] = top_bin[pos - 1];
                    pos--;
                }}
                top_power[pos] = h;
                top_bin[pos] = k;
            }}
            for (pos = 0; pos < {peaks}; pos++) {{
                out[{bands} + 2 * pos] = pos < count ? (float)top_bin[pos] * {c_float(spec.frequency_hz / size)} : 0.0f;
                out[{bands} + 2 * pos + 1] = pos < count ? top_power[pos] : 0.0f;
            }}
        }}
"""  # noqa: E501
        source = f"""#include <math.h>
{header("fft.h")}
{header("biquad.h")}
{tables}
int {name}(const float *input, float *output)
{{
    static float re[{size}], im[{size}], power[{size // 2 + 1}];
    int axis, t, k, b;
    float offset;
    for (axis = 0; axis < {axes}; axis++) {{
        float *out = output + axis * {per_axis};
        for (t = 0; t < {used}; t++) re[t] = input[t * {axes} + axis];
        for (t = {used}; t < {size}; t++) re[t] = 0.0f;
{filtering}        offset = edgeops_remove_offset(re, {used});
        edgeops_rfft(re, im, {size}, {name}_cos, {name}_sin);
        edgeops_restore_offset(re, im, {size // 2 + 1}, offset, {name}_box_re, {name}_box_im);
        for (k = 0; k <= {size // 2}; k++) power[k] = (re[k] * re[k] + im[k] * im[k]) / {size}.0f;
        for (b = 0; b < {bands}; b++) {{
            float sum = 0.0f;
            for (k = 0; k <= {size // 2}; k++) {{
                int band = k * {bands} / {size // 2};
                if ((band < {bands} ? band : {bands - 1}) == b) sum += power[k];
            }}
            out[b] = log10f(sum + {c_float(POWER_FLOOR)});
        }}{peak_code}
    }}
    return 0;
}}
"""
        return CFunction(
            name=name, source=source, input_len=steps * axes, output_len=axes * per_axis
        )
