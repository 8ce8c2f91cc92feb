"""Charts as server-side SVG: time series, bars, histograms and heatmaps that
render offline, need no JavaScript, and carry a text title and description for screen readers."""

import base64
import io
import math
from collections.abc import Sequence
from html import escape

import numpy as np
from markupsafe import Markup
from PIL import Image

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000")
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 16, 44, 36
_MAX_POINTS = 2000  # per line: more points than pixels only makes the page heavy
_MAX_CELLS = (96, 160)  # heatmap rows and columns kept (a spectrogram is averaged down to this)


def _number(value: float) -> str:
    if value == 0 or 0.01 <= abs(value) < 100_000:
        return f"{value:.4g}"
    return f"{value:.2e}"


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (a 1-2-5 step)."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low]
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def _extent(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    if high == low:
        return low - 1, high + 1
    return low, high


def _frame(width: int, height: int, title: str, description: str, body: list[str]) -> Markup:
    label = escape(title)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'aria-label="{label}" xmlns="http://www.w3.org/2000/svg" {_FONT}>'
        f"<title>{label}</title><desc>{escape(description)}</desc>"
        f'<text x="{width / 2}" y="16" text-anchor="middle" font-weight="600">{label}</text>'
        + "".join(body)
        + "</svg>"
    )


class _Axes:
    """Maps data coordinates to the plotting area and draws ticks, grid and axis labels."""

    def __init__(
        self, width: int, height: int, x: tuple[float, float], y: tuple[float, float]
    ) -> None:
        self.width, self.height, self.x, self.y = width, height, x, y
        self.inner_w = width - _LEFT - _RIGHT
        self.inner_h = height - _TOP - _BOTTOM

    def px(self, value: float | np.ndarray) -> float | np.ndarray:
        low, high = self.x
        return _LEFT + (value - low) / (high - low) * self.inner_w

    def py(self, value: float | np.ndarray) -> float | np.ndarray:
        low, high = self.y
        return _TOP + self.inner_h - (value - low) / (high - low) * self.inner_h

    def draw(self, x_label: str, y_label: str, x_ticks: bool = True) -> list[str]:
        parts = [
            f'<rect x="{_LEFT}" y="{_TOP}" width="{self.inner_w}" height="{self.inner_h}" '
            'fill="none" stroke="#888"/>'
        ]
        for value in ticks(*self.y):
            y = self.py(value)
            parts.append(
                f'<line x1="{_LEFT}" x2="{_LEFT + self.inner_w}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="#ddd"/><text x="{_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
                f"{_number(value)}</text>"
            )
        if x_ticks:
            for value in ticks(*self.x, count=8):
                x = self.px(value)
                parts.append(
                    f'<text x="{x:.1f}" y="{_TOP + self.inner_h + 14}" text-anchor="middle">'
                    f"{_number(value)}</text>"
                )
        parts.append(
            f'<text x="{_LEFT + self.inner_w / 2}" y="{self.height - 4}" text-anchor="middle">'
            f"{escape(x_label)}</text>"
            f'<text x="12" y="{_TOP + self.inner_h / 2}" text-anchor="middle" '
            f'transform="rotate(-90 12 {_TOP + self.inner_h / 2})">{escape(y_label)}</text>'
        )
        return parts


def _legend(names: Sequence[str], width: int) -> list[str]:
    parts, x = [], _LEFT
    for index, name in enumerate(names):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{_TOP - 10}" width="10" height="6" fill="{colour}"/>'
            f'<text x="{x + 13}" y="{_TOP - 4}">{escape(name)}</text>'
        )
        x += 20 + 7 * len(name)
        if x > width - 60:
            break
    return parts


def line_chart(
    x: Sequence[float] | np.ndarray,
    series: Sequence[tuple[str, Sequence[float] | np.ndarray]],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    width: int = 720,
    height: int = 260,
) -> Markup:
    """Several named series over one x axis (e.g. the axes of an accelerometer recording)."""
    xs = np.asarray(x, dtype=float)
    step = max(1, len(xs) // _MAX_POINTS)
    xs = xs[::step]
    columns = [np.asarray(values, dtype=float)[::step] for _, values in series]
    everything = np.concatenate(columns) if columns else np.zeros(1)
    axes = _Axes(width, height, _extent(xs) if len(xs) > 1 else (0, 1), _extent(everything))
    body = axes.draw(x_label, y_label)
    for index, values in enumerate(columns):
        finite = np.isfinite(values)
        points = " ".join(
            f"{px:.1f},{py:.1f}"
            for px, py in zip(axes.px(xs[finite]), axes.py(values[finite]), strict=True)  # type: ignore[arg-type]
        )
        colour = PALETTE[index % len(PALETTE)]
        body.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.3" points="{points}"/>'
        )
    body += _legend([name for name, _ in series], width)
    summary = ", ".join(
        f"{name} from {_number(float(np.nanmin(v)))} to {_number(float(np.nanmax(v)))}"
        for (name, _), v in zip(series, columns, strict=True)
        if v.size
    )
    return _frame(width, height, title, f"{len(xs)} points; {summary}", body)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    y_label: str = "",
    width: int = 480,
    height: int = 240,
) -> Markup:
    """One bar per label, with its value written above it."""
    numbers = np.asarray(values, dtype=float)
    top = float(numbers.max()) if numbers.size and numbers.max() > 0 else 1.0
    axes = _Axes(width, height, (0, max(1, len(labels))), (0, top * 1.1))
    body = axes.draw("", y_label, x_ticks=False)
    slot = axes.inner_w / max(1, len(labels))
    for index, (label, value) in enumerate(zip(labels, numbers, strict=True)):
        x0 = _LEFT + index * slot + slot * 0.15
        y = float(axes.py(value))
        body.append(
            f'<rect x="{x0:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{_TOP + axes.inner_h - y:.1f}" fill="{PALETTE[0]}"/>'
            f'<text x="{x0 + slot * 0.35:.1f}" y="{y - 3:.1f}" text-anchor="middle">'
            f"{_number(float(value))}</text>"
            f'<text x="{x0 + slot * 0.35:.1f}" y="{_TOP + axes.inner_h + 14}" '
            f'text-anchor="middle">{escape(label[:14])}</text>'
        )
    description = ", ".join(
        f"{k}: {_number(float(v))}" for k, v in zip(labels, numbers, strict=True)
    )
    return _frame(width, height, title, description, body)


