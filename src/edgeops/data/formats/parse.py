"""One entry point for importing a file: pick the format from the extension, enforce the size."""

import os

from edgeops.data.formats import ParsedSample
from edgeops.data.formats.csv import parse_csv
from edgeops.data.formats.ei import parse_ei_cbor, parse_ei_json
from edgeops.data.formats.images import parse_image
from edgeops.data.formats.wav import parse_wav
from edgeops.errors import InvalidSample

SUPPORTED_EXTENSIONS = (".json", ".cbor", ".csv", ".wav", ".png", ".jpg", ".jpeg")


def detect_extension(name: str, data: bytes) -> str:
    """The extension that fits the bytes. Uploaders mislabel acquisition files (the EI Python
    SDK names JSON `.cbor`-typed, devices send CBOR as `.json`), so JSON versus CBOR, and any
    file without a known extension, is decided by the content."""
    extension = os.path.splitext(name)[1].lower()
    if extension in (".json", ".cbor") or extension not in SUPPORTED_EXTENSIONS:
        head = data.lstrip()[:1]
        if head == b"{":
            return ".json"
        if 0xA0 <= data[0] <= 0xBF:  # a CBOR map, definite or indefinite length
            return ".cbor"
        for magic, sniffed in _MAGIC:
            if data.startswith(magic):
                return sniffed
    return extension


_MAGIC = ((b"RIFF", ".wav"), (b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"))


def check_size(size: int, max_bytes: int) -> None:
    """Refuse a file over the limit (callers check before reading it, too)."""
    if size > max_bytes:
        raise InvalidSample(
            f"file is {size:,} bytes, over the {max_bytes:,}-byte limit; "
            "set EDGEOPS_MAX_FILE_BYTES to raise it"
        )


def parse_file(
    name: str,
    data: bytes,
    *,
    hmac_key: str | None = None,
    allow_unsigned: bool = False,
    interval_ms: float | None = None,
    max_bytes: int = 50 * 1024 * 1024,
) -> ParsedSample:
    """Parse `data`, read from the file `name`, or raise `InvalidSample` saying what to fix.

    `hmac_key` only concerns Edge Impulse files (the other formats cannot carry a signature) and
    `interval_ms` only CSV files (the others state their own timing).
    """
    if not data:
        raise InvalidSample("file is empty (0 bytes); export it again")
    check_size(len(data), max_bytes)
    extension = detect_extension(name, data)
    if extension == ".json":
        return parse_ei_json(data, hmac_key=hmac_key, allow_unsigned=allow_unsigned)
    if extension == ".cbor":
        return parse_ei_cbor(data, hmac_key=hmac_key, allow_unsigned=allow_unsigned)
    if extension == ".csv":
        return parse_csv(data, interval_ms=interval_ms)
    if extension == ".wav":
        return parse_wav(data)
    if extension in (".png", ".jpg", ".jpeg"):
        return parse_image(data)
    raise InvalidSample(
        f"unsupported file type {extension or '(no extension)'!r}; "
        f"use one of {', '.join(SUPPORTED_EXTENSIONS)}"
    )
