"""Delta payloads: bsdiff4 (the classic BSDIFF40 format) from the image a device runs to the
new one; applying one is only trusted once the result hashes to the release's image."""

import hashlib

import bsdiff4

from edgeops.errors import InvalidInput

FORMAT = "bsdiff4"


def make(old: bytes, new: bytes) -> bytes:
    return bytes(bsdiff4.diff(old, new))


def apply(old: bytes, delta: bytes, image_sha256: str, image_length: int) -> bytes:
    """The new image rebuilt from `old` and `delta`, refused unless it is exactly the image
    the release published (length and SHA-256)."""
    try:
        image = bytes(bsdiff4.patch(old, delta))
    except Exception as exc:  # bsdiff4 raises ValueError or bz2 errors on garbage
        raise InvalidInput(f"delta does not apply to the installed image: {exc}") from exc
    if len(image) != image_length or hashlib.sha256(image).hexdigest() != image_sha256:
        raise InvalidInput("the image rebuilt from the delta does not match the release's hash")
    return image
