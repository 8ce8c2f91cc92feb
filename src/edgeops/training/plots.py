"""Plots of a model's test: the confusion matrix and the calibration (reliability) curve."""

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

from edgeops.errors import InvalidInput

FORMATS = {".png": "png", ".svg": "svg"}


def confusion(metrics: dict[str, Any], out: Path, title: str) -> Path:
    """The testing confusion matrix as a heat map, counts in the cells, recall on the right."""
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"{out.name}: the plot is written as .png or .svg")
    testing = metrics.get("testing", {})
    if "confusion" not in testing:
        raise InvalidInput(
            "this model has no confusion matrix (it is not a classifier, or its "
            "testing split was empty)"
        )
    labels = testing["confusion"]["labels"]
    matrix = np.array(testing["confusion"]["matrix"], dtype=float)
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = max(4.0, 0.7 * len(labels) + 2.5)
    figure, axes = plt.subplots(figsize=(size + 1, size), dpi=100)
    try:
        rows = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
        axes.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for (i, j), count in np.ndenumerate(matrix):
            colour = "white" if share[i, j] > 0.6 else "black"
            axes.text(j, i, f"{int(count)}", ha="center", va="center", color=colour)
        axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
        axes.set_yticks(
            range(len(labels)), [f"{label} ({share[i, i]:.0%})" for i, label in enumerate(labels)]
        )
        axes.set_xlabel("predicted")
        axes.set_ylabel("true (recall)")
        axes.set_title(
            f"{title}\naccuracy {testing['accuracy']:.1%} · {testing['windows']} windows"
        )
        figure.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, format=fmt)
    finally:
        plt.close(figure)
    return out
