"""Anomaly learners: how unlike the training data a window is, beside a classifier (as in Edge
Impulse). Both standardise features with the training split's mean/std, and set `threshold` at a
percentile of the training windows' scores: above it, a window is anomalous."""

import io
import json
from typing import Any, Literal

import numpy as np
from pydantic import Field
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from edgeops.blocks.base import BlockParams
from edgeops.blocks.learn.base import FitContext, Learner, require_features, standardiser
from edgeops.blocks.registry import register
from edgeops.compiler import reference
from edgeops.compiler.ir import Graph, GraphBuilder
from edgeops.errors import InvalidInput


class _Anomaly(Learner):
    """Shared: standardisation, threshold, predict through the IR, save as plain arrays."""

    task = "anomaly"
    _arrays: tuple[str, ...] = ()

    def __init__(self, params: BlockParams | dict[str, Any] | None = None) -> None:
        super().__init__(params)
        self.state: dict[str, np.ndarray] = {}

    def _standardised(self, X: np.ndarray) -> np.ndarray:
        X = require_features(X)
        if len(X) < 2:
            raise InvalidInput("an anomaly learner needs at least 2 training windows")
        mean, std = standardiser(X)
        self.state = {"mean": mean, "std": std}
        return np.asarray((X - mean) / std)

    def _set_threshold(self, X: np.ndarray) -> None:
        assert isinstance(self.params, KMeansParams | GMMParams)
        percentile = self.params.percentile
        self.threshold = float(np.percentile(self.predict(X)[:, 0], percentile))

    def _trained(self) -> dict[str, np.ndarray]:
        if not self.state:
            raise InvalidInput(f"the {self.name} learner is not trained yet")
        return self.state

    def _graph(self, kind: str) -> Graph:
        state = self._trained()
        features = len(state["mean"])
        builder = GraphBuilder((features,))
        builder.op("scale", (features,), {"mean": state["mean"], "std": state["std"]})
        builder.op(kind, (1,), {name: state[name] for name in self._arrays})
        return builder.build("anomaly", ["anomaly"])

    def predict(self, X: np.ndarray) -> np.ndarray:
        graph = self.to_ir()
        return reference.run(graph, require_features(X, len(self._trained()["mean"])))

    def save(self) -> bytes:
        buffer = io.BytesIO()
        meta = json.dumps({"threshold": self.threshold})
        np.savez(buffer, meta=np.array(meta), **self._trained())  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def load(cls, params: dict[str, Any], data: bytes) -> "Learner":
        saved = np.load(io.BytesIO(data), allow_pickle=False)
        learner = cls(params)
        learner.state = {name: saved[name] for name in saved.files if name != "meta"}
        learner.threshold = json.loads(str(saved["meta"]))["threshold"]
        return learner


class KMeansParams(BlockParams):
    clusters: int = Field(32, ge=1, le=1024)
    percentile: float = Field(99.0, ge=50.0, le=100.0, description="threshold percentile")


@register
class KMeansAnomaly(_Anomaly):
    """Distance to the nearest of k cluster centres of the training windows."""

    name = "anomaly-kmeans"
    version = 1
    Params = KMeansParams
    _arrays = ("centers",)

    def fit(self, X: np.ndarray, y: np.ndarray, context: FitContext) -> None:
        scaled = self._standardised(X)
        assert isinstance(self.params, KMeansParams)
        clusters = min(self.params.clusters, len(scaled))
        model = KMeans(clusters, n_init=3, random_state=context.seed).fit(scaled)
        self.state["centers"] = model.cluster_centers_.astype(np.float32)
        self._set_threshold(X)

    def to_ir(self) -> Graph:
        return self._graph("kmeans_anomaly")


class GMMParams(BlockParams):
    components: int = Field(4, ge=1, le=64)
    covariance: Literal["full", "diag"] = "full"
    percentile: float = Field(99.0, ge=50.0, le=100.0, description="threshold percentile")


@register
class GMMAnomaly(_Anomaly):
    """Negative log-likelihood under a Gaussian mixture of the training windows."""

    name = "anomaly-gmm"
    version = 1
    Params = GMMParams
    _arrays = ("means", "precisions_chol", "log_weights")

    def fit(self, X: np.ndarray, y: np.ndarray, context: FitContext) -> None:
        scaled = self._standardised(X)
        params = self.params
        assert isinstance(params, GMMParams)
        model = GaussianMixture(
            min(params.components, len(scaled)), covariance_type=params.covariance,
            random_state=context.seed, reg_covar=1e-4,
        ).fit(scaled)  # fmt: skip
        chol = model.precisions_cholesky_
        if params.covariance == "diag":  # one full-matrix form for the IR and the device
            chol = np.stack([np.diag(row) for row in chol])
        self.state["means"] = model.means_
        self.state["precisions_chol"] = chol
        self.state["log_weights"] = np.log(model.weights_)
        self._set_threshold(X)

    def to_ir(self) -> Graph:
        return self._graph("gmm_anomaly")