def histogram(values: Sequence[float] | np.ndarray, *, title: str, bins: int = 20) -> Markup:
    """Counts of `values` in equal-width bins."""
    numbers = np.asarray(values, dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    counts, edges = np.histogram(numbers, bins=bins) if numbers.size else (np.zeros(1), [0, 1])
    labels = [_number(float(edge)) for edge in edges[:-1]]
    return bar_chart(labels, counts.tolist(), title=title, y_label="count", width=640)


def heatmap(
    matrix: Sequence[Sequence[float]] | np.ndarray,
    *,
    title: str,
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    x_label: str = "",
    y_label: str = "",
    annotate: bool = True,
    width: int = 480,
    height: int = 420,
) -> Markup:
    """A grid of cells shaded by value: a confusion matrix (rows: truth, columns: prediction,
    annotated with counts) or a spectrogram (rows: frequency, low at the bottom)."""
    grid = np.asarray(matrix, dtype=float)
    if grid.ndim != 2 or grid.size == 0:
        grid = np.zeros((1, 1))
    grid = _shrink(grid)
    rows, columns = grid.shape
    left = _LEFT + (40 if row_labels else 0)
    inner_w, inner_h = width - left - _RIGHT, height - _TOP - _BOTTOM - (20 if column_labels else 0)
    cell_w, cell_h = inner_w / columns, inner_h / rows
    low, high = _extent(grid)
    shares = np.nan_to_num((grid - low) / (high - low), nan=0.0)
    if annotate:
        body = _cells(grid, shares, left, cell_w, cell_h)
    else:  # a raster inside the SVG: thousands of <rect>s would weigh hundreds of KB
        body = [
            f'<image x="{left}" y="{_TOP}" width="{inner_w}" height="{inner_h}" '
            f'preserveAspectRatio="none" style="image-rendering:pixelated" '
            f'href="data:image/png;base64,{_png(shares)}"/>'
        ]
    for r, label in enumerate(row_labels or []):
        body.append(
            f'<text x="{left - 4}" y="{_TOP + (r + 0.5) * cell_h + 4:.1f}" text-anchor="end">'
            f"{escape(label[:16])}</text>"
        )
    for c, label in enumerate(column_labels or []):
        body.append(
            f'<text x="{left + (c + 0.5) * cell_w:.1f}" y="{_TOP + inner_h + 14}" '
            f'text-anchor="middle">{escape(label[:12])}</text>'
        )
    body.append(
        f'<text x="{left + inner_w / 2}" y="{height - 4}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="12" y="{_TOP + inner_h / 2}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_TOP + inner_h / 2})">{escape(y_label)}</text>'
    )
    description = f"{rows} by {columns} grid, values from {_number(low)} to {_number(high)}"
    if annotate and row_labels and column_labels:
        description += "; " + "; ".join(
            f"{row_labels[r]}: "
            + ", ".join(f"{column_labels[c]} {_number(float(grid[r, c]))}" for c in range(columns))
            for r in range(rows)
        )
    return _frame(width, height, title, description, body)


def _cells(
    grid: np.ndarray, shares: np.ndarray, left: float, cell_w: float, cell_h: float
) -> list[str]:
    """One shaded, annotated <rect> per cell."""
    body = []
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            share = float(shares[r, c])
            x, y = left + c * cell_w, _TOP + r * cell_h
            ink = "#fff" if share > 0.55 else "#000"
            body.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{cell_w + 0.05:.2f}" '
                f'height="{cell_h + 0.05:.2f}" fill="{_shade(share)}"/>'
                f'<text x="{x + cell_w / 2:.1f}" y="{y + cell_h / 2 + 4:.1f}" '
                f'text-anchor="middle" fill="{ink}">{_number(float(grid[r, c]))}</text>'
            )
    return body


def _png(shares: np.ndarray) -> str:
    """Shares in [0, 1] as a base64 PNG shaded like `_shade`."""
    share = np.clip(shares, 0, 1)[..., None]
    white, dark = np.array([255, 255, 255]), np.array([8, 48, 107])
    pixels = (white + (dark - white) * share).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _shrink(grid: np.ndarray) -> np.ndarray:
    """Average blocks of cells so that a grid has at most _MAX_CELLS rows and columns."""
    for axis, limit in enumerate(_MAX_CELLS):
        size = grid.shape[axis]
        if size > limit:
            factor = math.ceil(size / limit)
            pad = (-size) % factor
            widths = [(0, 0), (0, 0)]
            widths[axis] = (0, pad)
            padded = np.pad(grid, widths, mode="edge")
            shape = list(padded.shape)
            shape[axis : axis + 1] = [shape[axis] // factor, factor]
            grid = padded.reshape(shape).mean(axis=axis + 1)
    return grid


def _shade(share: float) -> str:
    """White to dark blue."""
    share = min(1.0, max(0.0, share))
    red, green, blue = (int(255 + (end - 255) * share) for end in (8, 48, 107))
    return f"#{red:02x}{green:02x}{blue:02x}"
