"""The image block: bilinear resizing (fit/crop/squash), colour, scaling, and its C twin."""

import numpy as np
import pytest
from PIL import Image as PILImage
from pydantic import ValidationError

from edgeops.blocks.base import SignalSpec
from edgeops.blocks.dsp.cbuild import compile_and_run
from edgeops.blocks.dsp.image import Image, image_windows
from edgeops.errors import InvalidInput
from edgeops.testing import C_TOLERANCE, relative_error


def spec_for(height: int, width: int, channels: int) -> SignalSpec:
    return SignalSpec(1.0, channels, height * width, (height, width, channels))


def run(params: dict[str, object], image: np.ndarray) -> np.ndarray:
    """The block on one uint8 (h, w, c) image, as (height, width, channels)."""
    block = Image(params)
    out = block.transform(image_windows(image), spec_for(*image.shape))
    p = block.params
    return out.reshape(p.height, p.width, block.out_channels)


def test_image_windows_layout() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    windows = image_windows(image)
    assert windows.dtype == np.float32 and windows.shape == (1, 6, 3)
    np.testing.assert_array_equal(windows[0, 4], image[1, 1])
    with pytest.raises(InvalidInput, match="expected"):
        image_windows(np.zeros((2, 2, 2), dtype=np.uint8))


def test_same_size_squash_is_the_pixels_scaled() -> None:
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    params = {"width": 7, "height": 5, "resize": "squash"}
    np.testing.assert_allclose(run(params, image), image / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(run({**params, "scale": "int8"}, image), image - 128.0)


def test_bilinear_upscale_uses_pixel_centres() -> None:
    # 1x2 → 1x4: x = (k + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 → clamp 0, 0.25, 0.75, 1.
    image = np.array([[[0], [100]]], dtype=np.uint8)
    out = run(
        {"width": 4, "height": 2, "resize": "squash", "color": "grayscale", "scale": "int8"},
        image,
    )
    np.testing.assert_allclose(out[:, :, 0] + 128, [[0, 25, 75, 100]] * 2, atol=1e-5)


def test_fit_letterboxes_with_black() -> None:
    image = np.full((2, 4, 1), 200, dtype=np.uint8)  # wide: 4x4 target gets a 4x2 box
    out = run({"width": 4, "height": 4, "resize": "fit", "color": "grayscale"}, image)[..., 0]
    np.testing.assert_allclose(out[1:3], 200 / 255, rtol=1e-6)
    np.testing.assert_array_equal(out[[0, 3]], 0.0)
    int8 = run(
        {"width": 4, "height": 4, "resize": "fit", "color": "grayscale", "scale": "int8"}, image
    )
    np.testing.assert_array_equal(int8[[0, 3], :, 0], -128.0)


def test_crop_takes_the_centre() -> None:
    image = np.array([[[10], [20], [30], [40]]] * 2, dtype=np.uint8)  # 2x4
    out = run(
        {"width": 2, "height": 2, "resize": "crop", "color": "grayscale", "scale": "int8"},
        image,
    )
    np.testing.assert_array_equal(out[..., 0] + 128, [[20, 30], [20, 30]])
    squash = run(
        {"width": 2, "height": 2, "resize": "squash", "color": "grayscale", "scale": "int8"},
        image,
    )
    np.testing.assert_array_equal(squash[..., 0] + 128, [[15, 35], [15, 35]])


def test_colour_conversion() -> None:
    image = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], dtype=np.uint8)
    params = {"width": 3, "height": 2, "resize": "squash", "color": "grayscale"}
    np.testing.assert_allclose(run(params, image)[0, :, 0], [0.299, 0.587, 0.114], rtol=1e-6)
    gray = np.array([[[7], [9]]], dtype=np.uint8)
    rgb = run({"width": 2, "height": 2, "resize": "squash", "scale": "int8"}, gray)
    np.testing.assert_array_equal(rgb[0], [[7 - 128] * 3, [9 - 128] * 3])


def test_close_to_pillow_bilinear() -> None:
    rng = np.random.default_rng(1)
    coarse = rng.integers(0, 256, (6, 8, 3)).astype(np.float64)
    smooth = np.kron(coarse, np.ones((4, 4, 1)))  # 24x32, blocky but with smooth-ish content
    image = smooth.astype(np.uint8)
    ours = run({"width": 64, "height": 48, "resize": "squash"}, image) * 255
    pillow = np.asarray(PILImage.fromarray(image).resize((64, 48), PILImage.Resampling.BILINEAR))
    assert np.mean(np.abs(ours - pillow)) < 1.0


def test_check_refuses_non_images() -> None:
    block = Image()
    with pytest.raises(InvalidInput, match="image_shape"):
        block.check(SignalSpec(100.0, 3, 200))
    with pytest.raises(InvalidInput, match="axes"):
        block.check(SignalSpec(1.0, 1, 12, (3, 4, 3)))
    with pytest.raises(InvalidInput, match="window_samples"):
        block.check(SignalSpec(1.0, 3, 13, (3, 4, 3)))
    with pytest.raises(InvalidInput, match="channels"):
        block.check(SignalSpec(1.0, 2, 12, (3, 4, 2)))


@pytest.mark.parametrize(
    "params",
    [{"width": 1}, {"height": 1025}, {"resize": "stretch"}, {"color": "bgr"}, {"scale": "x"}],
)
def test_params_bounds(params: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Image(params)


@pytest.mark.parametrize("resize", ["fit", "crop", "squash"])
@pytest.mark.parametrize("color", ["grayscale", "rgb"])
@pytest.mark.parametrize("scale", ["unit", "int8"])
@pytest.mark.parametrize("shape", [(13, 29, 3), (31, 7, 1)])
def test_c_matches_numpy(resize: str, color: str, scale: str, shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    windows = image_windows(rng.integers(0, 256, (3, *shape), dtype=np.uint8))
    spec = spec_for(*shape)
    block = Image({"width": 17, "height": 11, "resize": resize, "color": color, "scale": scale})
    reference = block.transform(windows, spec)
    function = block.emit_c(spec)
    assert function.output_len == 17 * 11 * block.out_channels
    assert relative_error(compile_and_run(function, windows), reference) <= C_TOLERANCE
