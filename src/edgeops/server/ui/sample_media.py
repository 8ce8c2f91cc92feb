"""How the studio shows one sample: a multi-axis plot for a time series, a playable WAV and a
spectrogram for audio, a PNG for an image."""

import io
import wave

import numpy as np
from markupsafe import Markup
from PIL import Image

from edgeops.blocks.base import SignalSpec
from edgeops.blocks.dsp.spectrogram import Spectrogram
from edgeops.server.ui import charts
from edgeops.store.tables import Sample

MAX_SPECTROGRAM_SECONDS = 30.0  # longer audio: the spectrogram shows its start


def time_series_plot(sample: Sample, values: np.ndarray) -> Markup:
    """Every axis over time in seconds, one line each (labelled with sensor and unit)."""
    columns = values.reshape(len(values), -1)
    step_s = (sample.interval_ms or 1000.0) / 1000.0
    names = [
        f"{sensor.get('name', f'axis {i}')} ({sensor.get('units', '')})".replace(" ()", "")
        for i, sensor in enumerate(sample.sensors or [{}] * columns.shape[1])
    ]
    series = [
        (names[i] if i < len(names) else f"axis {i}", columns[:, i])
        for i in range(columns.shape[1])
    ]
    return charts.line_chart(
        np.arange(len(columns)) * step_s, series, title=f"{sample.filename}",
        x_label="time (s)", y_label="value",
    )  # fmt: skip


def spectrogram_plot(sample: Sample, values: np.ndarray) -> Markup:
    """The `spectrogram` block's output (what a model would see), frequency up, time across."""
    rate = float(sample.sample_rate or 16000)
    mono = values.reshape(len(values), -1)[:, 0][: int(MAX_SPECTROGRAM_SECONDS * rate)]
    block = Spectrogram({"frame_length_s": 0.032, "frame_stride_s": 0.016,
                                      "fft_length": 512})  # fmt: skip
    spec = SignalSpec(frequency_hz=rate, axes=1, window_samples=len(mono))
    bins = 512 // 2 + 1
    if len(mono) < int(0.032 * rate):
        return Markup("<p>The recording is too short for a spectrogram.</p>")
    features = block.transform(mono.reshape(1, -1, 1).astype(np.float32), spec)
    frames = features.reshape(-1, bins)  # (frames, frequency bins)
    return charts.heatmap(
        frames.T[::-1], title="Spectrogram (dB above the noise floor)", annotate=False,
        x_label=f"time → ({len(mono) / rate:.2f} s)", y_label=f"frequency ↑ (0-{rate / 2:.0f} Hz)",
        width=720, height=300,
    )  # fmt: skip


def wav_bytes(sample: Sample, values: np.ndarray) -> bytes:
    """16-bit PCM WAV of the canonical audio (float in [-1, 1])."""
    channels = values.reshape(len(values), -1)
    pcm = (np.clip(channels, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(pcm.shape[1])
        out.setsampwidth(2)
        out.setframerate(int(sample.sample_rate or 16000))
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def png_bytes(values: np.ndarray) -> bytes:
    """The canonical image (uint8, h x w x 1 or 3) as PNG."""
    pixels = np.asarray(values, dtype=np.uint8)
    image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
