"""The reference profile of a model version: what "normal" looked like at training time.

Stored with the model (artifact `reference`, npz + JSON, no pickle): per feature a fine
histogram on a fixed layout (see `detectors`), mean, std and percentiles; the class priors of the
labels and of the predictions; the confidence and anomaly-score distributions; the accuracy and
the confidence threshold that estimates accuracy without labels; and a small reservoir sample
of feature vectors for multivariate tests.
"""

import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeops.monitoring import detectors

if TYPE_CHECKING:
    from edgeops.blocks.learn.base import Learner
    from edgeops.recipes.extract import FeatureSet

FORMAT = 1
RESERVOIR = 500
SUMMARY_BINS = detectors.PSI_BINS


@dataclass(frozen=True)
class Sketch:
    """Binned distribution of one or more numeric columns."""

    layout: detectors.Layout
    counts: np.ndarray  # (columns, slots)
    mean: np.ndarray
    std: np.ndarray
    percentiles: np.ndarray  # (columns, 101)

    @property
    def rows(self) -> int:
        return int(self.counts[0].sum()) if len(self.counts) else 0

    @classmethod
    def of(cls, values: np.ndarray, bins: int = detectors.BINS) -> "Sketch":
        data = np.asarray(values, dtype=np.float64)
        if data.ndim == 1:
            data = data[:, None]
        layout = detectors.layout_for(data, bins)
        with np.errstate(all="ignore"):
            mean = np.nan_to_num(np.nanmean(data, axis=0))
            std = np.nan_to_num(np.nanstd(data, axis=0))
            percentiles = np.nan_to_num(np.nanpercentile(data, np.arange(101), axis=0).T)
        return cls(layout, detectors.histogram(data, layout, threads=1), mean, std, percentiles)

    def summary_edges(self) -> np.ndarray:
        """(columns, SUMMARY_BINS-1) values splitting the reference into equal-mass groups: the
        bins a microcontroller counts its features in (see `telemetry`)."""
        return self.percentiles[:, 10:100:10].copy()


