"""The audio blocks (spectrogram, mfe, mfcc) against python_speech_features and a plain
loop-by-loop spectrogram, their validation, shape invariants, and their C twins."""

import math
from pathlib import Path

import numpy as np
import pytest
import python_speech_features as psf
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy.fft import dct
from scipy.io import wavfile

from edgeops.blocks.base import SignalSpec
from edgeops.blocks.dsp.audio import ENERGY_FLOOR, mel_filterbank
from edgeops.blocks.dsp.cbuild import compile_and_run
from edgeops.blocks.dsp.mfcc import MFCC
from edgeops.blocks.dsp.mfe import MFE
from edgeops.blocks.dsp.spectrogram import Spectrogram
from edgeops.errors import InvalidInput
from edgeops.testing import C_TOLERANCE, relative_error, scale_floor, vibration_windows

SPEECH = Path("/usr/share/asterisk/sounds/en_US_f_Allison/digits/7.wav")


def speech() -> tuple[np.ndarray, float]:
    """Real speech (asterisk's "seven", 8 kHz) when installed, else a chirp in noise."""
    if SPEECH.exists():
        rate, data = wavfile.read(SPEECH)
        return (data.astype(np.float64) / 32768.0).astype(np.float32), float(rate)
    rate = 8000.0
    t = np.arange(int(0.6 * rate)) / rate
    chirp = 0.5 * np.sin(2 * np.pi * (200 * t + 1500 * t**2))
    noise = 0.05 * np.random.default_rng(7).standard_normal(len(t))
    return (chirp + noise).astype(np.float32), rate


def as_window(signal: np.ndarray, rate: float) -> tuple[np.ndarray, SignalSpec]:
    return signal.reshape(1, -1, 1), SignalSpec(
        frequency_hz=rate, axes=1, window_samples=len(signal)
    )


GOLDEN_CASES = [
    {},
    {"cep_lifter": 22, "low_frequency_hz": 300.0, "high_frequency_hz": 3400.0},
    {"num_filters": 26, "num_cepstral": 20, "frame_length_s": 0.025, "frame_stride_s": 0.01},
]


@pytest.mark.parametrize("params", GOLDEN_CASES, ids=range(len(GOLDEN_CASES)))
def test_mfcc_and_log_energies_match_python_speech_features(params: dict[str, object]) -> None:
    """python_speech_features pre-emphasises the whole signal before framing, as we do per
    window; it pads a last partial frame where we stop at the last whole one, so only our
    frames are compared. It floors energies differently: it replaces exact zeros by eps where
    we add eps (ENERGY_FLOOR) to every energy, which matters in near-silent frames (real
    speech has them: an energy of 1e-13 moves by 2e-3 in the log). So its `mfcc` is compared
    on frames whose energies are all above 1e-6 (the floors then agree to 2e-10), and every
    frame is compared through its `fbank` energies, floored our way, its `lifter` and an
    orthonormal DCT-II. Tolerances: log energies (float64 both sides) to 1e-9 absolute;
    MFCCs (ours rounded to float32) to 1e-5 relative + 1e-5 absolute."""
    signal, rate = speech()
    windows, spec = as_window(signal, rate)
    block = MFCC(params)
    p = block.params
    frames = 1 + (len(signal) - round(p.frame_length_s * rate)) // round(p.frame_stride_s * rate)
    arguments = {
        "samplerate": rate,
        "winlen": p.frame_length_s,
        "winstep": p.frame_stride_s,
        "nfilt": p.num_filters,
        "nfft": p.fft_length,
        "lowfreq": p.low_frequency_hz,
        "highfreq": p.high_frequency_hz or None,
        "preemph": p.pre_emphasis,
    }
    ours = block.transform(windows, spec).reshape(frames, p.num_cepstral)
    mfe = MFE({k: v for k, v in p.model_dump().items() if k not in ("num_cepstral", "cep_lifter")})
    ours_log = mfe.log_energies(windows, spec)[0]

    energies = psf.fbank(signal.astype(np.float64), **arguments)[0][:frames]
    loud = np.all(energies > 1e-6, axis=1)
    assert loud.sum() >= frames // 3  # the word; the rest is near-silence around it
    expected = psf.mfcc(
        signal.astype(np.float64),
        numcep=p.num_cepstral,
        ceplifter=p.cep_lifter,
        appendEnergy=False,
        winfunc=lambda x: np.ones(x),
        **arguments,
    )[:frames]
    np.testing.assert_allclose(ours[loud], expected[loud], rtol=1e-5, atol=1e-5)
    expected_log = psf.logfbank(signal.astype(np.float64), **arguments)[:frames]
    np.testing.assert_allclose(ours_log[loud], expected_log[loud], rtol=0, atol=1e-9)

    eps = np.finfo(np.float64).eps
    floored_our_way = np.log(np.where(energies == eps, 0.0, energies) + ENERGY_FLOOR)
    np.testing.assert_allclose(ours_log, floored_our_way, rtol=0, atol=1e-9)
    cepstra = dct(floored_our_way, type=2, axis=1, norm="ortho")[:, : p.num_cepstral]
    np.testing.assert_allclose(ours, psf.lifter(cepstra, p.cep_lifter), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("filters", "size", "rate", "low", "high"),
    [
        (32, 256, 8000.0, 0.0, 4000.0),
        (40, 512, 16000.0, 300.0, 7000.0),
        (26, 512, 16000.0, 0, 8000.0),
    ],
)
def test_filterbank_is_python_speech_features(
    filters: int, size: int, rate: float, low: float, high: float
) -> None:
    expected = psf.get_filterbanks(filters, size, rate, low, high)
    np.testing.assert_array_equal(mel_filterbank(filters, size, rate, low, high), expected)


