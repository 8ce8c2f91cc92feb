"""Every registered block passes edgeops.testing.check_block on a few signal shapes."""

from typing import Any

import numpy as np
import pytest

from edgeops.blocks import registry
from edgeops.blocks.base import CFunction, FeatureBlock, SignalSpec
from edgeops.blocks.dsp.cbuild import sanitizers_available
from edgeops.errors import InvalidInput
from edgeops.testing import (
    C_FLOOR,
    C_TOLERANCE,
    check_block,
    relative_error,
    scale_floor,
    vibration_windows,
)

SPECS = [
    SignalSpec(frequency_hz=100.0, axes=3, window_samples=200),
    SignalSpec(frequency_hz=62.5, axes=1, window_samples=128),
    SignalSpec(frequency_hz=16000.0, axes=1, window_samples=16),
    SignalSpec(frequency_hz=8000.0, axes=1, window_samples=4000),  # audio: 0.5 s at 8 kHz
    # images: one window = one image, (h*w, c); frequency is meaningless (1 Hz keeps
    # vibration_windows finite).
    SignalSpec(frequency_hz=1.0, axes=3, window_samples=24 * 32, image_shape=(24, 32, 3)),
    SignalSpec(frequency_hz=1.0, axes=1, window_samples=20 * 10, image_shape=(20, 10, 1)),
]


def _accepts(block_cls: registry.BlockType, spec: SignalSpec) -> bool:
    try:
        block_cls().check(spec)
    except InvalidInput:
        return False
    return True


def _case(block_cls: registry.BlockType, spec: SignalSpec) -> object:
    label = f"{block_cls.name}-{spec.frequency_hz}Hz-{spec.axes}ax"
    return pytest.param(block_cls, spec, id=label)


@pytest.mark.parametrize(
    ("block_cls", "spec"),
    [_case(b, s) for b in registry.all_blocks() for s in SPECS if _accepts(b, s)],
)
def test_random_windows(block_cls: registry.BlockType, spec: SignalSpec) -> None:
    error = check_block(block_cls, spec)
    assert error is None or error <= C_TOLERANCE


@pytest.mark.parametrize(
    ("block_cls", "spec"),
    [_case(b, next(s for s in SPECS if _accepts(b, s))) for b in registry.all_blocks()],
)
def test_vibration_windows(block_cls: registry.BlockType, spec: SignalSpec) -> None:
    check_block(block_cls, spec, vibration_windows(spec, 8, seed=3))


def test_every_block_accepts_some_spec() -> None:
    for block_cls in registry.all_blocks():
        assert any(_accepts(block_cls, spec) for spec in SPECS), block_cls.name


def test_the_motion_blocks_are_registered() -> None:
    names = {block.name for block in registry.all_blocks()}
    assert {"raw", "flatten", "spectral"} <= names


def test_several_blocks_share_one_translation_unit() -> None:
    """Two spectral instances (different FFT sizes, both filtered), flatten and raw in one C
    file: names are unique, shared headers are guarded, helpers are static."""
    from edgeops.blocks.base import CFunction
    from edgeops.blocks.dsp.cbuild import compile_and_run

    spec = SPECS[0]
    blocks = [
        registry.get("spectral")({"filter": "low", "cutoff_hz": 8.0, "fft_length": 64}),
        registry.get("spectral")({"filter": "high", "cutoff_hz": 3.0, "fft_length": 256}),
        registry.get("flatten")(),
        registry.get("raw")({"scale": 2.0}),
    ]
    functions = [block.emit_c(spec) for block in blocks]
    assert all(function is not None for function in functions)
    parts = [function for function in functions if function is not None]
    assert len({function.name for function in parts}) == len(parts)
    calls, offset = [], 0
    for function in parts:
        calls.append(f"    if ({function.name}(input, output + {offset}) != 0) return 1;")
        offset += function.output_len
    source = "\n".join(function.source for function in parts) + (
        "\nint all_blocks(const float *input, float *output)\n{\n"
        + "\n".join(calls)
        + "\n    return 0;\n}\n"
    )
    combined = CFunction("all_blocks", source, parts[0].input_len, offset)
    windows = vibration_windows(spec, 4, seed=11)
    output = compile_and_run(combined, windows)
    reference = np.concatenate([block.transform(windows, spec) for block in blocks], axis=1)
    assert relative_error(output, reference) <= C_TOLERANCE


def test_the_tolerance_is_relative_to_each_features_scale() -> None:
    reference = np.array([[100.0, 0.5, 0.0], [-80.0, -0.001, 0.0]])
    # 1e-4 of each column's largest magnitude: 0.01, 5e-5, and the 1e-7 floor.
    close = reference + np.array([[0.009, 4e-5, 9e-8]])
    assert relative_error(close, reference) <= C_TOLERANCE
    for column, slip in ((0, 0.011), (1, 6e-5), (2, 2e-7)):
        broken = reference.copy()
        broken[1, column] += slip
        assert relative_error(broken, reference) > C_TOLERANCE, column


def test_normalised_blocks_are_measured_against_their_range() -> None:
    """A spectrogram bin 50 dB down is 0.04 on the [0, 1] scale: its error counts against 1."""
    assert scale_floor(registry.get("spectrogram")) == scale_floor(registry.get("mfe")) == 1.0
    assert scale_floor(registry.get("mfcc")) == scale_floor(registry.get("spectral")) == C_FLOOR
    reference = np.array([[0.04], [0.03]])
    output = reference + 2e-5
    assert relative_error(output, reference) > C_TOLERANCE
    assert relative_error(output, reference, scale_floor(registry.get("mfe"))) <= C_TOLERANCE


class _Doubler(FeatureBlock):
    """Doubles every value; its C can be made to write one float past its output."""

    name = "doubler"
    version = 1
    overrun = False

    def transform(
        self, windows: np.ndarray, spec: SignalSpec, state: dict[str, Any] | None = None
    ) -> np.ndarray:
        flat = np.asarray(windows, dtype=np.float32).reshape(len(windows), -1)
        doubled: np.ndarray = 2 * flat
        return doubled

    def emit_c(self, spec: SignalSpec, state: dict[str, Any] | None = None) -> CFunction:
        size = spec.window_samples * spec.axes
        last = size + 1 if self.overrun else size
        source = f"""int doubler_{last}(const float *input, float *output)
{{
    int t;
    for (t = 0; t < {last}; t++) output[t] = 2.0f * input[t < {size} ? t : 0];
    return 0;
}}
"""
        return CFunction(f"doubler_{last}", source, size, size)


class _OverrunningDoubler(_Doubler):
    overrun = True


def test_check_block_catches_an_out_of_bounds_write() -> None:
    if not sanitizers_available():
        pytest.skip("gcc here has no AddressSanitizer/UBSan runtime (libasan, libubsan)")
    spec = SignalSpec(frequency_hz=10.0, axes=2, window_samples=8)
    assert check_block(_Doubler, spec) == 0.0
    # The plain build writes the extra float into whatever follows `output` and still gives
    # the right numbers; only the memory check sees it.
    with pytest.raises(AssertionError, match=r"memory check(.|\n)*global-buffer-overflow"):
        check_block(_OverrunningDoubler, spec)
