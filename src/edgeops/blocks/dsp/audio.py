"""Shared audio front end: framing, power spectra, mel filterbanks, DCT, and their C twin."""

import math
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np
from pydantic import Field

from edgeops.blocks.base import BlockParams, CFunction, FFTLength, SignalSpec, require_windows
from edgeops.blocks.dsp.cbuild import c_float, fft_tables, float_array, header
from edgeops.errors import InvalidInput

# Added to every energy before a log so silence stays finite; python_speech_features replaces
# exact zeros by the same float64 epsilon instead, so the log energies differ by ~eps/E: 1e-13
# for ordinary energies, up to ~1e-3 for a near-empty filter (a DC filter after pre-emphasis).
ENERGY_FLOOR = float(np.finfo(np.float64).eps)


class AudioParams(BlockParams):
    """Framing parameters shared by the audio blocks. A frame shorter than `fft_length` is
    zero-padded at its end; a longer one (Edge Impulse's MFCC defaults at 16 kHz: 0.02 s = 320
    samples, FFT 256) is truncated to its first `fft_length` samples, as python_speech_features
    (which warns) and speechpy do: their `numpy.fft.rfft(frames, n=fft_length)` truncates."""

    frame_length_s: float = Field(0.02, gt=0, le=1.0)
    frame_stride_s: float = Field(0.01, gt=0, le=1.0)
    fft_length: FFTLength = 256
    pre_emphasis: float = Field(0.0, ge=0, le=1)


def to_samples(seconds: float, frequency_hz: float) -> int:
    """`seconds` at `frequency_hz` in whole samples, rounding halves up (python_speech_features)."""
    return math.floor(seconds * frequency_hz + 0.5)


class Framing:
    """How one window is cut: `frame_length` samples every `stride` samples, `count` frames."""

    def __init__(self, block: str, params: AudioParams, spec: SignalSpec) -> None:
        if spec.axes != 1:
            raise InvalidInput(
                f"{block}: audio blocks take one axis; this signal has {spec.axes} "
                "(select a single microphone channel first)"
            )
        self.frame_length = to_samples(params.frame_length_s, spec.frequency_hz)
        self.stride = to_samples(params.frame_stride_s, spec.frequency_hz)
        rate = f"{spec.frequency_hz:g} Hz"
        if self.frame_length < 1 or self.stride < 1:
            raise InvalidInput(
                f"{block}: frame_length_s {params.frame_length_s:g} s and frame_stride_s "
                f"{params.frame_stride_s:g} s must each be at least one sample at {rate}"
            )
        if spec.window_samples < self.frame_length:
            raise InvalidInput(
                f"{block}: window_samples {spec.window_samples} is shorter than one frame "
                f"(frame_length_s {params.frame_length_s:g} s × {rate} = "  # noqa: RUF001
                f"{self.frame_length} samples); lengthen the window or shorten the frame"
            )
        self.count = 1 + (spec.window_samples - self.frame_length) // self.stride
        # A frame longer than the FFT is truncated to its first fft_length samples (see
        # AudioParams); frames still start every `stride` samples and are counted by length.
        self.used = min(self.frame_length, params.fft_length)


def check_band(
    block: str, spec: SignalSpec, num_filters: int, fft_length: int, low_hz: float, high_hz: float
) -> tuple[float, float]:
    """The filterbank's (low, high) edges in Hz (high 0 = Nyquist), or InvalidInput if they are
    out of order, above Nyquist, or leave a filter without any FFT bin."""
    nyquist = spec.frequency_hz / 2
    high = high_hz or nyquist
    if high > nyquist:
        raise InvalidInput(
            f"{block}.high_frequency_hz: {high_hz:g} is above the Nyquist frequency "
            f"{nyquist:g} Hz of a {spec.frequency_hz:g} Hz signal (0 means Nyquist)"
        )
    if not low_hz < high:
        raise InvalidInput(
            f"{block}.low_frequency_hz: {low_hz:g} must be below the high edge {high:g} Hz"
        )
    bank = mel_filterbank(num_filters, fft_length, spec.frequency_hz, low_hz, high)
    empty = np.flatnonzero(~bank.any(axis=1))
    if len(empty):
        raise InvalidInput(
            f"{block}.num_filters: {num_filters} filters between {low_hz:g} and {high:g} Hz "
            f"leave filter {int(empty[0])} without any bin of a {fft_length}-point FFT at "
            f"{spec.frequency_hz:g} Hz; use fewer filters, a longer fft_length or a wider band"
        )
    return low_hz, high


