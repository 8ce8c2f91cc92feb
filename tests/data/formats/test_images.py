"""PNG and JPEG images: every common mode to uint8 gray or RGB, and the size limit before decode."""

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from tests.data.formats.checks import check_parses_or_rejects

from edgeops.data.formats import Sensor
from edgeops.data.formats.images import parse_image
from edgeops.errors import InvalidSample

FUZZ = settings(max_examples=200, deadline=None)
RGB_PIXELS = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]] * 2, np.uint8)  # 2 x 3


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def rejection(data: bytes) -> str:
    with pytest.raises(InvalidSample) as caught:
        parse_image(data)
    return str(caught.value)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_without_pixels(width: int, height: int) -> bytes:
    """A grayscale PNG that declares a size but whose pixel data is empty."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def test_rgb_png_is_read_exactly() -> None:
    sample = parse_image(encode(Image.fromarray(RGB_PIXELS), "PNG"))

    assert sample.kind == "image"
    assert sample.format == "png"
    assert sample.sensors == [Sensor("image", "rgb")]
    assert sample.values.dtype == np.uint8
    np.testing.assert_array_equal(sample.values, RGB_PIXELS)


def test_grayscale_png_has_one_channel() -> None:
    gray = np.array([[0, 100, 255]], np.uint8)

    sample = parse_image(encode(Image.fromarray(gray), "PNG"))

    assert sample.sensors == [Sensor("image", "gray")]
    np.testing.assert_array_equal(sample.values, gray[:, :, np.newaxis])


def test_rgba_png_drops_alpha() -> None:
    rgba = np.dstack([RGB_PIXELS, np.full((2, 3), 7, np.uint8)])

    sample = parse_image(encode(Image.fromarray(rgba), "PNG"))

    np.testing.assert_array_equal(sample.values, RGB_PIXELS)


def test_palette_png_becomes_rgb() -> None:
    palette_image = Image.fromarray(RGB_PIXELS).quantize(colors=3)
    assert palette_image.mode == "P"

    sample = parse_image(encode(palette_image, "PNG"))

    assert sample.values.shape == (2, 3, 3)
    np.testing.assert_array_equal(sample.values, RGB_PIXELS)


@pytest.mark.parametrize("mode", ["1", "LA"])
def test_grayscale_like_modes_become_one_channel(mode: str) -> None:
    image = Image.fromarray(np.array([[0, 255]], np.uint8)).convert(mode)

    sample = parse_image(encode(image, "PNG"))

    assert sample.sensors == [Sensor("image", "gray")]
    np.testing.assert_array_equal(sample.values[:, :, 0], [[0, 255]])


def test_16_bit_grayscale_keeps_the_high_byte() -> None:
    image = Image.fromarray(np.array([[0, 255, 256, 65535]], np.uint16))
    assert image.mode == "I;16"

    sample = parse_image(encode(image, "PNG"))

    np.testing.assert_array_equal(sample.values[:, :, 0], [[0, 0, 1, 255]])


@pytest.mark.parametrize(("mode", "channels"), [("RGB", 3), ("L", 1), ("CMYK", 3)])
def test_jpeg_modes(mode: str, channels: int) -> None:
    image = Image.new("RGB", (16, 8), (200, 100, 50)).convert(mode)

    sample = parse_image(encode(image, "JPEG", quality=95))

    assert sample.format == "jpeg"
    assert sample.values.shape == (8, 16, channels)
    assert sample.values.dtype == np.uint8


def test_exif_orientation_is_applied() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90° clockwise to view

    sample = parse_image(encode(Image.fromarray(RGB_PIXELS), "PNG", exif=exif))

    assert sample.values.shape == (3, 2, 3)


def test_size_is_checked_before_decoding() -> None:
    assert "7000x6000, more than 40,000,000 pixels" in rejection(png_without_pixels(7000, 6000))
    assert "larger than 40,000,000 pixels" in rejection(png_without_pixels(20000, 20000))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encode(Image.fromarray(RGB_PIXELS), "GIF"), "not a PNG or JPEG image"),
        (encode(Image.fromarray(RGB_PIXELS), "BMP"), "not a PNG or JPEG image"),
        (b"plain text", "not a PNG or JPEG image"),
        (encode(Image.new("RGB", (64, 64)), "PNG")[:-40], "image is damaged"),
        (encode(Image.new("RGB", (64, 64)), "JPEG")[:300], "image is damaged"),
        (png_without_pixels(4, 4), "image is damaged"),
    ],
)
def test_bad_files_are_rejected_with_a_clear_message(data: bytes, expected: str) -> None:
    assert expected in rejection(data)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_raise_only_invalid_sample(data: bytes) -> None:
    check_parses_or_rejects(parse_image, data)


noise = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
VALID_FILES = [
    encode(Image.fromarray(noise), "PNG"),
    encode(Image.fromarray(noise).convert("P"), "PNG"),
    encode(Image.fromarray(noise), "JPEG"),
    encode(Image.fromarray(noise).convert("L"), "JPEG"),
]


@FUZZ
@given(st.sampled_from(VALID_FILES), st.data())
def test_mutated_files_raise_only_invalid_sample(original: bytes, data: st.DataObject) -> None:
    mutated = bytearray(original[: data.draw(st.integers(1, len(original)))])
    positions = st.integers(0, len(mutated) - 1)
    for position, value in data.draw(st.lists(st.tuples(positions, st.integers(0, 255)))):
        mutated[position] = value
    check_parses_or_rejects(parse_image, bytes(mutated))
