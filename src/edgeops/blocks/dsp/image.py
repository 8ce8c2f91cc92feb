"""The `image` block: resize, colour-convert and scale an image's pixels, in numpy and C."""

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import Field

from edgeops.blocks.base import BlockParams, CFunction, FeatureBlock, SignalSpec, require_windows
from edgeops.blocks.dsp.cbuild import c_float, float_array, function_name
from edgeops.blocks.registry import register
from edgeops.errors import InvalidInput

# ITU-R BT.601 luma weights (R, G, B).
LUMA = (0.299, 0.587, 0.114)


def image_windows(images: np.ndarray) -> np.ndarray:
    """Canonical images, uint8 (h, w, c) or a batch (n, h, w, c), as block windows: float32
    (n, h*w, c), pixels row-major (row 0 left to right, then row 1, ...)."""
    array = np.asarray(images)
    if array.ndim == 3:
        array = array[np.newaxis]
    if array.ndim != 4 or array.shape[3] not in (1, 3):
        raise InvalidInput(
            f"images have shape {array.shape}; expected (h, w, c) or (n, h, w, c) with c 1 or 3"
        )
    n, height, width, channels = array.shape
    return array.astype(np.float32).reshape(n, height * width, channels)


@dataclass(frozen=True)
class _Axis:
    """Bilinear sampling along one axis: output positions [offset, offset + length) read
    source indices lo/hi with float32 weights w_lo/w_hi; the rest of the axis is padding."""

    offset: int
    lo: np.ndarray
    hi: np.ndarray
    w_lo: np.ndarray
    w_hi: np.ndarray


def _axis(source: int, target: int, start: float, extent: float, offset: int) -> _Axis:
    """Output pixel k (0 <= k < target) samples source coordinate
    x = start + (k + 0.5) * extent / target - 0.5, clamped to [0, source - 1]."""
    k = np.arange(target, dtype=np.float64)
    x = start + (k + 0.5) * (extent / target) - 0.5
    x = np.clip(x, 0.0, source - 1)
    lo = np.floor(x).astype(np.int64)
    lo = np.minimum(lo, source - 1)
    hi = np.minimum(lo + 1, source - 1)
    frac = x - lo
    return _Axis(
        offset=offset,
        lo=lo,
        hi=hi,
        w_lo=(1.0 - frac).astype(np.float32),
        w_hi=frac.astype(np.float32),
    )