def hz_to_mel(hz: np.ndarray | float) -> Any:
    return 2595 * np.log10(1 + np.asarray(hz) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> Any:
    return 700 * (10 ** (np.asarray(mel) / 2595.0) - 1)


@lru_cache(maxsize=64)
def mel_filterbank(
    num_filters: int, fft_length: int, frequency_hz: float, low_hz: float, high_hz: float
) -> np.ndarray:
    """(num_filters, fft_length/2 + 1) triangular filters equally spaced on the HTK mel scale,
    built exactly as python_speech_features' `get_filterbanks` (edges floored to FFT bins).
    Cached (every transform call needs it), so the array is read-only."""
    points = np.linspace(hz_to_mel(low_hz), hz_to_mel(high_hz), num_filters + 2)
    bins = np.floor((fft_length + 1) * mel_to_hz(points) / frequency_hz)
    bank = np.zeros((num_filters, fft_length // 2 + 1))
    for j in range(num_filters):
        for i in range(int(bins[j]), int(bins[j + 1])):
            bank[j, i] = (i - bins[j]) / (bins[j + 1] - bins[j])
        for i in range(int(bins[j + 1]), int(bins[j + 2])):
            bank[j, i] = (bins[j + 2] - i) / (bins[j + 2] - bins[j + 1])
    bank.flags.writeable = False
    return bank


def dct_matrix(num_coefficients: int, size: int) -> np.ndarray:
    """Rows 0..num_coefficients-1 of the orthonormal DCT-II of length `size`
    (scipy's `dct(x, type=2, norm='ortho')` is `matrix @ x`)."""
    k = np.arange(num_coefficients)[:, None]
    n = np.arange(size)[None, :]
    matrix: np.ndarray = np.sqrt(2.0 / size) * np.cos(np.pi * k * (2 * n + 1) / (2 * size))
    matrix[0] /= np.sqrt(2.0)
    return matrix


def lifter_weights(num_coefficients: int, lifter: int) -> np.ndarray:
    """Cepstral lifter 1 + (L/2)·sin(πn/L) (python_speech_features' `lifter`); ones when L = 0."""
    if lifter <= 0:
        return np.ones(num_coefficients)
    n = np.arange(num_coefficients)
    weights: np.ndarray = 1 + (lifter / 2.0) * np.sin(np.pi * n / lifter)
    return weights


# Windows go through pre-emphasis, FFT and power this many samples at a time (512 KiB of
# float64), so that a chunk's signal and spectra stay in cache and their buffers are reused:
# about 1.3x less CPU time than whole batches of 100 one-second clips. The FFT stays float64:
# a float32 one would halve its cost but move MFCCs by up to ~1e-4 of a coefficient's scale
# (from bins 60 dB below a frame's loudest), the whole of the C twin's tolerance.
CHUNK_SAMPLES = 1 << 16


def pre_emphasise(x: np.ndarray, coefficient: float, out: np.ndarray) -> np.ndarray:
    """`out` = x pre-emphasised along axis 1: y[0] = x[0], y[t] = x[t] - a·x[t-1]; computed as
    (-a·x[t-1]) + x[t] without temporaries (the same IEEE result as x[t] - a·x[t-1])."""
    out[:, 0] = x[:, 0]
    np.multiply(x[:, :-1], -coefficient, out=out[:, 1:])
    out[:, 1:] += x[:, 1:]
    return out


def frame_view(signal: np.ndarray, framing: Framing) -> np.ndarray:
    """(n, frames, used) read-only view of `signal` (n, samples): frame f holds samples
    f·stride .. f·stride + used - 1 (overlapping or not), without copying them."""
    row, sample = signal.strides
    view: np.ndarray = np.lib.stride_tricks.as_strided(
        signal,
        shape=(len(signal), framing.count, framing.used),
        strides=(row, framing.stride * sample, sample),
        writeable=False,
    )
    return view


def squared_magnitudes(
    x: np.ndarray, params: AudioParams, framing: Framing
) -> Iterator[tuple[slice, np.ndarray]]:
    """(rows, |X|²) for consecutive chunks of rows of x (n, samples), CHUNK_SAMPLES at a time:
    each row is pre-emphasised as a whole in float64, cut into frames, each zero-padded or
    truncated to fft_length; |X[k]|² = re² + im² of its real FFT, float64 (rows, frames,
    fft_length/2 + 1), not yet divided by fft_length. The array is reused: use it before
    asking for the next chunk."""
    count, samples = x.shape
    per_chunk = max(1, min(count, CHUNK_SAMPLES // samples))
    bins = params.fft_length // 2 + 1
    raw = np.empty((per_chunk, samples))
    signal = np.empty_like(raw) if params.pre_emphasis else raw
    squares = np.empty((per_chunk, framing.count, bins))
    for start in range(0, count, per_chunk):
        rows = slice(start, min(start + per_chunk, count))
        size = rows.stop - rows.start
        np.copyto(raw[:size], x[rows])  # float32 to float64, exactly
        if params.pre_emphasis:
            pre_emphasise(raw[:size], params.pre_emphasis, signal[:size])
        spectrum = np.fft.rfft(frame_view(signal[:size], framing), n=params.fft_length, axis=2)
        # re² and im² side by side in place, then summed: the same IEEE result as re² + im².
        parts = spectrum.view(np.float64)
        np.square(parts, out=parts)
        yield rows, np.add(parts[:, :, 0::2], parts[:, :, 1::2], out=squares[:size])


def power_frames(
    windows: np.ndarray, spec: SignalSpec, params: AudioParams, framing: Framing
) -> np.ndarray:
    """(n, frames, fft_length/2 + 1) float64: each window pre-emphasised as a whole
    (y[0] = x[0], y[t] = x[t] - a·x[t-1]), then cut into frames, each zero-padded or truncated
    to fft_length, as power |X[k]|² / fft_length."""
    x = require_windows(windows, spec)[:, :, 0]
    power = np.empty((len(x), framing.count, params.fft_length // 2 + 1))
    for rows, squares in squared_magnitudes(x, params, framing):
        np.divide(squares, params.fft_length, out=power[rows])
    return power


def pre_emphasis_residual(coefficient: float) -> float:
    """What float32 rounding takes off the coefficient: `edgeops_preemphasis` (c/mel.h) uses
    float32(a) + this, so the C filters with a to ~1e-16, like the float64 reference."""
    return float(coefficient - float(np.float32(coefficient)))


def normalise_db(db: np.ndarray, noise_floor_db: float) -> np.ndarray:
    """(dB - floor) / -floor clipped to [0, 1]: the floor maps to 0, 0 dB and above to 1."""
    clipped: np.ndarray = np.clip((db - noise_floor_db) / -noise_floor_db, 0.0, 1.0)
    return clipped


def sparse_filterbank_c(name: str, bank: np.ndarray) -> str:
    """The filterbank as C tables: `<name>_first[f]`, `<name>_count[f]`, and the nonzero-span
    weights of all filters back to back in `<name>_weights`."""
    firsts, counts, weights = [], [], []
    for row in bank:
        nonzero = np.flatnonzero(row)
        first, last = int(nonzero[0]), int(nonzero[-1])
        firsts.append(first)
        counts.append(last - first + 1)
        weights.extend(row[first : last + 1])
    ints = ", ".join(str(v) for v in firsts), ", ".join(str(v) for v in counts)
    return (
        f"static const int {name}_first[{len(firsts)}] = {{{ints[0]}}};\n"
        f"static const int {name}_count[{len(counts)}] = {{{ints[1]}}};\n"
        + float_array(f"{name}_weights", weights)
    )


def audio_c_function(
    name: str,
    spec: SignalSpec,
    params: AudioParams,
    framing: Framing,
    tables: str,
    per_frame: str,
    features_per_frame: int,
    declarations: str = "",
) -> CFunction:
    """The C shared by the audio blocks: pre-emphasis of the whole window, then per frame a
    zero-padded (or truncated) `edgeops_rfft` into `power[0..fft_length/2]`, followed by
    `per_frame`, which writes `features_per_frame` floats to `out`. Offsets stay out of the
    float32 arithmetic: the window's mean before pre-emphasis (c/mel.h) and each frame's mean
    before the FFT (c/fft.h) are taken out and put back exactly into the spectrum after it."""
    size, used = params.fft_length, framing.used
    a = params.pre_emphasis
    # signal = pre-emphasis of (input - bias): each frame is y minus (1 - a)·bias, and frame
    # 0's first sample y[0] = x[0] minus bias, i.e. an impulse a·bias more, whose DFT is a·bias
    # in every bin. Both come back exactly after the FFT.
    impulse = ""
    if a:
        impulse = (
            f"        if (frame == 0)\n"
            f"            for (k = 0; k <= {size // 2}; k++) re[k] += {c_float(a)} * bias;\n"
        )
    source = f"""#include <math.h>
{header("fft.h")}
{header("mel.h")}
{fft_tables(name, size, used)}{tables}
int {name}(const float *input, float *output)
{{
    static float signal[{spec.window_samples}], re[{size}], im[{size}], power[{size // 2 + 1}];
{declarations}    int frame, t, k;
    float offset, bias = edgeops_mean(input, {spec.window_samples});
    edgeops_preemphasis(input, signal, {spec.window_samples}, {c_float(a)},
                        {c_float(pre_emphasis_residual(a))}, bias);
    for (frame = 0; frame < {framing.count}; frame++) {{
        const float *start = signal + frame * {framing.stride};
        float *out = output + frame * {features_per_frame};
        for (t = 0; t < {used}; t++) re[t] = start[t];
        for (t = {used}; t < {size}; t++) re[t] = 0.0f;
        offset = edgeops_remove_offset(re, {used});
        edgeops_rfft(re, im, {size}, {name}_cos, {name}_sin);
        offset += {c_float(1 - a)} * bias;
        edgeops_restore_offset(re, im, {size // 2 + 1}, offset, {name}_box_re, {name}_box_im);
{impulse}        for (k = 0; k <= {size // 2}; k++)
            power[k] = (re[k] * re[k] + im[k] * im[k]) / {size}.0f;
{per_frame}    }}
    return 0;
}}
"""
    return CFunction(
        name=name,
        source=source,
        input_len=spec.window_samples,
        output_len=framing.count * features_per_frame,
    )


# Filters are applied in groups of this many, each group to only the bins its filters cover:
# a quarter of a dense product's work for 32 filters on a 256-point FFT, in products small
# enough (one-second 16 kHz clips) that OpenBLAS keeps them on one thread: on a loaded
# machine, threads that wait for each other cost more than they save.
FILTERS_PER_GROUP = 8


def filter_groups(bank: np.ndarray, fft_length: int) -> list[tuple[slice, slice, np.ndarray]]:
    """(filters, bins, weights) for consecutive groups of FILTERS_PER_GROUP rows of `bank`:
    `squares[..., bins] @ weights` are those filters' energies from |X|², where `weights` is
    the group's (bins, filters) block divided by fft_length (exact: a power of two). Only
    zero weights are left out: the energies are the dense product's sums, in another order."""
    groups = []
    for first in range(0, len(bank), FILTERS_PER_GROUP):
        rows = bank[first : first + FILTERS_PER_GROUP]
        covered = np.flatnonzero(rows.any(axis=0))
        bins = slice(int(covered[0]), int(covered[-1]) + 1)
        weights = np.ascontiguousarray(rows[:, bins].T) / fft_length
        groups.append((slice(first, first + len(rows)), bins, weights))
    return groups


class MelParams(AudioParams):
    """Framing plus a mel filterbank between `low_frequency_hz` and `high_frequency_hz`
    (0 = Nyquist)."""

    num_filters: int = Field(40, ge=2, le=128)
    low_frequency_hz: float = Field(0.0, ge=0)
    high_frequency_hz: float = Field(0.0, ge=0)


class MelFrontEnd:
    """A checked mel front end for one signal: framing, the filterbank, and log energies."""

    def __init__(self, block: str, params: MelParams, spec: SignalSpec) -> None:
        self.params, self.spec = params, spec
        self.framing = Framing(block, params, spec)
        low, high = check_band(
            block,
            spec,
            params.num_filters,
            params.fft_length,
            params.low_frequency_hz,
            params.high_frequency_hz,
        )
        self.bank = mel_filterbank(
            params.num_filters, params.fft_length, spec.frequency_hz, low, high
        )
        self.groups = filter_groups(self.bank, params.fft_length)

    def log_energies(self, windows: np.ndarray) -> np.ndarray:
        """(n, frames, num_filters) float64 ln(filterbank energy + ENERGY_FLOOR): what
        python_speech_features' `logfbank` computes with a rectangular window (the energies
        are the same sums as `power_frames(...) @ bank.T`, in another order: to ~1e-16)."""
        x = require_windows(windows, self.spec)[:, :, 0]
        filters = self.params.num_filters
        energies = np.empty((len(x), self.framing.count, filters))
        for rows, squares in squared_magnitudes(x, self.params, self.framing):
            chunk = energies[rows]  # contiguous, so the reshapes below are views
            frames, flat = squares.reshape(-1, squares.shape[-1]), chunk.reshape(-1, filters)
            for group, bins, weights in self.groups:
                np.matmul(frames[:, bins], weights, out=flat[:, group])
            chunk += ENERGY_FLOOR
            np.log(chunk, out=chunk)
        return energies

    def c_tables(self, name: str) -> str:
        return sparse_filterbank_c(name, self.bank)

    def c_energies(self, name: str, target: str, relative: bool = False) -> str:
        """C statements filling `target[f]` with ln(energy + ENERGY_FLOOR); with `relative`,
        with ln((energy + ENERGY_FLOOR) / loudest) instead and `level` = ln(loudest), where
        loudest is the largest floored energy of the frame (needs `float level, loudest`)."""
        count = self.params.num_filters
        fill = (
            f"        edgeops_mel_energies(power, {name}_first, {name}_count, {name}_weights, "
            f"{count}, {target});\n"
        )
        if not relative:
            return fill + (
                f"        for (k = 0; k < {count}; k++) "
                f"{target}[k] = logf({target}[k] + {c_float(ENERGY_FLOOR)});\n"
            )
        return fill + (
            f"        loudest = 0.0f;\n"
            f"        for (k = 0; k < {count}; k++) {{\n"
            f"            {target}[k] += {c_float(ENERGY_FLOOR)};\n"
            f"            if ({target}[k] > loudest) loudest = {target}[k];\n"
            f"        }}\n"
            f"        level = logf(loudest);\n"
            f"        for (k = 0; k < {count}; k++) {target}[k] = logf({target}[k] / loudest);\n"
        )