def test_mfe_is_the_normalised_db_of_the_log_energies() -> None:
    signal, rate = speech()
    windows, spec = as_window(signal, rate)
    block = MFE({"noise_floor_db": -80.0})
    db = block.log_energies(windows, spec) * 10 / math.log(10)
    expected = np.clip((db + 80.0) / 80.0, 0, 1).reshape(1, -1)
    np.testing.assert_allclose(block.transform(windows, spec), expected, rtol=1e-6, atol=1e-7)
    assert 0 < block.transform(windows, spec).mean() < 1


def straightforward_spectrogram(
    window: np.ndarray, rate: float, frame_s: float, stride_s: float, size: int, floor: float
) -> np.ndarray:
    """The spectrogram's definition, one frame at a time with a full complex FFT."""
    length, stride = math.floor(frame_s * rate + 0.5), math.floor(stride_s * rate + 0.5)
    rows = []
    for start in range(0, len(window) - length + 1, stride):
        frame = np.zeros(size)
        used = min(length, size)  # a frame longer than the FFT is truncated
        frame[:used] = window[start : start + used]
        power = np.abs(np.fft.fft(frame)[: size // 2 + 1]) ** 2 / size
        db = 10 * np.log10(power + np.finfo(np.float64).eps)
        rows.append(np.clip((db - floor) / -floor, 0, 1))
    return np.concatenate(rows)


@settings(max_examples=40, deadline=None)
@given(
    rate=st.sampled_from([4000.0, 8000.0, 11025.0, 16000.0]),
    samples=st.integers(1, 3000),
    frame_s=st.floats(0.005, 0.04),
    stride_s=st.floats(0.005, 0.04),
    size=st.sampled_from([128, 256, 512, 1024]),
    n=st.integers(1, 3),
)
def test_spectrogram_shapes_and_values(
    rate: float, samples: int, frame_s: float, stride_s: float, size: int, n: int
) -> None:
    spec = SignalSpec(frequency_hz=rate, axes=1, window_samples=samples)
    params = {"frame_length_s": frame_s, "frame_stride_s": stride_s, "fft_length": size}
    block = Spectrogram(params)
    windows = np.random.default_rng(samples).normal(0, 0.1, (n, samples, 1)).astype(np.float32)
    length, stride = math.floor(frame_s * rate + 0.5), math.floor(stride_s * rate + 0.5)
    if length > samples:
        with pytest.raises(InvalidInput):
            block.check(spec)
        with pytest.raises(InvalidInput):
            block.transform(windows, spec)
        return
    out = block.transform(windows, spec)
    frames = 1 + (samples - length) // stride
    assert out.shape == (n, frames * (size // 2 + 1)) and out.dtype == np.float32
    assert np.all((out >= 0) & (out <= 1))
    expected = straightforward_spectrogram(windows[0, :, 0], rate, frame_s, stride_s, size, -52)
    np.testing.assert_allclose(out[0], expected, rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(
    block_cls=st.sampled_from([MFE, MFCC]),
    rate=st.sampled_from([8000.0, 16000.0]),
    samples=st.integers(200, 4000),
    filters=st.integers(8, 64),
    size=st.sampled_from([256, 512, 1024]),
)
def test_mel_block_shapes(
    block_cls: type[MFE] | type[MFCC], rate: float, samples: int, filters: int, size: int
) -> None:
    spec = SignalSpec(frequency_hz=rate, axes=1, window_samples=samples)
    params: dict[str, object] = {"num_filters": filters, "fft_length": size}
    if block_cls is MFCC:
        params["num_cepstral"] = min(13, filters)
    block = block_cls(params)
    try:
        block.check(spec)
    except InvalidInput as error:
        assert "num_filters" in str(error) or "shorter" in str(error)
        return
    windows = np.random.default_rng(samples).normal(0, 0.1, (2, samples, 1)).astype(np.float32)
    out = block.transform(windows, spec)
    p = block.params
    length = math.floor(p.frame_length_s * rate + 0.5)
    frames = 1 + (samples - length) // math.floor(p.frame_stride_s * rate + 0.5)
    per_frame = p.num_cepstral if isinstance(p, MFCC.Params) else filters
    assert out.shape == (2, frames * per_frame) and np.all(np.isfinite(out))


@pytest.mark.parametrize(
    ("block_cls", "params", "spec", "message"),
    [
        (MFCC, {}, SignalSpec(100.0, 3, 200), "audio blocks take one axis; this signal has 3"),
        (
            Spectrogram,
            {},
            SignalSpec(8000.0, 1, 100),
            "window_samples 100 is shorter than one frame",
        ),
        (MFE, {"high_frequency_hz": 5000.0}, SignalSpec(8000.0, 1, 800), "above the Nyquist"),
        (MFCC, {"low_frequency_hz": 4000.0}, SignalSpec(8000.0, 1, 800), "must be below"),
        (
            MFE,
            {"num_filters": 128, "frame_length_s": 0.004},
            SignalSpec(8000.0, 1, 800),
            "without any bin",
        ),
        (
            Spectrogram,
            {"frame_stride_s": 0.00001},
            SignalSpec(8000.0, 1, 800),
            "at least one sample",
        ),
    ],
)
def test_check_refuses_with_named_fields(
    block_cls: type[Spectrogram] | type[MFE] | type[MFCC],
    params: dict[str, object],
    spec: SignalSpec,
    message: str,
) -> None:
    block = block_cls(params)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        block.check(spec)
    with pytest.raises(InvalidInput):
        block.emit_c(spec)


@pytest.mark.parametrize(
    ("block_cls", "params"),
    [
        (MFCC, {"num_filters": 300}),
        (MFCC, {"num_cepstral": 20, "num_filters": 16}),
        (MFE, {"fft_length": 300}),
        (Spectrogram, {"noise_floor_db": 3.0}),
        (MFE, {"pre_emphasis": 1.5}),
        (MFCC, {"frame_length_s": 0}),
        (Spectrogram, {"unknown": 1}),
    ],
)
def test_params_refuse_out_of_bounds(
    block_cls: type[Spectrogram] | type[MFE] | type[MFCC], params: dict[str, object]
) -> None:
    with pytest.raises(ValidationError):
        block_cls(params)


def test_defaults() -> None:
    mfcc, mfe, spectrogram = MFCC().params, MFE().params, Spectrogram().params
    assert (mfcc.num_cepstral, mfcc.num_filters, mfcc.fft_length) == (13, 32, 256)
    assert (mfcc.frame_length_s, mfcc.frame_stride_s, mfcc.pre_emphasis) == (0.02, 0.02, 0.98)
    assert (mfe.num_filters, mfe.frame_stride_s, mfe.noise_floor_db, mfe.pre_emphasis) == (
        40,
        0.01,
        -52.0,
        0.0,
    )
    assert (spectrogram.frame_length_s, spectrogram.frame_stride_s) == (0.02, 0.01)


C_CASES = [
    (Spectrogram, {}),
    (Spectrogram, {"pre_emphasis": 0.97, "fft_length": 512, "noise_floor_db": -90.0}),
    (MFE, {}),
    (MFE, {"low_frequency_hz": 300.0, "high_frequency_hz": 3400.0, "num_filters": 24}),
    (MFCC, {}),
    (MFCC, {"cep_lifter": 22, "num_filters": 40, "num_cepstral": 20, "fft_length": 512}),
]


@pytest.mark.parametrize(("block_cls", "params"), C_CASES, ids=range(len(C_CASES)))
def test_c_matches_numpy_on_speech(
    block_cls: type[Spectrogram] | type[MFE] | type[MFCC], params: dict[str, object]
) -> None:
    signal, rate = speech()
    length = 3000
    windows = np.stack([signal[:length], signal[-length:], 3 * signal[1000 : 1000 + length]])
    windows = windows.reshape(3, length, 1)
    spec = SignalSpec(frequency_hz=rate, axes=1, window_samples=length)
    block = block_cls(params)
    function = block.emit_c(spec)
    reference = block.transform(windows, spec)
    output = compile_and_run(function, windows)
    assert output.shape == reference.shape
    assert relative_error(output, reference, scale_floor(block_cls)) <= C_TOLERANCE


@pytest.mark.parametrize("block_cls", [Spectrogram, MFE, MFCC])
@pytest.mark.parametrize(
    "spec",
    [SignalSpec(8000.0, 1, 4000), SignalSpec(62.5, 1, 128)],
    ids=["8kHz", "62.5Hz"],
)
def test_c_matches_numpy_on_random_and_vibration_windows(
    block_cls: type[Spectrogram] | type[MFE] | type[MFCC], spec: SignalSpec
) -> None:
    block = block_cls()
    function = block.emit_c(spec)
    random = np.random.default_rng(1).normal(0, 2.0, (4, spec.window_samples, 1))
    for windows in (random.astype(np.float32), vibration_windows(spec, 4, seed=3)):
        reference = block.transform(windows, spec)
        output = compile_and_run(function, windows)
        assert relative_error(output, reference, scale_floor(block_cls)) <= C_TOLERANCE