@register
class Image(FeatureBlock):
    """Image pixels resized to `height` x `width`, colour-converted and scaled.

    Input convention: a canonical image is uint8 (h, w, c), c in {1, 3}. For the block protocol
    one image is one window of float32 (h*w, c) (see `image_windows`): `spec.window_samples`
    = h*w, `spec.axes` = c and `spec.image_shape` = (h, w, c); pixel (y, x) is step y*w + x.

    Resizing (bilinear, pixel centres, align_corners=False, edge-clamped): along each axis a
    source region [start, start + extent) (in source pixels) maps onto `n` output pixels; output
    pixel k samples x = start + (k + 0.5) * extent / n - 0.5, clamped to [0, size - 1];
    lo = floor(x), hi = min(lo + 1, size - 1), f = x - lo, weights (1 - f, f) rounded to
    float32. Each channel is then top = p[y_lo][x_lo]*wx_lo + p[y_lo][x_hi]*wx_hi,
    bottom = p[y_hi][x_lo]*wx_lo + p[y_hi][x_hi]*wx_hi, value = top*wy_lo + bottom*wy_hi, all
    in float32 in that order (identical in numpy and C).

    - `squash`: the whole source onto the whole target (aspect ignored).
    - `crop`: the centred source region of the target's aspect (fractional; full height or
      full width) onto the whole target.
    - `fit`: the whole source onto a centred content box of round(size * s) pixels per axis
      (s = min(width / w, height / h), at least 1, at most the target), offset
      (target - box) // 2; the rest is padding with pixel value 0 (black).

    Colour: `grayscale` from RGB is 0.299 R + 0.587 G + 0.114 B (float32, in that order); from
    one channel it is the channel. `rgb` from one channel repeats it three times.
    Scale: `unit` = value / 255, `int8` = value - 128 (as float).

    Output: float32 (height, width, channels) flattened row-major, channels 1 (grayscale) or 3.
    """

    name = "image"
    version = 1

    class Params(BlockParams):
        width: int = Field(96, ge=2, le=1024)
        height: int = Field(96, ge=2, le=1024)
        resize: Literal["fit", "crop", "squash"] = "fit"
        color: Literal["grayscale", "rgb"] = "rgb"
        scale: Literal["unit", "int8"] = "unit"

    params: Params

    def check(self, spec: SignalSpec) -> None:
        if spec.image_shape is None:
            raise InvalidInput(
                "image: the signal has no image_shape; the image block takes images only "
                "(input.kind: image)"
            )
        height, width, channels = spec.image_shape
        if channels not in (1, 3):
            raise InvalidInput(f"image: image_shape channels is {channels}; expected 1 or 3")
        if height < 1 or width < 1:
            raise InvalidInput(f"image: image_shape {spec.image_shape} has an empty side")
        if spec.axes != channels:
            raise InvalidInput(
                f"image: axes is {spec.axes} but image_shape {spec.image_shape} has "
                f"{channels} channels; they must match"
            )
        if spec.window_samples != height * width:
            raise InvalidInput(
                f"image: window_samples is {spec.window_samples} but image_shape "
                f"{spec.image_shape} holds {height * width} pixels (height * width)"
            )

    @property
    def out_channels(self) -> int:
        return 1 if self.params.color == "grayscale" else 3

    def _plan(self, spec: SignalSpec) -> tuple[_Axis, _Axis]:
        """Sampling along rows (y) and columns (x) for `spec`."""
        self.check(spec)
        assert spec.image_shape is not None
        src_h, src_w, _ = spec.image_shape
        out_h, out_w = self.params.height, self.params.width
        mode = self.params.resize
        if mode == "squash":
            return _axis(src_h, out_h, 0.0, src_h, 0), _axis(src_w, out_w, 0.0, src_w, 0)
        if mode == "crop":
            if src_w * out_h > src_h * out_w:  # source wider than target: crop the width
                extent = src_h * out_w / out_h
                return (
                    _axis(src_h, out_h, 0.0, src_h, 0),
                    _axis(src_w, out_w, (src_w - extent) / 2, extent, 0),
                )
            extent = src_w * out_h / out_w
            return (
                _axis(src_h, out_h, (src_h - extent) / 2, extent, 0),
                _axis(src_w, out_w, 0.0, src_w, 0),
            )
        factor = min(out_w / src_w, out_h / src_h)
        box_h = min(max(round(src_h * factor), 1), out_h)
        box_w = min(max(round(src_w * factor), 1), out_w)
        return (
            _axis(src_h, box_h, 0.0, src_h, (out_h - box_h) // 2),
            _axis(src_w, box_w, 0.0, src_w, (out_w - box_w) // 2),
        )

    def transform(
        self, windows: np.ndarray, spec: SignalSpec, state: dict[str, Any] | None = None
    ) -> np.ndarray:
        """windows: (n, h*w, c) → (n, height * width * channels) float32."""
        array = require_windows(windows, spec)
        ys, xs = self._plan(spec)
        assert spec.image_shape is not None
        src_h, src_w, channels = spec.image_shape
        images = array.reshape(len(array), src_h, src_w, channels)
        wx_lo = xs.w_lo[None, None, :, None]
        wx_hi = xs.w_hi[None, None, :, None]
        wy_lo = ys.w_lo[None, :, None, None]
        wy_hi = ys.w_hi[None, :, None, None]
        rows_lo = images[:, ys.lo]
        rows_hi = images[:, ys.hi]
        top = rows_lo[:, :, xs.lo] * wx_lo + rows_lo[:, :, xs.hi] * wx_hi
        bottom = rows_hi[:, :, xs.lo] * wx_lo + rows_hi[:, :, xs.hi] * wx_hi
        content = (top * wy_lo + bottom * wy_hi).astype(np.float32)
        out_h, out_w = self.params.height, self.params.width
        pixels = np.zeros((len(array), out_h, out_w, channels), dtype=np.float32)
        pixels[:, ys.offset : ys.offset + len(ys.lo), xs.offset : xs.offset + len(xs.lo)] = content
        if self.params.color == "grayscale" and channels == 3:
            luma = [np.float32(w) for w in LUMA]
            pixels = (
                luma[0] * pixels[..., 0:1] + luma[1] * pixels[..., 1:2] + luma[2] * pixels[..., 2:3]
            )
        elif self.params.color == "rgb" and channels == 1:
            pixels = np.repeat(pixels, 3, axis=3)
        if self.params.scale == "unit":
            pixels = pixels / np.float32(255.0)
        else:
            pixels = pixels - np.float32(128.0)
        return pixels.reshape(len(array), -1).astype(np.float32)

    def emit_c(self, spec: SignalSpec, state: dict[str, Any] | None = None) -> CFunction:
        ys, xs = self._plan(spec)
        assert spec.image_shape is not None
        src_h, src_w, channels = spec.image_shape
        name = function_name(self.name, self.version, self.params.model_dump(), spec, state)
        out_h, out_w, out_c = self.params.height, self.params.width, self.out_channels
        if self.params.color == "grayscale" and channels == 3:
            convert = (
                f"output[o] = {c_float(LUMA[0])} * v[0] + {c_float(LUMA[1])} * v[1]"
                f" + {c_float(LUMA[2])} * v[2];"
            )
            convert = f"{{ {convert} SCALE(o); }}"
        elif out_c == 3 and channels == 1:
            convert = "for (k = 0; k < 3; k++) { output[o + k] = v[0]; SCALE(o + k); }"
        else:
            convert = f"for (k = 0; k < {channels}; k++) {{ output[o + k] = v[k]; SCALE(o + k); }}"
        scale = "/ 255.0f" if self.params.scale == "unit" else "- 128.0f"
        source = (
            _int_array(f"{name}_y_lo", ys.lo)
            + _int_array(f"{name}_y_hi", ys.hi)
            + float_array(f"{name}_wy_lo", ys.w_lo)
            + float_array(f"{name}_wy_hi", ys.w_hi)
            + _int_array(f"{name}_x_lo", xs.lo)
            + _int_array(f"{name}_x_hi", xs.hi)
            + float_array(f"{name}_wx_lo", xs.w_lo)
            + float_array(f"{name}_wx_hi", xs.w_hi)
            + f"""
int {name}(const float *input, float *output)
{{
#define SCALE(i) (output[i] = output[i] {scale})
    int i, j, k;
    for (i = 0; i < {out_h}; i++) {{
        for (j = 0; j < {out_w}; j++) {{
            float v[{channels}];
            int o = (i * {out_w} + j) * {out_c};
            int yi = i - {ys.offset}, xj = j - {xs.offset};
            if (yi < 0 || yi >= {len(ys.lo)} || xj < 0 || xj >= {len(xs.lo)}) {{
                for (k = 0; k < {channels}; k++) {{
                    v[k] = 0.0f;
                }}
            }} else {{
                const float *row_lo = input + {name}_y_lo[yi] * {src_w * channels};
                const float *row_hi = input + {name}_y_hi[yi] * {src_w * channels};
                int a = {name}_x_lo[xj] * {channels}, b = {name}_x_hi[xj] * {channels};
                float wx_lo = {name}_wx_lo[xj], wx_hi = {name}_wx_hi[xj];
                for (k = 0; k < {channels}; k++) {{
                    float top = row_lo[a + k] * wx_lo + row_lo[b + k] * wx_hi;
                    float bottom = row_hi[a + k] * wx_lo + row_hi[b + k] * wx_hi;
                    v[k] = top * {name}_wy_lo[yi] + bottom * {name}_wy_hi[yi];
                }}
            }}
            {convert}
        }}
    }}
#undef SCALE
    return 0;
}}
"""
        )
        return CFunction(
            name=name,
            source=source,
            input_len=src_h * src_w * channels,
            output_len=out_h * out_w * out_c,
        )


def _int_array(name: str, values: np.ndarray) -> str:
    """A `static const int` C array literal."""
    items = [str(int(v)) for v in values]
    body = ",\n    ".join(", ".join(items[i : i + 12]) for i in range(0, len(items), 12))
    return f"static const int {name}[{max(len(items), 1)}] = {{\n    {body or '0'}\n}};\n"
