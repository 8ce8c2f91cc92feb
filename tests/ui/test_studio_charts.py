"""Server-side SVG charts: well-formed, described for screen readers, scaled to the data."""

import xml.etree.ElementTree as ElementTree

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edgeops.server.ui import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ElementTree.Element:
    root = ElementTree.fromstring(str(markup))
    assert root.get("role") == "img" and root.find(f"{SVG}title") is not None
    return root


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(1e-3, 1e6, allow_nan=False),
)
def test_ticks_cover_the_range_in_even_steps(low: float, span: float) -> None:
    found = charts.ticks(low, low + span)
    assert 2 <= len(found) <= 12
    assert low - 1e-6 * span <= found[0] and found[-1] <= low + span * (1 + 1e-6)
    steps = np.diff(found)
    assert np.allclose(steps, steps[0], rtol=1e-6)


def test_line_chart_has_a_line_per_series_within_the_plot() -> None:
    t = np.arange(100) / 100
    markup = charts.line_chart(
        t, [("accX", np.sin(t * 6)), ("accY <&>", np.cos(t * 6))], title="Recording 1"
    )
    root = _parse(markup)
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 2
    xs = [float(p.split(",")[0]) for p in lines[0].get("points", "").split()]
    assert len(xs) == 100 and min(xs) >= 0 and max(xs) <= 720
    assert "accY <&>" in "".join(root.itertext())  # escaped in the markup, intact as text


def test_confusion_heatmap_annotates_every_cell() -> None:
    matrix = [[5, 1], [0, 7]]
    root = _parse(
        charts.heatmap(matrix, title="Confusion", row_labels=["a", "b"], column_labels=["a", "b"])
    )
    assert len(root.findall(f"{SVG}rect")) == 4
    texts = [t.text for t in root.findall(f"{SVG}text")]
    assert {"5", "1", "0", "7"} <= set(texts)
    assert "a: a 5, b 1" in root.findtext(f"{SVG}desc", "")


def test_big_heatmap_is_one_averaged_raster() -> None:
    """A spectrogram is an embedded PNG averaged down to at most 96 x 160 cells, not a
    <rect> per cell."""
    import base64
    import io

    from PIL import Image

    spectrogram = np.random.default_rng(0).random((400, 1000))
    markup = charts.heatmap(spectrogram, title="Spectrogram", annotate=False)
    [image] = _parse(markup).findall(f"{SVG}image")
    png = base64.b64decode(image.get("href", "").split(",", 1)[1])
    assert Image.open(io.BytesIO(png)).size == (143, 80)  # 1000/7 columns, 400/5 rows
    assert len(markup) < 200_000


def test_bar_and_histogram_are_well_formed() -> None:
    _parse(charts.bar_chart(["a", "b"], [3, 4], title="Counts"))
    histogram = _parse(charts.histogram(np.arange(100.0), title="Values", bins=10))
    assert len(histogram.findall(f"{SVG}rect")) == 11  # the frame and 10 bins
