"""How good a model is, per window of the testing split: plain dicts of numbers, JSON-ready.

Classifiers: accuracy, per-class precision/recall/F1, macro and weighted averages, confusion
matrix, the rate of windows whose top score is below the confidence threshold ("uncertain"),
expected calibration error, and accuracy per metadata group. Regressors: MAE, RMSE, R².
Anomaly learners: ROC AUC where the testing split has windows labelled unlike the training labels
(or `anomaly`), else the share of testing windows flagged."""

from collections import defaultdict
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score

UNCERTAIN_BELOW = 0.6
CALIBRATION_BINS = 10
ANOMALY_LABEL = "anomaly"


def _round(value: Any) -> float:
    return round(float(value), 6)


def classification(
    probabilities: np.ndarray,
    truth: np.ndarray,
    labels: list[str],
    groups: dict[str, list[str | None]] | None = None,
    uncertain_below: float = UNCERTAIN_BELOW,
) -> dict[str, Any]:
    """Metrics for class probabilities (n, classes) against true class indices (n,)."""
    if len(truth) == 0:
        return {"windows": 0}
    predicted = probabilities.argmax(axis=1)
    indices = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=indices, zero_division=0
    )
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(confusion, (truth, predicted), 1)
    weights = support / max(support.sum(), 1)
    present = support > 0
    top = probabilities.max(axis=1)
    return {
        "windows": len(truth),
        "accuracy": _round((predicted == truth).mean()),
        "per_class": {
            label: {
                "precision": _round(precision[i]),
                "recall": _round(recall[i]),
                "f1": _round(f1[i]),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "macro": {
            "precision": _round(precision[present].mean()) if present.any() else 0.0,
            "recall": _round(recall[present].mean()) if present.any() else 0.0,
            "f1": _round(f1[present].mean()) if present.any() else 0.0,
        },
        "weighted": {
            "precision": _round((precision * weights).sum()),
            "recall": _round((recall * weights).sum()),
            "f1": _round((f1 * weights).sum()),
        },
        "confusion": {"labels": labels, "matrix": confusion.tolist()},
        "uncertain_below": uncertain_below,
        "uncertain_rate": _round((top < uncertain_below).mean()),
        "calibration_error": _round(calibration_error(top, predicted == truth)),
        "groups": _groups(predicted == truth, groups or {}),
    }


def calibration_error(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Expected calibration error: the windows-weighted gap between mean confidence and accuracy
    in equal-width confidence bins."""
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    total = 0.0
    for index in np.unique(bins):
        members = bins == index
        total += members.sum() * abs(confidence[members].mean() - correct[members].mean())
    return total / max(len(confidence), 1)


def _groups(correct: np.ndarray, groups: dict[str, list[str | None]]) -> dict[str, Any]:
    """Accuracy per value of each metadata key (windows without the key are left out)."""
    result: dict[str, Any] = {}
    for key, values in groups.items():
        buckets: dict[str, list[bool]] = defaultdict(list)
        for value, hit in zip(values, correct, strict=True):
            if value is not None:
                buckets[value].append(bool(hit))
        result[key] = {
            value: {"windows": len(hits), "accuracy": _round(np.mean(hits))}
            for value, hits in sorted(buckets.items())
        }
    return result


def regression(predicted: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    if len(truth) == 0:
        return {"windows": 0}
    error = predicted.reshape(-1) - truth.reshape(-1)
    spread = ((truth - truth.mean()) ** 2).sum()
    return {
        "windows": len(truth),
        "mae": _round(np.abs(error).mean()),
        "rmse": _round(np.sqrt((error**2).mean())),
        "r2": _round(1 - (error**2).sum() / spread) if spread > 0 else None,
    }


def anomaly(scores: np.ndarray, threshold: float, unusual: np.ndarray) -> dict[str, Any]:
    """`unusual`: per window, whether its label marks it as unlike the training data."""
    flagged = scores > threshold
    result: dict[str, Any] = {
        "windows": len(scores),
        "threshold": _round(threshold),
        "flagged_rate": _round(flagged.mean()) if len(scores) else 0.0,
    }
    if unusual.any() and not unusual.all():
        result["roc_auc"] = _round(roc_auc_score(unusual, scores))
        result["detection_rate"] = _round(flagged[unusual].mean())
        result["false_alarm_rate"] = _round(flagged[~unusual].mean())
    return result
