"""The `raw` block: the window itself, flattened, scaled and optionally normalised per axis."""

from typing import Any

import numpy as np
from pydantic import Field

from edgeops.blocks.base import BlockParams, CFunction, FeatureBlock, SignalSpec, require_windows
from edgeops.blocks.dsp.cbuild import float_array, function_name
from edgeops.blocks.registry import register
from edgeops.errors import InvalidInput


@register
class Raw(FeatureBlock):
    """The window flattened step-major (step 0's axes, then step 1's, ...) times `scale`.

    With `normalize`, `fit` learns each axis's mean and population std over all training steps
    (state `{"mean": [...], "std": [...]}`; a constant axis gets std 1) and `transform` outputs
    `(x - mean) / std * scale`."""

    name = "raw"
    version = 1

    class Params(BlockParams):
        scale: float = Field(1.0, gt=0, le=1e6)
        normalize: bool = False

    params: Params

    def fit(self, windows: np.ndarray, spec: SignalSpec) -> dict[str, Any] | None:
        if not self.params.normalize:
            return None
        steps = require_windows(windows, spec).astype(np.float64).reshape(-1, spec.axes)
        if len(steps) == 0:
            raise InvalidInput("raw: normalize needs at least one training window to fit")
        std = steps.std(axis=0)
        std[std == 0] = 1.0
        return {"mean": steps.mean(axis=0).tolist(), "std": std.tolist()}

    def _offsets(
        self, spec: SignalSpec, state: dict[str, Any] | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per axis (subtract, multiply) so that output = (x - subtract) * multiply."""
        if state is None:
            return np.zeros(spec.axes), np.full(spec.axes, self.params.scale)
        mean = np.asarray(state["mean"], dtype=np.float64)
        std = np.asarray(state["std"], dtype=np.float64)
        if mean.shape != (spec.axes,) or std.shape != (spec.axes,):
            raise InvalidInput(f"raw: state has {mean.shape} means for {spec.axes} axes")
        return mean, self.params.scale / std

    def transform(
        self, windows: np.ndarray, spec: SignalSpec, state: dict[str, Any] | None = None
    ) -> np.ndarray:
        """windows: (n, steps, axes) → (n, steps * axes) float32."""
        array = require_windows(windows, spec)
        subtract, multiply = self._offsets(spec, state)
        # float32 arithmetic, the same operations in the same order as the C.
        out = (array - subtract.astype(np.float32)) * multiply.astype(np.float32)
        return out.reshape(len(array), spec.window_samples * spec.axes).astype(np.float32)

    def emit_c(self, spec: SignalSpec, state: dict[str, Any] | None = None) -> CFunction:
        name = function_name(self.name, self.version, self.params.model_dump(), spec, state)
        subtract, multiply = self._offsets(spec, state)
        length = spec.window_samples * spec.axes
        source = (
            float_array(f"{name}_subtract", subtract)
            + float_array(f"{name}_multiply", multiply)
            + f"""
int {name}(const float *input, float *output)
{{
    int step, axis;
    for (step = 0; step < {spec.window_samples}; step++) {{
        for (axis = 0; axis < {spec.axes}; axis++) {{
            int i = step * {spec.axes} + axis;
            output[i] = (input[i] - {name}_subtract[axis]) * {name}_multiply[axis];
        }}
    }}
    return 0;
}}
"""
        )
        return CFunction(name=name, source=source, input_len=length, output_len=length)
