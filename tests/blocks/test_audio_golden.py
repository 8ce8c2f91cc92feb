"""MFCC and MFE against librosa with matched parameters, and Edge Impulse's MFCC defaults at
16 kHz (a 320-sample frame, a 256-point FFT) against python_speech_features, librosa and C."""

import logging
import math

import librosa
import numpy as np
import pytest
import python_speech_features as psf

from edgeops.blocks.base import SignalSpec
from edgeops.blocks.dsp.audio import ENERGY_FLOOR, mel_filterbank
from edgeops.blocks.dsp.cbuild import compile_and_run
from edgeops.blocks.dsp.mfcc import MFCC
from edgeops.blocks.dsp.mfe import MFE
from edgeops.blocks.dsp.spectrogram import Spectrogram
from edgeops.testing import C_TOLERANCE, relative_error, scale_floor


def voice(rate: float, seconds: float, seed: int) -> np.ndarray:
    """A voiced sound: a gliding 120-180 Hz pitch with 20 harmonics under a formant-like
    spectral tilt, a syllable envelope, and faint noise (float32)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = 120 + 60 * t / seconds
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    tone = sum(np.sin(h * phase) / h for h in range(1, 21) if h * pitch.max() < rate / 2)
    envelope = 0.2 + 0.8 * np.sin(np.pi * t / seconds) ** 2
    signal = 0.3 * envelope * tone + 0.01 * rng.standard_normal(len(t))
    return signal.astype(np.float32)


def librosa_power(signal: np.ndarray, rate: float, block: MFCC | MFE) -> np.ndarray:
    """(frames, bins) |STFT|² / N from librosa: pre-emphasis from zero state, a boxcar window,
    no centering. librosa takes n_fft samples per frame, which matches our framing whenever the
    frame holds at least fft_length samples (longer frames are truncated to fft_length)."""
    p = block.params
    stride = math.floor(p.frame_stride_s * rate + 0.5)
    emphasised = librosa.effects.preemphasis(
        signal.astype(np.float64), coef=p.pre_emphasis, zi=np.zeros(1)
    )
    stft = librosa.stft(
        emphasised,
        n_fft=p.fft_length,
        hop_length=stride,
        win_length=p.fft_length,
        window="boxcar",
        center=False,
    )
    power: np.ndarray = (np.abs(stft) ** 2 / p.fft_length).T
    return power


# Frames of 256 samples: 0.032 s at 8 kHz (exactly the FFT), and Edge Impulse's 0.02 s at
# 16 kHz (320 samples, truncated to the FFT's 256).
GOLDEN = [
    (8000.0, {"frame_length_s": 0.032, "frame_stride_s": 0.016}),
    (16000.0, {}),
    (16000.0, {"num_filters": 26, "num_cepstral": 20, "low_frequency_hz": 80.0}),
    (16000.0, {"frame_length_s": 0.032, "frame_stride_s": 0.01, "fft_length": 512}),
]


@pytest.mark.parametrize(("rate", "params"), GOLDEN, ids=range(len(GOLDEN)))
def test_mfcc_and_mfe_match_librosa(rate: float, params: dict[str, object]) -> None:
    """librosa's STFT, power and orthonormal DCT-II (`librosa.feature.mfcc(S=...)`, which is
    the DCT of whatever log energies it is given) against ours, with the same filterbank:
    librosa's own places triangle vertices between FFT bins, Edge Impulse's and
    python_speech_features' floor them to bins, and the vertices themselves are librosa's
    HTK mel frequencies (`test_filter_vertices_are_librosas_htk_mel_frequencies`).
    Tolerances: power and log energies (float64 both sides) 1e-9 relative / absolute; MFCC
    and MFE (ours rounded to float32) 1e-5 of the largest |value| per coefficient, and 1e-6
    absolute on MFE's [0, 1] scale."""
    signal = voice(rate, 0.5, seed=3)
    windows = signal.reshape(1, -1, 1)
    spec = SignalSpec(frequency_hz=rate, axes=1, window_samples=len(signal))
    block = MFCC(params)
    p = block.params
    front = block.front_end(spec)
    frames = front.framing.count

    power = librosa_power(signal, rate, block)[:frames]
    assert power.shape == (frames, p.fft_length // 2 + 1)
    log_energies = np.log(power @ front.bank.T + ENERGY_FLOOR)
    np.testing.assert_allclose(front.log_energies(windows)[0], log_energies, rtol=1e-9, atol=1e-9)

    expected = librosa.feature.mfcc(S=log_energies.T, n_mfcc=p.num_cepstral, norm="ortho").T
    ours = block.transform(windows, spec).reshape(frames, p.num_cepstral)
    scale = np.abs(expected).max(axis=0)
    assert np.all(np.abs(ours - expected) <= 1e-5 * scale)

    mfe = MFE({k: v for k, v in p.model_dump().items() if k not in ("num_cepstral", "cep_lifter")})
    db = librosa.power_to_db(power @ front.bank.T + ENERGY_FLOOR, ref=1.0, amin=1e-300, top_db=None)
    floor = mfe.params.noise_floor_db
    expected_mfe = np.clip((db - floor) / -floor, 0, 1)
    ours_mfe = mfe.transform(windows, spec).reshape(frames, p.num_filters)
    np.testing.assert_allclose(ours_mfe, expected_mfe, rtol=0, atol=1e-6)
    assert 0.2 < ours_mfe.mean() < 0.9  # a real spread, not all clipped


@pytest.mark.parametrize(
    ("filters", "size", "rate", "low", "high"),
    [(32, 256, 16000.0, 0.0, 8000.0), (40, 512, 16000.0, 300.0, 7000.0), (26, 256, 8000.0, 0, 0)],
)
def test_filter_vertices_are_librosas_htk_mel_frequencies(
    filters: int, size: int, rate: float, low: float, high: float
) -> None:
    """Filter j rises from bin b[j] to a peak of 1 at b[j+1] and falls to b[j+2], where
    b = floor((N + 1) · f / rate) of librosa's `mel_frequencies(htk=True)`."""
    high = high or rate / 2
    bank = mel_filterbank(filters, size, rate, low, high)
    edges = librosa.mel_frequencies(filters + 2, fmin=low, fmax=high, htk=True)
    bins = np.floor((size + 1) * edges / rate).astype(int)
    for j, row in enumerate(bank):
        if bins[j + 1] > bins[j]:
            assert row[bins[j + 1]] == pytest.approx(1.0) or bins[j + 2] == bins[j + 1]
        assert np.all(row[: bins[j]] == 0) and np.all(row[bins[j + 2] :] == 0)
        assert row.argmax() in (bins[j], bins[j + 1])


EI_16K = SignalSpec(frequency_hz=16000.0, axes=1, window_samples=16000)


@pytest.mark.filterwarnings("ignore:The 'warn' function is deprecated:DeprecationWarning")
def test_edge_impulse_defaults_work_at_16_khz(caplog: pytest.LogCaptureFixture) -> None:
    """Edge Impulse's MFCC defaults (13 coefficients, 32 filters, FFT 256, 0.02 s frames every
    0.02 s, pre-emphasis 0.98) give 320-sample frames at 16 kHz; each is truncated to its
    first 256 samples, as python_speech_features does (with a warning). The block equals
    python_speech_features and a block whose frames are 256 samples to begin with."""
    block = MFCC()
    p = block.params
    assert (p.num_cepstral, p.num_filters, p.fft_length, p.pre_emphasis) == (13, 32, 256, 0.98)
    block.check(EI_16K)
    signal = voice(16000.0, 1.0, seed=5)
    windows = signal.reshape(1, -1, 1)
    ours = block.transform(windows, EI_16K).reshape(-1, 13)
    assert ours.shape == (50, 13)

    with caplog.at_level(logging.WARNING):
        expected = psf.mfcc(
            signal.astype(np.float64),
            samplerate=16000,
            winlen=0.02,
            winstep=0.02,
            numcep=13,
            nfilt=32,
            nfft=256,
            preemph=0.98,
            ceplifter=0,
            appendEnergy=False,
            winfunc=lambda n: np.ones(n),
        )[:50]
    assert "truncated" in caplog.text  # python_speech_features does truncate here
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())

    short = MFCC({"frame_length_s": 0.016}).transform(windows, EI_16K).reshape(-1, 13)
    np.testing.assert_array_equal(ours, short)
    # The truncated 64 samples are really dropped: changing them changes nothing.
    altered = windows.copy()
    altered[0, 256:319, 0] += 1.0  # (x[319] still feeds the pre-emphasised y[320])
    np.testing.assert_array_equal(block.transform(altered, EI_16K), ours.reshape(1, -1))
    assert not np.array_equal(block.transform(altered[:, ::-1], EI_16K), ours.reshape(1, -1))


@pytest.mark.parametrize("block_cls", [MFCC, MFE, Spectrogram])
def test_c_truncates_long_frames_like_numpy(block_cls: type[MFCC | MFE | Spectrogram]) -> None:
    block = block_cls({"frame_length_s": 0.02, "fft_length": 256})
    windows = np.stack([voice(16000.0, 1.0, seed) for seed in range(3)]).reshape(3, -1, 1)
    reference = block.transform(windows, EI_16K)
    output = compile_and_run(block.emit_c(EI_16K), windows)
    assert relative_error(output, reference, scale_floor(block_cls)) <= C_TOLERANCE
