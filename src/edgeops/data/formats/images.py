"""PNG and JPEG images, decoded with Pillow to uint8 grayscale or RGB."""

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from edgeops.data.formats import ParsedSample, Sensor
from edgeops.errors import InvalidSample

MAX_PIXELS = 40_000_000
# Pillow's JPEG opener names a camera JPEG that carries extra pictures (MPF) "MPO"; its first
# frame is the photo.
_FORMAT_NAMES = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg"}
_GRAY_MODES = ("1", "L", "LA", "La")


def parse_image(data: bytes) -> ParsedSample:
    """Read a PNG or JPEG; the size is checked from the header before any pixel is decoded."""
    try:
        with warnings.catch_warnings():
            # We apply our own, lower, pixel limit just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Only the PNG and JPEG openers: what the content is decides, not the file name.
            image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])
    except Image.DecompressionBombError as exc:
        raise InvalidSample(
            f"image is larger than {MAX_PIXELS:,} pixels; downscale it before importing"
        ) from exc
    except UnidentifiedImageError as exc:
        raise InvalidSample("not a PNG or JPEG image; convert it to PNG or JPEG") from exc
    except Exception as exc:
        raise InvalidSample(f"image is damaged ({exc}); export it again") from exc
    format_name = _FORMAT_NAMES[image.format or ""]
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise InvalidSample(
            f"image is {width}x{height}, more than {MAX_PIXELS:,} pixels; downscale it"
        )

    try:
        image.load()
        # Phones store portrait photos sideways plus an orientation tag; applying it gives the
        # pixels of the picture the user saw.
        values = _canonical_pixels(ImageOps.exif_transpose(image))
    except Exception as exc:
        raise InvalidSample(f"image is damaged ({exc}); export it again") from exc

    return ParsedSample(
        kind="image",
        values=values,
        format=format_name,
        sensors=[Sensor("image", "gray" if values.shape[2] == 1 else "rgb")],
    )


def _canonical_pixels(image: Image.Image) -> np.ndarray:
    """Any PNG/JPEG mode → uint8 (h, w, 1) grayscale or (h, w, 3) RGB; alpha is dropped."""
    if image.mode.startswith("I"):
        # 16-bit grayscale: keep the high byte (Pillow's convert("L") would clip at 255 instead).
        high_bytes = np.asarray(image).astype(np.int64).clip(0, 65535) >> 8
        return high_bytes.astype(np.uint8)[:, :, np.newaxis]
    if image.mode in _GRAY_MODES:
        return np.array(image.convert("L"))[:, :, np.newaxis]
    return np.array(image.convert("RGB"))
