"""Running a registered model in Python: raw signals (or stored samples) → windows → features →
learner, the way the device does it."""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeops.blocks import registry as blocks
from edgeops.blocks.learn.base import Learner
from edgeops.recipes.spec import Recipe, signal_spec
from edgeops.recipes.windows import windows_of
from edgeops.store.tables import ModelVersion, Sample
from edgeops.training import registry

if TYPE_CHECKING:
    from edgeops.workspace import Workspace


class Predictor:
    """A model version loaded once, ready to run on many signals."""

    def __init__(self, ws: "Workspace", model: ModelVersion) -> None:
        self.model = model
        self.recipe = Recipe.model_validate(model.recipe)
        self.states = registry.feature_states(ws.blobs, model)
        self.learner: Learner = registry.load_learner(ws.blobs, model)
        self.anomaly = (
            registry.load_learner(ws.blobs, model, "anomaly")
            if "anomaly" in model.artifacts
            else None
        )
        self.blocks = [blocks.get(b.name, b.version)(b.params) for b in self.recipe.features]
        self._ws = ws

    def features(
        self, values: np.ndarray, interval_ms: float | None = None, sample_rate: int | None = None
    ) -> np.ndarray:
        """(windows, features) of one recording."""
        windows = windows_of(values, interval_ms, sample_rate, self.recipe)
        spec = signal_spec(self.recipe)
        parts = [
            b.transform(windows, spec, s) for b, s in zip(self.blocks, self.states, strict=True)
        ]
        return np.concatenate(parts, axis=1).astype(np.float32)

    def predict_one(self, signal: "np.ndarray | int | Sample") -> dict[str, Any]:
        """One recording's result: per-window outputs, and for classifiers the label with the
        highest mean probability over the windows."""
        if isinstance(signal, int | Sample):
            sample = signal if isinstance(signal, Sample) else self._ws.data.get(signal)
            X = self.features(self._ws.data.values(sample), sample.interval_ms, sample.sample_rate)
        else:
            X = self.features(np.asarray(signal))
        outputs = self.learner.predict(X)
        result: dict[str, Any] = {"windows": len(X)}
        if self.learner.task == "classification":
            mean = outputs.mean(axis=0)
            result["label"] = self.model.labels[int(mean.argmax())]
            result["scores"] = {
                label: round(float(p), 6) for label, p in zip(self.model.labels, mean, strict=True)
            }
            result["window_labels"] = [self.model.labels[i] for i in outputs.argmax(axis=1)]
        elif self.learner.task == "regression":
            result["value"] = float(outputs[:, 0].mean())
            result["window_values"] = outputs[:, 0].tolist()
        scorer = self.anomaly or (self.learner if self.learner.task == "anomaly" else None)
        if scorer is not None and scorer.threshold is not None:
            scores = (outputs if scorer is self.learner else scorer.predict(X))[:, 0]
            result["anomaly"] = float(scores.max())
            result["anomalous"] = bool(scores.max() > scorer.threshold)
        return result

    def predict(self, signals: Sequence["np.ndarray | int | Sample"]) -> list[dict[str, Any]]:
        return [self.predict_one(signal) for signal in signals]
