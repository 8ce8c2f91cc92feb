"""The C twins of the spectral and audio blocks stay within edgeops.testing's C_TOLERANCE
across what is hard for float32: large DC offsets, amplitudes from 1e-3 to 1e3, FFTs up to
4096 points, frames shorter or longer than the FFT, and pre-emphasis of offset signals."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from edgeops.blocks.base import SignalSpec
from edgeops.blocks.dsp.cbuild import compile_and_run
from edgeops.blocks.dsp.mfcc import MFCC
from edgeops.blocks.dsp.mfe import MFE
from edgeops.blocks.dsp.spectral import Spectral
from edgeops.blocks.dsp.spectrogram import Spectrogram
from edgeops.errors import InvalidInput
from edgeops.testing import C_FLOOR, C_TOLERANCE, relative_error, scale_floor

FFT_LENGTHS = st.sampled_from([64, 256, 1024, 4096])
OFFSETS = st.sampled_from([0.0, 1.0, -9.81, 100.0, 2000.0])
AMPLITUDES = st.floats(-3, 3).map(lambda exponent: 10.0**exponent)
# Audio is scaled to [-1, 1] (as imported from WAV); offsets up to 10 times full scale and
# amplitudes up to +10 dB beyond it are tested. Louder, spectrogram's absolute dB scale shows
# bins 90 dB and more below the frame's loudest, under what a float32 FFT resolves (its
# rounding is ~1e-7 of the loudest bin's amplitude). With an offset 1000 times the signal, the
# unfiltered first sample of a pre-emphasised window (y[0] = x[0]) makes frame 0 an impulse
# whose cepstrum is ~0 beyond c0: its coefficients are then float32 rounding of ~2000.
AUDIO_OFFSETS = st.sampled_from([0.0, 0.3, -1.0, 10.0])
AUDIO_AMPLITUDES = st.floats(-3, 0.5).map(lambda exponent: 10.0**exponent)


def signals(
    n: int, samples: int, axes: int, rate: float, offset: float, amplitude: float, seed: int
) -> np.ndarray:
    """(n, samples, axes) float32: a DC offset plus tones at random frequencies and noise 30 dB
    below them, scaled by `amplitude`."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / rate
    out = np.empty((n, samples, axes))
    for i in range(n):
        for axis in range(axes):
            tones = np.zeros(samples)
            for _ in range(3):
                frequency, phase = rng.uniform(0, rate / 2), rng.uniform(0, 2 * np.pi)
                tones += rng.uniform(0.2, 1) * np.sin(2 * np.pi * frequency * t + phase)
            noise = 0.03 * rng.standard_normal(samples)
            out[i, :, axis] = offset + amplitude * (tones + noise)
    return out.astype(np.float32)


@settings(max_examples=20, deadline=None)
@given(
    size=FFT_LENGTHS,
    steps=st.integers(16, 3000),
    offset=OFFSETS,
    amplitude=AMPLITUDES,
    filter=st.sampled_from(["none", "low", "high"]),
    seed=st.integers(0, 2**16),
)
def test_spectral_c_is_within_tolerance(
    size: int, steps: int, offset: float, amplitude: float, filter: str, seed: int
) -> None:
    spec = SignalSpec(frequency_hz=100.0, axes=2, window_samples=steps)
    block = Spectral({"fft_length": size, "bands": 8, "peaks": 2, "filter": filter})
    windows = signals(4, steps, 2, 100.0, offset, amplitude, seed)
    reference = block.transform(windows, spec)
    output = compile_and_run(block.emit_c(spec), windows)
    bands = np.r_[0:8, 12:20]
    assert relative_error(output[:, bands], reference[:, bands]) <= C_TOLERANCE
    # Which local maximum is a peak can flip between float32 and float64 where two bins of a
    # smooth (zero-padded) spectrum are nearly equal, so each C peak's height is checked
    # against the float64 power at the frequency the C reports, on the scale of the heights.
    x = windows.astype(np.float64)
    if filter != "none":
        x = signal.sosfilt(block.sos(spec), x, axis=1)
    power = np.abs(np.fft.rfft(x, n=size, axis=1)) ** 2 / size  # (n, bins, axes)
    for axis in range(2):
        first = axis * 12 + 8
        frequencies, heights = (
            output[:, first : first + 4 : 2],
            output[:, first + 1 : first + 4 : 2],
        )
        bins = np.rint(frequencies * size / 100.0).astype(int)
        assert np.all(bins[frequencies > 0] >= 1)
        expected = np.where(frequencies > 0, np.take_along_axis(power[:, :, axis], bins, 1), 0.0)
        scale = np.abs(reference[:, first + 1 : first + 4 : 2]).max(axis=0)
        assert np.all(np.abs(heights - expected) <= C_TOLERANCE * np.maximum(scale, C_FLOOR))


@settings(max_examples=30, deadline=None)
@given(
    block_cls=st.sampled_from([Spectrogram, MFE, MFCC]),
    size=st.sampled_from([256, 512, 1024, 4096]),
    rate=st.sampled_from([8000.0, 16000.0]),
    frame_s=st.sampled_from([0.01, 0.02, 0.025, 0.032, 0.064]),
    pre_emphasis=st.sampled_from([0.0, 0.97, 0.98]),
    offset=AUDIO_OFFSETS,
    amplitude=AUDIO_AMPLITUDES,
    seed=st.integers(0, 2**16),
)
def test_audio_c_is_within_tolerance(
    block_cls: type[Spectrogram | MFE | MFCC],
    size: int,
    rate: float,
    frame_s: float,
    pre_emphasis: float,
    offset: float,
    amplitude: float,
    seed: int,
) -> None:
    """Frames longer than the FFT (e.g. 0.064 s at 16 kHz with FFT 256) are truncated.
    MFCCs do not depend on the amplitude (but for the energy floor); spectrogram and mfe do."""
    samples = 2000
    spec = SignalSpec(frequency_hz=rate, axes=1, window_samples=samples)
    block = block_cls(
        {
            "fft_length": size,
            "frame_length_s": frame_s,
            "frame_stride_s": frame_s,
            "pre_emphasis": pre_emphasis,
        }
    )
    try:
        block.check(spec)
    except InvalidInput as error:  # too many filters for a short FFT
        assert "num_filters" in str(error)
        return
    assert math.floor(frame_s * rate + 0.5) <= samples
    windows = signals(3, samples, 1, rate, offset, amplitude, seed)
    reference = block.transform(windows, spec)
    output = compile_and_run(block.emit_c(spec), windows)
    assert relative_error(output, reference, scale_floor(block_cls)) <= C_TOLERANCE
