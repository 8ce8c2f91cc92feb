"""How the studio shows a sample: PNG and WAV encodings that read back exactly, the plot's
axis names, the spectrogram's placement of a tone."""

import base64
import io
import wave
import xml.etree.ElementTree as ElementTree
from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image

from edgeops.server.ui import sample_media

SVG = "{http://www.w3.org/2000/svg}"


def _sample(**fields: Any) -> Any:
    base = {"filename": "x", "interval_ms": None, "sample_rate": None, "sensors": []}
    return SimpleNamespace(**{**base, **fields})


def test_png_reads_back_the_same_pixels() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    gray = rgb[:, :, :1]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(sample_media.png_bytes(rgb)))), rgb)
    back = np.asarray(Image.open(io.BytesIO(sample_media.png_bytes(gray))))
    assert np.array_equal(back, gray[:, :, 0])


def test_wav_keeps_rate_channels_and_values() -> None:
    values = np.linspace(-1, 1, 800, dtype=np.float32).reshape(400, 2)
    data = sample_media.wav_bytes(_sample(sample_rate=8000), values)
    with wave.open(io.BytesIO(data)) as read:
        assert (read.getframerate(), read.getnchannels(), read.getnframes()) == (8000, 2, 400)
        pcm = np.frombuffer(read.readframes(400), dtype="<i2").reshape(400, 2)
    assert np.abs(pcm / 32767 - values).max() < 1e-4


def test_plot_names_each_axis_with_its_unit() -> None:
    sensors = [{"name": "accX", "units": "m/s2"}, {"name": "temp", "units": ""}]
    sample = _sample(interval_ms=10, sensors=sensors)
    root = ElementTree.fromstring(str(sample_media.time_series_plot(sample, np.zeros((50, 2)))))
    text = "".join(root.itertext())
    assert "accX (m/s2)" in text and "temp" in text and "temp (" not in text
    assert len(root.findall(f"{SVG}polyline")) == 2


def test_spectrogram_puts_a_tone_at_its_frequency() -> None:
    rate = 16000
    tone = np.sin(2 * np.pi * 2000 * np.arange(rate) / rate).astype(np.float32)[:, None]
    root = ElementTree.fromstring(
        str(sample_media.spectrogram_plot(_sample(sample_rate=rate), tone))
    )
    [image] = root.findall(f"{SVG}image")
    png = base64.b64decode(image.get("href", "").split(",", 1)[1])
    darkness = 255 - np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    row = int(darkness.mean(axis=1).argmax())  # row 0 is the top: the highest frequency
    rows = darkness.shape[0]
    frequency = (rows - 0.5 - row) / rows * rate / 2
    assert abs(frequency - 2000) < rate / 2 / rows * 1.5


def test_too_short_audio_says_so() -> None:
    short = np.zeros((10, 1), dtype=np.float32)
    assert "too short" in str(sample_media.spectrogram_plot(_sample(sample_rate=16000), short))
