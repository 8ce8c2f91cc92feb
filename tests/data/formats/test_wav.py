"""WAV audio: every PCM width and float, mono and stereo, scaled to float32 in [-1, 1]."""

import io
import struct
import wave

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.io import wavfile
from tests.data.formats.checks import check_parses_or_rejects

from edgeops.data.formats import Sensor
from edgeops.data.formats.wav import parse_wav
from edgeops.errors import InvalidSample

FUZZ = settings(max_examples=200, deadline=None)


def wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    wavfile.write(buffer, rate, samples)
    return buffer.getvalue()


def rejection(data: bytes) -> str:
    with pytest.raises(InvalidSample) as caught:
        parse_wav(data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        (np.array([0, 128, 255], np.uint8), [-1.0, 0.0, 127 / 128]),
        (np.array([-32768, 0, 16384, 32767], np.int16), [-1.0, 0.0, 0.5, 32767 / 32768]),
        (np.array([-(2**31), 0, 2**30], np.int32), [-1.0, 0.0, 0.5]),
        (np.array([-1.0, 0.25, 1.0], np.float32), [-1.0, 0.25, 1.0]),
        (np.array([-0.5, 0.75], np.float64), [-0.5, 0.75]),
    ],
)
def test_mono_samples_are_scaled_to_float32(samples: np.ndarray, expected: list[float]) -> None:
    sample = parse_wav(wav_bytes(samples, rate=8000))

    assert sample.kind == "audio"
    assert sample.format == "wav"
    assert sample.sample_rate == 8000
    assert sample.sensors == [Sensor("audio", "wav")]
    assert sample.values.dtype == np.float32
    assert sample.values.shape == (len(expected), 1)
    np.testing.assert_array_equal(sample.values[:, 0], np.array(expected, np.float32))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float32])
def test_stereo_keeps_channels_apart(dtype: type) -> None:
    frames = 100
    samples = np.zeros((frames, 2), dtype)
    if np.issubdtype(dtype, np.floating):
        samples[:, 1] = 0.5
    else:
        info = np.iinfo(dtype)
        samples[:, 0] = (int(info.max) + int(info.min) + 1) // 2  # silence
        samples[:, 1] = info.max

    sample = parse_wav(wav_bytes(samples))

    assert sample.values.shape == (frames, 2)
    assert sample.sensors == [Sensor("channel0", "wav"), Sensor("channel1", "wav")]
    np.testing.assert_array_equal(sample.values[:, 0], 0.0)
    assert 0.49 < sample.values[0, 1] <= 1.0


def test_24_bit_pcm_scales_like_32_bit() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(3)
        writer.setframerate(48000)
        writer.writeframes(
            b"".join(value.to_bytes(3, "little", signed=True) for value in (-(2**23), 2**22))
        )

    sample = parse_wav(buffer.getvalue())

    assert sample.sample_rate == 48000
    np.testing.assert_array_equal(sample.values[:, 0], [-1.0, 0.5])


def test_unknown_chunks_are_ignored_quietly(recwarn: pytest.WarningsRecorder) -> None:
    data = wav_bytes(np.array([0, 1000], np.int16))
    extra_chunk = b"LIST" + struct.pack("<I", 4) + b"INFO"
    with_chunk = data[:36] + extra_chunk + data[36:]
    with_chunk = with_chunk[:4] + struct.pack("<I", len(with_chunk) - 8) + with_chunk[8:]

    sample = parse_wav(with_chunk)

    assert sample.values.shape == (2, 1)
    assert not recwarn.list


def with_zero_sample_rate(data: bytes) -> bytes:
    """Zero the fmt chunk's sample rate and byte rate (which scipy checks against each other)."""
    return data[:24] + bytes(8) + data[32:]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            wav_bytes(np.array([0.1, np.nan], np.float32)),
            "NaN or infinity (or exceed float32) at frame 1",
        ),
        (wav_bytes(np.array([0.1, -np.inf], np.float64)), "NaN or infinity"),
        (wav_bytes(np.array([0.1, 1e300], np.float64)), "exceed float32"),
        (wav_bytes(np.zeros(0, np.int16)), "holds no audio frames"),
        (with_zero_sample_rate(wav_bytes(np.zeros(4, np.int16))), "sample rate is 0 Hz"),
        (wav_bytes(np.zeros(400, np.int16))[:30], "not a readable WAV file"),
        (b"RIFF\x00\x00\x00\x00WAVE", "not a readable WAV file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(40), "not a readable WAV file"),
        (b"hello", "not a readable WAV file"),
    ],
)
def test_bad_files_are_rejected_with_a_clear_message(data: bytes, expected: str) -> None:
    assert expected in rejection(data)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_raise_only_invalid_sample(data: bytes) -> None:
    check_parses_or_rejects(parse_wav, data)


@FUZZ
@given(st.binary(min_size=1, max_size=200))
def test_random_bytes_after_a_wav_header_raise_only_invalid_sample(body: bytes) -> None:
    check_parses_or_rejects(parse_wav, b"RIFF" + struct.pack("<I", len(body) + 4) + b"WAVE" + body)


VALID_FILES = [
    wav_bytes(np.arange(-50, 50, dtype=np.int16).reshape(50, 2)),
    wav_bytes(np.linspace(-1, 1, 64, dtype=np.float32)),
    wav_bytes(np.arange(64, dtype=np.uint8)),
]


@FUZZ
@given(st.sampled_from(VALID_FILES), st.data())
def test_mutated_files_raise_only_invalid_sample(original: bytes, data: st.DataObject) -> None:
    mutated = bytearray(original[: data.draw(st.integers(1, len(original)))])
    positions = st.integers(0, len(mutated) - 1)
    for position, value in data.draw(st.lists(st.tuples(positions, st.integers(0, 255)))):
        mutated[position] = value
    check_parses_or_rejects(parse_wav, bytes(mutated))
