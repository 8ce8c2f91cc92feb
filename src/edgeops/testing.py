"""`check_block`: the conformance suite every registered block must pass (like scikit-learn's
`check_estimator`), for built-ins and third-party blocks alike."""

from typing import Any

import numpy as np

from edgeops.blocks.base import FeatureBlock, SignalSpec
from edgeops.errors import InvalidInput

# The C twin's tolerance. Its output y matches the numpy reference r when, for every window i
# and feature j,
#     |y[i, j] - r[i, j]| <= C_TOLERANCE * max(scale[j], C_FLOOR),  scale[j] = max_i |r[i, j]|,
# i.e. a relative error of at most 1e-4 of the feature's scale: the largest magnitude that
# feature takes over the checked windows. Why the feature's scale and not each value: float32
# rounding is proportional to the magnitudes a value is computed from, not to the value
# itself, so a feature that crosses zero (a cepstral coefficient, a filtered mean) carries
# rounding of the size of its typical values wherever it passes near zero; no float32
# implementation can meet 1e-4 of |r| there. The scale is per feature (column), so a quiet
# feature is not measured against a loud one. C_FLOOR keeps the check meaningful when a
# feature is zero or tiny in every window (e.g. padded peaks): 1e-7 absolute.
# A block whose features are normalised to a fixed range declares it as the class attribute
# `feature_range` (spectrogram and mfe: 1.0, for [0, 1]); that range is then the floor of
# every feature's scale. Their 0 is an arbitrary point (the noise floor in dB), not a small
# value: a bin 50 dB down is 0.04, and 1e-4 of 0.04 would ask float32 for 1e-5 relative
# precision in a power 1e5 times below the frame's loudest, which no float FFT has.
C_TOLERANCE = 1e-4
C_FLOOR = 1e-3


def relative_error(output: np.ndarray, reference: np.ndarray, floor: float = C_FLOOR) -> float:
    """The largest |output - reference| over the feature's scale (see C_TOLERANCE): both
    (n, k); the scale of feature j is max(max_i |reference[i, j]|, floor)."""
    if reference.size == 0:
        return 0.0
    reference = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
    output = np.asarray(output, dtype=np.float64).reshape(reference.shape)
    scale = np.maximum(np.max(np.abs(reference), axis=0), floor)
    return float(np.max(np.abs(output - reference) / scale))


def scale_floor(block_cls: type[FeatureBlock]) -> float:
    """The floor of each feature's scale for `block_cls`: its `feature_range`, else C_FLOOR."""
    declared = getattr(block_cls, "feature_range", None)
    return max(float(declared), C_FLOOR) if declared else C_FLOOR


def _fail(block_cls: type[FeatureBlock], spec: SignalSpec, message: str) -> AssertionError:
    return AssertionError(f"block {block_cls.name} v{block_cls.version} on {spec}: {message}")


def check_block(
    block_cls: type[FeatureBlock], spec: SignalSpec, windows: np.ndarray | None = None
) -> float | None:
    """Run the conformance checks for `block_cls` with default params on `spec`; raise
    AssertionError naming the first broken promise. Returns the C-vs-numpy max relative error
    (see `relative_error`), or None if the block emits no C.

    Checks: params round-trip through model_dump/model_validate (also as JSON); default
    construction works; transform is deterministic, returns float32 (n, k) with finite values
    for random finite input, the same k for every n, and row i does not depend on the other
    rows; if `emit_c` returns code, it compiles with gcc -Werror, matches transform to
    C_TOLERANCE of each feature's scale (see there), and runs clean under AddressSanitizer and
    UndefinedBehaviorSanitizer (no out-of-bounds access; skipped where gcc lacks them)."""
    from edgeops.blocks.dsp.cbuild import compile_and_run, sanitizers_available

    block = block_cls()
    params = block.params
    for dumped in (params.model_dump(), params.model_dump(mode="json")):
        again = block_cls.Params.model_validate(dumped)
        if again != params:
            raise _fail(block_cls, spec, f"params do not round-trip: {params!r} → {again!r}")
    if block_cls(params.model_dump()).params != params:
        raise _fail(block_cls, spec, "constructing from dumped params changes them")
    block.check(spec)

    if windows is None:
        rng = np.random.default_rng(20240611)
        windows = rng.normal(0.0, 2.0, size=(6, spec.window_samples, spec.axes))
    windows = np.asarray(windows, dtype=np.float32)
    state: dict[str, Any] | None = block.fit(windows, spec)

    first = block.transform(windows, spec, state)
    second = block.transform(windows.copy(), spec, state)
    if not isinstance(first, np.ndarray) or first.dtype != np.float32 or first.ndim != 2:
        raise _fail(block_cls, spec, f"transform must return float32 (n, k), got {first!r:.80}")
    if first.shape[0] != len(windows):
        raise _fail(block_cls, spec, f"{len(windows)} windows gave {first.shape[0]} rows")
    if not np.array_equal(first, second):
        raise _fail(block_cls, spec, "transform is not deterministic")
    if not np.all(np.isfinite(first)):
        raise _fail(block_cls, spec, "transform gave non-finite values for finite input")
    features = first.shape[1]
    for n in (1, 2):
        part = block.transform(windows[:n], spec, state)
        if part.shape != (n, features):
            raise _fail(block_cls, spec, f"{n} windows gave {part.shape}; expected k={features}")
        if not np.allclose(part, first[:n], rtol=1e-6, atol=1e-7):
            raise _fail(block_cls, spec, "a window's features depend on the other windows")

    function = block.emit_c(spec, state)
    if function is None:
        return None
    if function.input_len != spec.window_samples * spec.axes or function.output_len != features:
        raise _fail(
            block_cls,
            spec,
            f"C takes {function.input_len} → {function.output_len} floats; numpy takes "
            f"{spec.window_samples * spec.axes} → {features}",
        )
    output = compile_and_run(function, windows)
    error = relative_error(output, first, scale_floor(block_cls))
    if not error <= C_TOLERANCE:
        raise _fail(block_cls, spec, f"C differs from numpy: max relative error {error:.3g}")
    if sanitizers_available():
        try:
            compile_and_run(function, windows[:2], sanitize=True)
        except InvalidInput as failure:
            raise _fail(block_cls, spec, f"C fails the memory check: {failure}") from failure
    return error


def vibration_windows(spec: SignalSpec, n: int, seed: int = 0) -> np.ndarray:
    """Realistic motion windows: a 50 Hz-class rotation (scaled below Nyquist) with harmonics,
    a slow tilt, and sensor noise, with a different phase and amplitude per window and axis."""
    rng = np.random.default_rng(seed)
    t = np.arange(spec.window_samples) / spec.frequency_hz
    fundamental = min(50.0, spec.frequency_hz / 5)
    out = np.empty((n, spec.window_samples, spec.axes))
    for i in range(n):
        for axis in range(spec.axes):
            wave = np.zeros_like(t)
            for harmonic, amplitude in ((1, 1.0), (2, 0.4), (3, 0.15)):
                frequency = fundamental * harmonic * (1 + 0.02 * rng.standard_normal())
                if frequency < spec.frequency_hz / 2:
                    phase = rng.uniform(0, 2 * np.pi)
                    wave += amplitude * np.sin(2 * np.pi * frequency * t + phase)
            tilt = 9.81 * (axis == spec.axes - 1) + 0.3 * np.sin(2 * np.pi * 0.5 * t)
            noise = 0.05 * rng.standard_normal(len(t))
            out[i, :, axis] = rng.uniform(0.5, 2.0) * wave + tilt + noise
    return out.astype(np.float32)
