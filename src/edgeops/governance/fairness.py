"""Fairness of a classifier across the groups of a sample metadata key (or `device_id`): how
well it does per group on its testing split, the disparities between groups (fairlearn), how
balanced the dataset version is per group and label, and a gate on the gaps.

Multi-class disparities are one-vs-rest: the demographic parity and equalized odds differences
are computed for each label as a binary "predicted / is this label" and the largest is
reported (with the per-label values beside it). For equalized odds a label only counts the groups
that have windows with and without it, so a group that never saw a label does not look unfair.

The gate compares the accuracy gap and the equalized odds difference with `max_gap`; demographic
parity is reported but not gated by default, because groups whose true label mix differs (one
site records more running) should be predicted differently."""

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeops.errors import InvalidInput

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

DEFAULT_MAX_GAP = 0.1
GATED = ("accuracy_gap", "equalized_odds_difference")
DEVICE_KEY = "device_id"


@dataclass(frozen=True)
class GateResult:
    passed: bool
    max_gap: float
    reasons: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "max_gap": self.max_gap, "reasons": self.reasons}


def group_of(entry: dict[str, Any], key: str) -> str | None:
    """The group of a manifest entry (or sample record) under `key`: a metadata value, or its
    device id for `device_id`."""
    raw = entry.get(key) if key == DEVICE_KEY else (entry.get("metadata") or {}).get(key)
    return None if raw is None else str(raw)


def _round(value: float) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 6)


def disparities(
    truth: np.ndarray, predicted: np.ndarray, groups: np.ndarray, labels: Sequence[str]
) -> dict[str, Any]:
    """Per-group accuracy and macro recall, and the gaps between groups, for class indices."""
    # Untyped; `unused-ignore` keeps this line clean once pyproject lists fairlearn for mypy.
    from fairlearn.metrics import (  # type: ignore[import-untyped,unused-ignore]
        MetricFrame,
        demographic_parity_difference,
        equalized_odds_difference,
    )
    from sklearn.metrics import accuracy_score, recall_score

    def recall(t: np.ndarray, p: np.ndarray) -> float:
        return float(recall_score(t, p, average="macro", zero_division=0))

    frame = MetricFrame(
        metrics={"accuracy": accuracy_score, "recall": recall},
        y_true=truth,
        y_pred=predicted,
        sensitive_features=groups,
    )
    counts = Counter(groups.tolist())
    per_group = {
        str(name): {
            "windows": counts[name],
            "accuracy": _round(row["accuracy"]),
            "recall": _round(row["recall"]),
        }
        for name, row in frame.by_group.iterrows()
    }
    parity: dict[str, float | None] = {}
    odds: dict[str, float | None] = {}
    for index, label in enumerate(labels):
        is_label, says_label = truth == index, predicted == index
        parity[label] = _round(
            demographic_parity_difference(is_label, says_label, sensitive_features=groups)
        )
        # Only groups with windows of this label and of others have a TPR and an FPR.
        both = {g for g in counts if is_label[groups == g].any() and (~is_label[groups == g]).any()}
        rows = np.isin(groups, list(both))
        odds[label] = (
            _round(
                equalized_odds_difference(
                    is_label[rows], says_label[rows], sensitive_features=groups[rows]
                )
            )
            if len(both) >= 2
            else None
        )
    accuracies = [g["accuracy"] for g in per_group.values() if g["accuracy"] is not None]
    return {
        "groups": per_group,
        "accuracy_gap": _round(max(accuracies) - min(accuracies)) if accuracies else None,
        "recall_gap": _round(frame.difference()["recall"]),
        "demographic_parity_difference": _max(parity),
        "equalized_odds_difference": _max(odds),
        "per_label": {
            label: {
                "demographic_parity_difference": parity[label],
                "equalized_odds_difference": odds[label],
            }
            for label in labels
        },
    }


def _max(values: dict[str, float | None]) -> float | None:
    present = [v for v in values.values() if v is not None]
    return max(present) if present else None


