"""parse_file: dispatch by extension, the size limits, and that only InvalidSample escapes."""

import io
import json
from functools import partial
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy.io import wavfile
from tests.data.formats.checks import check_parses_or_rejects

from edgeops.data.formats.ei import sign_ei
from edgeops.data.formats.parse import SUPPORTED_EXTENSIONS, parse_file
from edgeops.errors import InvalidSample

FUZZ = settings(max_examples=200, deadline=None)
KEY = "project-hmac-key"
PAYLOAD = {
    "interval_ms": 20,
    "sensors": [{"name": "x", "units": "g"}, {"name": "y", "units": "g"}],
    "values": [[1, 2], [3, 4]],
}


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (4, 3), 128).save(buffer, "JPEG")
    return buffer.getvalue()


def wav_bytes() -> bytes:
    buffer = io.BytesIO()
    wavfile.write(buffer, 8000, np.array([0, 100, -100], np.int16))
    return buffer.getvalue()


def rejection(name: str, data: bytes, **options: Any) -> str:
    with pytest.raises(InvalidSample) as caught:
        parse_file(name, data, **options)
    return str(caught.value)


@pytest.mark.parametrize(
    ("name", "data", "kind", "fmt"),
    [
        ("walk.json", sign_ei(PAYLOAD, KEY), "timeseries", "ei-json"),
        ("walk.cbor", sign_ei(PAYLOAD, KEY, cbor=True), "timeseries", "ei-cbor"),
        ("walk.csv", b"timestamp,x\n0,1\n20,2\n", "timeseries", "csv"),
        ("yes.wav", wav_bytes(), "audio", "wav"),
        ("cat.png", png_bytes(), "image", "png"),
        ("cat.jpg", jpeg_bytes(), "image", "jpeg"),
        ("cat.jpeg", jpeg_bytes(), "image", "jpeg"),
        ("dir/CAT.PNG", png_bytes(), "image", "png"),
    ],
)
def test_extension_picks_the_format(name: str, data: bytes, kind: str, fmt: str) -> None:
    sample = parse_file(name, data)

    assert sample.kind == kind
    assert sample.format == fmt


def test_image_format_comes_from_the_content_not_the_name() -> None:
    assert parse_file("photo.jpg", png_bytes()).format == "png"


def test_hmac_key_reaches_edge_impulse_files() -> None:
    data = sign_ei(PAYLOAD, KEY)

    assert parse_file("a.json", data, hmac_key=KEY).values.shape == (2, 2)
    assert "signature does not match" in rejection("a.json", data, hmac_key="wrong")


def test_interval_reaches_csv_files() -> None:
    assert parse_file("a.csv", b"x\n1\n2\n", interval_ms=4).interval_ms == 4.0


def test_unsupported_extension_names_the_supported_ones() -> None:
    message = rejection("notes.txt", b"hello")

    assert message.startswith("unsupported file type '.txt'")
    for extension in SUPPORTED_EXTENSIONS:
        assert extension in message
    assert "(no extension)" in rejection("README", b"hello")


def test_empty_file_is_rejected() -> None:
    assert "file is empty" in rejection("a.csv", b"")


def test_oversized_file_names_the_size_the_limit_and_the_setting() -> None:
    message = rejection("a.json", json.dumps({"payload": PAYLOAD}).encode(), max_bytes=100)

    assert "over the 100-byte limit" in message
    assert "EDGEOPS_MAX_FILE_BYTES" in message
    assert f"file is {len(json.dumps({'payload': PAYLOAD})):,} bytes" in message


def test_file_at_the_limit_is_accepted() -> None:
    data = b"x\n1\n"

    assert parse_file("a.csv", data, interval_ms=1, max_bytes=len(data)).values.shape == (1, 1)


@FUZZ
@given(
    st.sampled_from([f"f{extension}" for extension in SUPPORTED_EXTENSIONS] + ["f.txt", "f"]),
    st.binary(max_size=1000),
    st.sampled_from([None, KEY]),
    st.sampled_from([None, 5.0]),
)
def test_random_bytes_under_any_name_raise_only_invalid_sample(
    name: str, data: bytes, hmac_key: str | None, interval_ms: float | None
) -> None:
    check_parses_or_rejects(
        partial(parse_file, name), data, hmac_key=hmac_key, interval_ms=interval_ms
    )