@dataclass(frozen=True)
class ReferenceProfile:
    feature_names: list[str]
    features: Sketch
    reservoir: np.ndarray
    task: str
    labels: list[str]
    label_priors: dict[str, float] = field(default_factory=dict)
    prediction_priors: dict[str, float] = field(default_factory=dict)
    prediction_rows: int = 0
    confidence: Sketch | None = None
    anomaly: Sketch | None = None
    anomaly_threshold: float | None = None
    accuracy: float | None = None
    confidence_threshold: float | None = None

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {"reservoir": self.reservoir}
        for name in ("features", "confidence", "anomaly"):
            sketch: Sketch | None = getattr(self, name)
            if sketch is not None:
                arrays[f"{name}.low"] = sketch.layout.low
                arrays[f"{name}.width"] = sketch.layout.width
                arrays[f"{name}.counts"] = sketch.counts
                arrays[f"{name}.mean"] = sketch.mean
                arrays[f"{name}.std"] = sketch.std
                arrays[f"{name}.percentiles"] = sketch.percentiles
        meta = {
            "format": FORMAT,
            "bins": self.features.layout.bins,
            "feature_names": self.feature_names,
            "task": self.task,
            "labels": self.labels,
            "label_priors": self.label_priors,
            "prediction_priors": self.prediction_priors,
            "prediction_rows": self.prediction_rows,
            "anomaly_threshold": self.anomaly_threshold,
            "accuracy": self.accuracy,
            "confidence_threshold": self.confidence_threshold,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ReferenceProfile":
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(arrays.pop("meta").tobytes())
        if meta.get("format") != FORMAT:
            raise ValueError(f"unknown reference profile format {meta.get('format')!r}")

        def sketch(name: str) -> Sketch | None:
            if f"{name}.counts" not in arrays:
                return None
            layout = detectors.Layout(
                arrays[f"{name}.low"], arrays[f"{name}.width"], int(meta["bins"])
            )
            return Sketch(
                layout,
                arrays[f"{name}.counts"],
                arrays[f"{name}.mean"],
                arrays[f"{name}.std"],
                arrays[f"{name}.percentiles"],
            )

        features = sketch("features")
        assert features is not None
        return cls(
            feature_names=list(meta["feature_names"]),
            features=features,
            reservoir=arrays["reservoir"],
            task=meta["task"],
            labels=list(meta["labels"]),
            label_priors=meta["label_priors"],
            prediction_priors=meta["prediction_priors"],
            prediction_rows=int(meta["prediction_rows"]),
            confidence=sketch("confidence"),
            anomaly=sketch("anomaly"),
            anomaly_threshold=meta["anomaly_threshold"],
            accuracy=meta["accuracy"],
            confidence_threshold=meta["confidence_threshold"],
        )


def _priors(values: list[str]) -> dict[str, float]:
    if not values:
        return {}
    names, counts = np.unique(np.asarray(values, dtype=object).astype(str), return_counts=True)
    return {str(k): round(float(c) / len(values), 8) for k, c in zip(names, counts, strict=True)}


def build(
    X: np.ndarray,
    feature_names: list[str],
    *,
    task: str = "classification",
    labels: list[str] | None = None,
    y: np.ndarray | None = None,
    scores: np.ndarray | None = None,
    anomaly: np.ndarray | None = None,
    anomaly_threshold: float | None = None,
    seed: int = 0,
) -> ReferenceProfile:
    """A profile from reference feature rows `X`, and for classifiers the true class indices
    `y` (-1: unknown) and predicted `scores` (rows x classes) of held-out rows (`y`, `scores`
    and `anomaly` describe the same held-out rows, which need not be the rows of `X`)."""
    data = np.asarray(X, dtype=np.float32)
    if data.ndim != 2 or len(data) == 0:
        raise ValueError("the reference needs at least one row of features")
    if len(feature_names) != data.shape[1]:
        raise ValueError(f"{len(feature_names)} feature names for {data.shape[1]} features")
    labels = labels or []
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(data), size=min(RESERVOIR, len(data)), replace=False)
    profile: dict[str, Any] = {
        "feature_names": list(feature_names),
        "features": Sketch.of(data),
        "reservoir": data[np.sort(pick)],
        "task": task,
        "labels": list(labels),
    }
    if y is not None and labels:
        known = [labels[int(i)] for i in np.asarray(y) if int(i) >= 0]
        profile["label_priors"] = _priors(known)
    if scores is not None and len(scores) and task == "classification" and labels:
        probabilities = np.asarray(scores, dtype=np.float64)
        predicted = probabilities.argmax(axis=1)
        confidence = probabilities.max(axis=1)
        profile["prediction_priors"] = _priors([labels[int(i)] for i in predicted])
        profile["prediction_rows"] = len(predicted)
        profile["confidence"] = Sketch.of(confidence)
        if y is not None:
            truth = np.asarray(y)
            known_rows = truth >= 0
            if known_rows.any():
                correct = predicted[known_rows] == truth[known_rows]
                profile["accuracy"] = float(correct.mean())
                profile["confidence_threshold"] = detectors.confidence_threshold(
                    confidence[known_rows], correct
                )
    if anomaly is not None and len(anomaly):
        profile["anomaly"] = Sketch.of(np.asarray(anomaly, dtype=np.float64))
        profile["anomaly_threshold"] = anomaly_threshold
    return ReferenceProfile(**profile)


def from_training(
    learner: "Learner",
    anomaly_learner: "Learner | None",
    features: "FeatureSet",
    y: np.ndarray,
    labels: list[str],
    seed: int = 0,
) -> ReferenceProfile:
    """The profile of a freshly trained model: features of every window; predictions,
    confidences, anomaly scores and accuracy on the testing windows (the training windows
    when there are none: a model is over-confident on the windows it was fitted on, which
    would read as confidence drift in the field)."""
    testing = np.array([c != "training" for c in features.categories], dtype=bool)
    held = testing if testing.any() else ~testing
    rows = features.X[held]
    classifier = learner.task == "classification"
    scorer = learner if learner.task == "anomaly" else anomaly_learner
    return build(
        features.X,
        list(features.feature_names),
        task=learner.task,
        labels=labels if classifier else [],
        y=np.asarray(y)[held] if classifier else None,
        scores=learner.predict(rows) if classifier and len(rows) else None,
        anomaly=scorer.predict(rows)[:, 0] if scorer is not None and len(rows) else None,
        anomaly_threshold=scorer.threshold if scorer is not None else None,
        seed=seed,
    )