def balance(entries: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """Samples per group, per label and per category, over a whole dataset version."""
    result: dict[str, Any] = {}
    by_group: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in entries:
        by_group[group_of(entry, key) or "(none)"].append(entry)
    total = max(len(entries), 1)
    for name, members in sorted(by_group.items()):
        result[name] = {
            "samples": len(members),
            "share": round(len(members) / total, 6),
            "labels": dict(sorted(Counter(str(e["label"]) for e in members).items())),
            "categories": dict(sorted(Counter(e["category"] for e in members).items())),
        }
    return result


def fairness_gate(
    report: dict[str, Any], max_gap: float | None = None, metrics: Sequence[str] = GATED
) -> GateResult:
    """Whether every gated disparity of `report` is at most `max_gap` (default: the report's
    own threshold). A disparity that could not be computed (one group only) does not fail."""
    limit = report["threshold"] if max_gap is None else max_gap
    reasons = []
    for name in metrics:
        value = report["disparities"].get(name)
        if value is not None and value > limit:
            reasons.append(f"{name} {value:.3f} > {limit:g} (by {report['by']})")
    return GateResult(not reasons, limit, reasons)


def fairness_report(
    ws: "Workspace",
    model_ref: str,
    by: str,
    *,
    project: str | None = None,
    data: str | None = None,
    threshold: float = DEFAULT_MAX_GAP,
) -> dict[str, Any]:
    """The fairness of classifier `model_ref` across the values of metadata key `by` (or
    `device_id`) on the testing split of dataset version `data` (default: its training data)."""
    from edgeops.recipes.extract import extract
    from edgeops.recipes.spec import Recipe
    from edgeops.training import registry

    if not 0 <= threshold <= 1:
        raise InvalidInput(f"threshold {threshold} must be between 0 and 1")
    model = ws.models.get(model_ref, project=project).version
    if model.task != "classification":
        raise InvalidInput(f"v{model.number} is a {model.task} model: fairness needs a classifier")
    version = ws.data.version(data or model.dataset_version_id, project=project)
    entries = ws.data.read_version(version.id, project=project)
    features = extract(
        ws, Recipe.model_validate(model.recipe), version.id, project=project,
        states=registry.feature_states(ws.blobs, model),
    )  # fmt: skip
    index = {label: i for i, label in enumerate(model.labels)}
    by_id = {entry["id"]: entry for entry in entries}
    groups = np.array([group_of(by_id[int(i)], by) or "" for i in features.sample_ids], dtype=str)
    truth = np.array([index.get(y, -1) if y is not None else -1 for y in features.y])
    testing = np.array([c == "testing" for c in features.categories], dtype=bool)
    rows = testing & (truth >= 0) & (groups != "")
    if not any(group_of(entry, by) is not None for entry in entries):
        raise InvalidInput(
            f"no sample of version {version.id[:12]} has metadata {by!r}: give a key the samples "
            f"carry (see `edgeops data show ID`) or {DEVICE_KEY}"
        )
    if not rows.any():
        raise InvalidInput(
            f"the testing split of {version.id[:12]} has no labelled windows with {by!r}"
        )
    learner = registry.load_learner(ws.blobs, model)
    predicted = learner.predict(features.X[rows]).argmax(axis=1)
    report: dict[str, Any] = {
        "model": f"v{model.number}",
        "dataset_version": version.id,
        "by": by,
        "threshold": threshold,
        "windows": int(rows.sum()),
        "windows_without_group": int((testing & (truth >= 0) & (groups == "")).sum()),
        "overall": {"accuracy": _round(float((predicted == truth[rows]).mean()))},
        "disparities": disparities(truth[rows], predicted, groups[rows], model.labels),
        "balance": balance(entries, by),
    }
    gate = fairness_gate(report)
    report["passed"], report["reasons"] = gate.passed, gate.reasons
    return report


def plot(report: dict[str, Any], out: Path) -> Path:
    """Accuracy and recall per group as bars, with the best group's accuracy minus the threshold
    as a dashed line: a group below it fails the accuracy-gap gate."""
    import matplotlib

    from edgeops.training.plots import FORMATS

    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InvalidInput(f"{out.name}: the plot is written as .png or .svg")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = report["disparities"]["groups"]
    names = list(groups)
    positions = np.arange(len(names))
    figure, axes = plt.subplots(figsize=(max(4.0, 0.8 * len(names) + 2), 4), dpi=100)
    try:
        for offset, metric in ((-0.2, "accuracy"), (0.2, "recall")):
            values = [groups[name][metric] or 0.0 for name in names]
            axes.bar(positions + offset, values, width=0.4, label=metric)
        best = max((g["accuracy"] or 0.0) for g in groups.values())
        axes.axhline(best - report["threshold"], linestyle="--", color="grey",
                     label=f"best - {report['threshold']:g}")  # fmt: skip
        axes.set_xticks(positions, names, rotation=30, ha="right")
        axes.set_ylim(0, 1.05)
        axes.set_title(f"{report['model']} by {report['by']}")
        axes.legend(loc="lower right")
        figure.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out, format=fmt)
    finally:
        plt.close(figure)
    return out
