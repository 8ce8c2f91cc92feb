"""The learner protocol: the scikit-learn estimator contract plus what devices need (`to_ir`)."""

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from edgeops.blocks.base import BlockParams
from edgeops.compiler.ir import Graph, Task
from edgeops.errors import InvalidInput

# (epoch, total epochs, metrics such as loss/accuracy): reported by learners that iterate.
EpochCallback = Callable[[int, int, dict[str, float]], None]


@dataclass(frozen=True)
class FitContext:
    """What training tells a learner besides X and y: the class names (classifiers), how
    feature vectors are shaped for convolutions (e.g. (frames, coefficients) or (h, w, c)),
    the seed, and a per-epoch callback."""

    labels: tuple[str, ...] = ()
    input_shape: tuple[int, ...] | None = None
    seed: int = 0
    on_epoch: EpochCallback | None = None
    validation: tuple[np.ndarray, np.ndarray] | None = None


class Learner(ABC):
    """Fits on features, predicts, and exports itself as an IR graph for the compiler.

    `predict` returns class probabilities (n, classes) for classifiers, values (n, outputs) for
    regressors and anomaly scores (n, 1) for anomaly learners (higher = more unusual; a window is
    anomalous above `threshold`). `save`/`load` round-trip the fitted state as bytes without
    pickle, so a stored model cannot run code when it is loaded."""

    name: ClassVar[str]
    version: ClassVar[int]
    kind: ClassVar[str] = "learner"
    task: ClassVar[Task]
    Params: ClassVar[type[BlockParams]] = BlockParams

    def __init__(self, params: BlockParams | dict[str, Any] | None = None) -> None:
        if isinstance(params, BlockParams):
            self.params = params
        else:
            self.params = self.Params.model_validate(params or {})
        self.threshold: float | None = None

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray, context: FitContext) -> None:
        """X float32 (n, features); y class indices (int64), targets (float) or ignored."""

    @abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray: ...

    @abstractmethod
    def to_ir(self) -> Graph: ...

    @abstractmethod
    def save(self) -> bytes: ...

    @classmethod
    @abstractmethod
    def load(cls, params: dict[str, Any], data: bytes) -> "Learner": ...

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "kind": self.kind,
                "params": self.params.model_dump()}  # fmt: skip


def require_features(X: np.ndarray, width: int | None = None) -> np.ndarray:
    array = np.asarray(X, dtype=np.float32)
    if array.ndim != 2:
        raise InvalidInput(f"features must be a 2-D array (windows, features), got {array.shape}")
    if width is not None and array.shape[1] != width:
        raise InvalidInput(f"the model takes {width} features per window, got {array.shape[1]}")
    if not np.isfinite(array).all():
        raise InvalidInput("features contain NaN or infinite values")
    return array


def standardiser(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std of training features (std 1 where a feature is constant)."""
    mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = X.std(axis=0, dtype=np.float64).astype(np.float32)
    return mean, np.where(std > 1e-6, std, 1.0).astype(np.float32)
