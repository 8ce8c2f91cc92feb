"""The `flatten` block: a few summary statistics per axis."""

from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from edgeops.blocks.base import BlockParams, CFunction, FeatureBlock, SignalSpec, require_windows
from edgeops.blocks.dsp.cbuild import function_name
from edgeops.blocks.registry import register

Statistic = Literal["mean", "min", "max", "rms", "std", "skewness", "kurtosis"]
STATISTICS: tuple[Statistic, ...] = ("mean", "min", "max", "rms", "std", "skewness", "kurtosis")

# An axis whose variance is at most (CONSTANT_TOLERANCE * max|x|)^2 is constant to float32
# precision: its skewness and kurtosis are defined as 0 rather than rounding noise or NaN.
CONSTANT_TOLERANCE = 1e-5


@register
class Flatten(FeatureBlock):
    """Per axis, the selected statistics in the canonical order mean, min, max, rms, std,
    skewness, kurtosis: std is the population std (ddof 0), skewness and kurtosis are
    `scipy.stats.skew` / `scipy.stats.kurtosis` with their defaults (biased, Fisher: a normal
    distribution has kurtosis 0). A constant axis (variance at most (1e-5 · max|x|)²) has
    skewness and kurtosis 0, never NaN."""

    name = "flatten"
    version = 1

    class Params(BlockParams):
        statistics: tuple[Statistic, ...] = Field(STATISTICS, min_length=1)

        @field_validator("statistics")
        @classmethod
        def _canonical(cls, value: tuple[Statistic, ...]) -> tuple[Statistic, ...]:
            if len(set(value)) != len(value):
                raise ValueError("statistics must not repeat")
            return tuple(s for s in STATISTICS if s in value)

    params: Params

    def transform(
        self, windows: np.ndarray, spec: SignalSpec, state: dict[str, Any] | None = None
    ) -> np.ndarray:
        """windows: (n, steps, axes) → (n, axes * len(statistics)) float32, axis-major."""
        x = require_windows(windows, spec).astype(np.float64)
        mean = x.mean(axis=1)
        deviation = x - mean[:, None, :]
        m2 = (deviation**2).mean(axis=1)
        m3 = (deviation**3).mean(axis=1)
        m4 = (deviation**4).mean(axis=1)
        constant = m2 <= (CONSTANT_TOLERANCE * np.abs(x).max(axis=1, initial=0.0)) ** 2
        safe_m2 = np.where(constant, 1.0, m2)
        values = {
            "mean": mean,
            "min": x.min(axis=1, initial=np.inf),
            "max": x.max(axis=1, initial=-np.inf),
            "rms": np.sqrt((x**2).mean(axis=1)),
            "std": np.sqrt(m2),
            "skewness": np.where(constant, 0.0, m3 / safe_m2**1.5),
            "kurtosis": np.where(constant, 0.0, m4 / safe_m2**2 - 3.0),
        }
        stacked = np.stack([values[s] for s in self.params.statistics], axis=2)
        return stacked.reshape(len(x), spec.axes * len(self.params.statistics)).astype(np.float32)

    def emit_c(self, spec: SignalSpec, state: dict[str, Any] | None = None) -> CFunction:
        name = function_name(self.name, self.version, self.params.model_dump(), spec, state)
        steps, axes = spec.window_samples, spec.axes
        expressions = {
            "mean": "(float)mean",
            "min": "lowest",
            "max": "highest",
            "rms": "(float)sqrt(squares / n)",
            "std": "(float)sqrt(m2)",
            "skewness": "constant ? 0.0f : (float)(m3 / (m2 * sqrt(m2)))",
            "kurtosis": "constant ? 0.0f : (float)(m4 / (m2 * m2) - 3.0)",
        }
        stores = "\n".join(
            f"        output[axis * {len(self.params.statistics)} + {i}] = {expressions[s]};"
            for i, s in enumerate(self.params.statistics)
        )
        # Sums in double: moments of float32 data lose too many digits in float sums.
        source = f"""#include <math.h>

int {name}(const float *input, float *output)
{{
    const double n = {steps}.0;
    int axis, step;
    for (axis = 0; axis < {axes}; axis++) {{
        double sum = 0.0, squares = 0.0, m2 = 0.0, m3 = 0.0, m4 = 0.0, mean, biggest = 0.0;
        float lowest = input[axis], highest = input[axis];
        int constant;
        for (step = 0; step < {steps}; step++) {{
            float v = input[step * {axes} + axis];
            sum += v;
            squares += (double)v * v;
            if (v < lowest) lowest = v;
            if (v > highest) highest = v;
            if (fabs(v) > biggest) biggest = fabs(v);
        }}
        mean = sum / n;
        for (step = 0; step < {steps}; step++) {{
            double d = input[step * {axes} + axis] - mean;
            m2 += d * d;
            m3 += d * d * d;
            m4 += d * d * d * d;
        }}
        m2 /= n;
        m3 /= n;
        m4 /= n;
        constant = m2 <= ({CONSTANT_TOLERANCE!r} * biggest) * ({CONSTANT_TOLERANCE!r} * biggest);
        (void)constant, (void)lowest, (void)highest, (void)squares, (void)m3, (void)m4;
{stores}
    }}
    return 0;
}}
"""
        return CFunction(
            name=name,
            source=source,
            input_len=steps * axes,
            output_len=axes * len(self.params.statistics),
        )
