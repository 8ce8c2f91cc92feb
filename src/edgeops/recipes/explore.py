"""The feature explorer: a 2-D map of a feature set coloured by label, and how separable it is.

Separability is the silhouette score on the standardised, full-dimensional features (not on the
2-D projection, which can hide or invent structure): near 1 the labels form tight, distant
clusters, near 0 they overlap, below 0 windows sit closer to another label than to their own.
"""

import importlib
import importlib.util
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgeops.errors import InvalidInput
from edgeops.recipes.extract import FeatureSet

Method = Literal["pca", "umap"]
FORMATS = {".png": "png", ".svg": "svg"}
UNLABELLED = "(unlabelled)"


@dataclass
class ExploreResult:
    """Where the plot went and how well the labels separate in feature space."""

    path: Path
    method: Method
    windows: int
    silhouette: float | None  # over every labelled window; None when it cannot be computed
    silhouette_reason: str | None  # why it is None
    per_label: dict[str, float] = field(default_factory=dict)  # mean silhouette per label
    explained_variance: list[float] = field(default_factory=list)  # PCA only, per axis

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


def _check_out(out: Path) -> str:
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"{out.name}: the plot is written as .png or .svg, not "
                           f"{out.suffix or 'a file without a suffix'}")  # fmt: skip
    return fmt


def _project(scaled: np.ndarray, method: Method) -> tuple[np.ndarray, list[float]]:
    """Two columns per window, and PCA's explained variance ratio per column."""
    if method == "umap":
        if importlib.util.find_spec("umap") is None:
            raise InvalidInput("--method umap needs the 'umap-learn' package (pip install "
                               "umap-learn); or use --method pca")  # fmt: skip
        umap = importlib.import_module("umap")
        points: np.ndarray = umap.UMAP(n_components=2, random_state=0).fit_transform(scaled)
        return points, []
    from sklearn.decomposition import PCA

    components = min(2, *scaled.shape)
    pca = PCA(n_components=components, random_state=0)
    points = pca.fit_transform(scaled)
    ratios = [float(r) for r in pca.explained_variance_ratio_]
    if components < 2:  # one feature: the map is a line
        points = np.hstack([points, np.zeros((len(points), 2 - components))])
        ratios += [0.0] * (2 - components)
    return points, ratios


def _silhouette(
    scaled: np.ndarray, labels: list[str]
) -> tuple[float | None, str | None, dict[str, float]]:
    from sklearn.metrics import silhouette_samples

    keep = np.array([label != UNLABELLED for label in labels], dtype=bool)
    named = [label for label in labels if label != UNLABELLED]
    distinct = sorted(set(named))
    if len(distinct) < 2:
        return None, f"needs at least 2 labels, found {len(distinct)}", {}
    if len(named) <= len(distinct):
        return None, (f"needs more labelled windows ({len(named)}) than labels "
                      f"({len(distinct)})"), {}  # fmt: skip
    scores = silhouette_samples(scaled[keep], np.array(named))
    per_label = {
        label: round(float(scores[np.array(named) == label].mean()), 4) for label in distinct
    }
    return round(float(scores.mean()), 4), None, per_label


def _plot(
    points: np.ndarray, labels: list[str], out: Path, fmt: str, method: Method,
    ratios: list[float], title: str,
) -> None:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")  # no display needed; set here so importing us never touches the backend
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 6), dpi=100)
    try:
        colours = plt.get_cmap("tab10" if len(set(labels)) <= 10 else "tab20")
        for index, label in enumerate(sorted(set(labels))):
            chosen = np.array([value == label for value in labels], dtype=bool)
            colour = "lightgrey" if label == UNLABELLED else colours(index % colours.N)
            axes.scatter(points[chosen, 0], points[chosen, 1], s=14, alpha=0.8, color=colour,
                         label=f"{label} ({int(chosen.sum())})")  # fmt: skip
        if method == "pca":
            axes.set_xlabel(f"PC1 ({ratios[0]:.1%} of variance)")
            axes.set_ylabel(f"PC2 ({ratios[1]:.1%} of variance)")
        else:
            axes.set_xlabel("UMAP 1")
            axes.set_ylabel("UMAP 2")
        axes.set_title(title)
        axes.legend(title="label", loc="best", fontsize="small")
        axes.grid(alpha=0.3)
        figure.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, format=fmt)
    finally:
        plt.close(figure)


def explore(
    features: FeatureSet, out: Path, *, method: Method = "pca", recipe: str | None = None,
    version: str | None = None,
) -> ExploreResult:  # fmt: skip
    """Standardise the features, plot them in 2-D coloured by label at `out` (.png or .svg), and
    score how separable the labels are (silhouette on the full-dimensional features)."""
    from sklearn.preprocessing import StandardScaler

    fmt = _check_out(out)
    if method not in ("pca", "umap"):
        raise InvalidInput(f"unknown method {method!r}: use pca or umap")
    if features.X.shape[0] < 2 or features.X.shape[1] < 1:
        raise InvalidInput(f"nothing to map: {features.X.shape[0]} windows of "
                           f"{features.X.shape[1]} features (need at least 2 windows)")  # fmt: skip
    scaled = StandardScaler().fit_transform(features.X.astype(np.float64))
    labels = [UNLABELLED if label is None else label for label in features.y]
    points, ratios = _project(scaled, method)
    silhouette, reason, per_label = _silhouette(scaled, labels)
    parts = [f"recipe {recipe}" if recipe else "", f"version {version}" if version else ""]
    heading = " · ".join(part for part in parts if part) or "features"
    score = f"silhouette {silhouette:.2f}" if silhouette is not None else "silhouette n/a"
    title = f"{heading}\n{method.upper()} of {features.X.shape[1]} features · {score}"
    _plot(points, labels, out, fmt, method, ratios, title)
    return ExploreResult(
        path=out, method=method, windows=int(features.X.shape[0]), silhouette=silhouette,
        silhouette_reason=reason, per_label=per_label, explained_variance=ratios,
    )  # fmt: skip
