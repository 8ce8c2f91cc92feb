"""The feature explorer on synthetic feature sets: separability scores, plot files, errors."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgeops.errors import InvalidInput
from edgeops.recipes.explore import explore
from edgeops.recipes.extract import FeatureSet


def feature_set(labels: list[str | None], seed: int = 0, gap: float = 8.0) -> FeatureSet:
    """Eight features per window; each label's windows sit around their own centre."""
    rng = np.random.default_rng(seed)
    names = sorted({label or "" for label in labels})
    centres = {name: gap * index for index, name in enumerate(names)}
    X = np.stack([rng.normal(centres[label or ""], 1.0, size=8) for label in labels])
    return FeatureSet(
        X=X.astype(np.float32), y=labels, sample_ids=np.arange(len(labels), dtype=np.int64),
        categories=["training"] * len(labels), feature_names=[f"f.{i}" for i in range(8)],
    )  # fmt: skip


SEPARATED: list[str | None] = ["idle"] * 30 + ["wave"] * 30


def test_separated_labels_score_high_and_plot_a_png(tmp_path: Path) -> None:
    result = explore(feature_set(SEPARATED), tmp_path / "map.png", recipe="motion", version="3f2a")
    assert result.silhouette is not None and result.silhouette > 0.5
    assert result.silhouette_reason is None
    assert set(result.per_label) == {"idle", "wave"}
    assert all(score > 0.5 for score in result.per_label.values())
    assert len(result.explained_variance) == 2 and result.explained_variance[0] > 0.5
    with Image.open(result.path) as image:
        assert image.format == "PNG"
        assert image.size == (800, 600)


def test_random_labels_on_the_same_data_score_lower(tmp_path: Path) -> None:
    features = feature_set(SEPARATED)
    separated = explore(features, tmp_path / "a.png")
    shuffled = list(np.random.default_rng(1).permutation(np.array(SEPARATED, dtype=object)))
    features.y = shuffled
    random = explore(features, tmp_path / "b.png")
    assert random.silhouette is not None and separated.silhouette is not None
    assert random.silhouette < separated.silhouette - 0.3


def test_svg_output(tmp_path: Path) -> None:
    result = explore(feature_set(SEPARATED), tmp_path / "deep" / "map.SVG")
    text = result.path.read_text()
    assert "<svg" in text and "idle" in text


def test_a_bad_suffix_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"map\.jpg: the plot is written as \.png or \.svg"):
        explore(feature_set(SEPARATED), tmp_path / "map.jpg")
    assert not (tmp_path / "map.jpg").exists()


def test_umap_without_the_package_names_it(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    try:
        import umap  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidInput, match="umap-learn"):
            explore(feature_set(SEPARATED), tmp_path / "map.png", method="umap")
    else:
        pytest.skip("umap is installed")


def test_one_label_has_no_silhouette_and_says_why(tmp_path: Path) -> None:
    result = explore(feature_set(["idle"] * 10 + [None] * 5), tmp_path / "map.png")
    assert result.silhouette is None
    assert result.silhouette_reason == "needs at least 2 labels, found 1"
    assert result.per_label == {}
    assert result.path.exists()
    assert result.to_dict()["silhouette"] is None


def test_as_many_windows_as_labels_has_no_silhouette(tmp_path: Path) -> None:
    result = explore(feature_set(["idle", "wave"]), tmp_path / "map.png")
    assert result.silhouette is None
    assert result.silhouette_reason == "needs more labelled windows (2) than labels (2)"
