"""One look at a window of telemetry against a model's reference profile: every detector that
the telemetry's fields allow, and the findings a monitor turns into alerts.

Pure: a profile and a pyarrow table in, an `Analysis` out (no database), so tests and the
benchmark call it directly."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from edgeops.errors import InvalidInput
from edgeops.monitoring import detectors, telemetry
from edgeops.monitoring.reference import ReferenceProfile

DEFAULT_THRESHOLDS: dict[str, float] = {
    "alpha": detectors.DEFAULT_ALPHA,  # family-wise error rate of each test family
    "min_effect": detectors.DEFAULT_MIN_EFFECT,  # Wasserstein-1 / std for a feature to count
    "min_shift": detectors.DEFAULT_MIN_SHIFT,  # total variation for labels and summaries
    "min_accuracy_drop": detectors.DEFAULT_MIN_ACCURACY_DROP,
    "min_rows": 100,  # fewer rows than this in the window: no drift verdict
    "min_device_rows": 30,  # fewer rows of one device: not named
    "mmd_rows": 500,  # live rows sampled for the multivariate test
}
# The telemetry columns `analyse` looks at (reading only these skips scores, errors, events).
COLUMNS = ["time", "device", "label", "confidence", "anomaly", "features", "summary", "feedback"]
THRESHOLD_NAMES = frozenset(DEFAULT_THRESHOLDS) | {
    "stale_after_s",
    "latency_ratio",
    "error_rate",
    "collect_windows",
}


def thresholds_with_defaults(given: dict[str, Any] | None) -> dict[str, float]:
    unknown = set(given or {}) - THRESHOLD_NAMES
    if unknown:
        raise InvalidInput(
            f"unknown threshold {sorted(unknown)[0]!r}: use {', '.join(sorted(THRESHOLD_NAMES))}"
        )
    merged = dict(DEFAULT_THRESHOLDS)
    for key, value in (given or {}).items():
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidInput(f"threshold {key}: expected a number ≥ 0, got {value!r}")
        merged[key] = float(value)
    if not 0 < merged["alpha"] < 1:
        raise InvalidInput("threshold alpha: must be between 0 and 1")
    return merged


@dataclass
class Finding:
    kind: str
    severity: str
    title: str
    details: dict[str, Any]


@dataclass
class Analysis:
    rows: int
    checks: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "checks": self.checks,
            "findings": [
                {"kind": f.kind, "severity": f.severity, "title": f.title, "details": f.details}
                for f in self.findings
            ],
        }


def analyse(
    profile: ReferenceProfile,
    table: pa.Table,
    thresholds: dict[str, Any] | None = None,
    *,
    model: str = "model",
    seed: int = 0,
) -> Analysis:
    """Run every applicable detector on `table` (telemetry.SCHEMA rows of one model)."""
    limits = thresholds_with_defaults(thresholds)
    result = Analysis(rows=table.num_rows)
    # each check needs min_rows of its own kind (vectors, summarised inferences, labels...)
    _features(profile, table, limits, model, seed, result)
    _summaries(profile, table, limits, model, result)
    _predictions(profile, table, limits, model, result)
    _feedback(profile, table, limits, model, result)
    if not result.checks:
        result.checks["skipped"] = f"fewer than min_rows {int(limits['min_rows'])} of any kind"
    return result


def _features(
    profile: ReferenceProfile,
    table: pa.Table,
    limits: dict[str, float],
    model: str,
    seed: int,
    result: Analysis,
) -> None:
    """Per-feature drift of the whole window and of each device's own rows (a drift on a few
    devices is diluted in the fleet's mix). With several devices the error budget is split:
    alpha/2 for the fleet's features, alpha/2 (Holm over devices x features) for the devices."""
    width = len(profile.feature_names)
    matrix, keep = telemetry.feature_matrix(table, width)
    if len(matrix) < limits["min_rows"]:
        return
    sketch = profile.features
    column = table["device"] if keep.all() else table["device"].filter(pa.array(keep))
    counts, tested = _binned(profile, matrix, column, limits)
    alpha = limits["alpha"] / 2 if tested else limits["alpha"]
    drift = detectors.compare_numeric(
        sketch.counts, counts, sketch.layout, sketch.std, alpha=alpha,
        min_effect=limits["min_effect"],
    )  # fmt: skip
    devices = _drifting_devices(profile, tested, alpha, limits["min_effect"])
    rows = drift.rows(profile.feature_names)
    result.checks["features"] = rows
    rng = np.random.default_rng(seed)
    sample = matrix[rng.choice(len(matrix), min(len(matrix), int(limits["mmd_rows"])), False)]
    scale = np.where(sketch.std > 0, sketch.std, 1.0)
    reference_rows, live_rows = (
        (profile.reservoir - sketch.mean) / scale,
        (sample - sketch.mean) / scale,
    )
    mmd, mmd_p = detectors.mmd_test(reference_rows, live_rows, seed=seed)
    auc, auc_p = detectors.classifier_test(reference_rows, live_rows, seed=seed)
    multivariate = {"mmd2": round(mmd, 6), "pvalue": mmd_p, "classifier_auc": round(auc, 6),
                    "classifier_pvalue": auc_p}  # fmt: skip
    result.checks["multivariate"] = multivariate
    on_devices = {name for device in devices for name in device["features"]}
    flagged = [i for i, row in enumerate(rows) if row["flagged"] or row["feature"] in on_devices]
    if flagged:
        names = [profile.feature_names[i] for i in flagged]
        strongest = max(
            [float(drift.effect[flagged].max())] + [d["effect"] for d in devices], default=0.0
        )
        severe = strongest >= 3 * limits["min_effect"] or len(flagged) >= 0.25 * width
        where = f" on {len(devices)} device(s)" if devices else ""
        result.findings.append(
            Finding(
                "data_drift",
                "critical" if severe else "warning",
                f"{model}: data drift in {len(names)} of {width} features{where} "
                f"({', '.join(names[:5])}{'...' if len(names) > 5 else ''})",
                {
                    "features": [rows[i] for i in flagged],
                    "devices": devices,
                    "multivariate": multivariate,
                },
            )
        )
    elif min(mmd_p, auc_p) < limits["alpha"] / 2:  # two tests of one family: alpha/2 each
        result.findings.append(
            Finding(
                "multivariate_drift",
                "info",
                f"{model}: the joint distribution of the features moved (MMD p={mmd_p:.3g}, "
                f"classifier AUC {auc:.2f} p={auc_p:.3g}) although no single feature did",
                {"multivariate": multivariate},
            )
        )


def _text_codes(column: pa.ChunkedArray) -> tuple[list[str | None], np.ndarray]:
    """The distinct values of a text column (plain or dictionary-encoded, as the store reads
    it) and each row's index into them; a missing value gets the index len(values)."""
    encoded = column if pa.types.is_dictionary(column.type) else column.dictionary_encode()
    encoded = encoded.unify_dictionaries()
    if encoded.num_chunks == 0:
        return [], np.zeros(0, dtype=np.intp)
    values = encoded.chunk(0).dictionary.to_pylist()
    codes = [
        pc.fill_null(chunk.indices, len(values)).to_numpy(zero_copy_only=False)
        for chunk in encoded.chunks
    ]
    return values, np.concatenate(codes).astype(np.intp)


DEVICE_BLOCK = 16  # devices compared at once: (16, features, slots) float64 temporaries


def _binned(
    profile: ReferenceProfile, matrix: np.ndarray, devices: pa.ChunkedArray,
    limits: dict[str, float],
) -> tuple[np.ndarray, list[tuple[str, int, np.ndarray, np.ndarray]]]:  # fmt: skip
    """The fleet's binned counts and, when two or more devices have `min_device_rows` rows,
    each such device's (name, rows, KS p-values, effects) against the reference (uncorrected:
    Holm comes over all of them together). One pass: the rows are grouped by device and each
    group is binned once; the fleet's counts are the sum of the groups'; devices are compared
    a block at a time, the reference's CDF computed once."""
    sketch = profile.features
    names, codes = _text_codes(devices)
    sizes = np.bincount(codes, minlength=len(names) + 1)
    tested = {c for c, name in enumerate(names) if name and sizes[c] >= limits["min_device_rows"]}
    if len(tested) < 2:
        return detectors.histogram(matrix, sketch.layout), []
    order = np.argsort(codes, kind="stable")
    grouped = matrix[order]
    bounds = np.concatenate([[0], np.cumsum(sizes)])

    def binned(code: int) -> np.ndarray:
        return detectors.histogram(grouped[bounds[code] : bounds[code + 1]], sketch.layout, 1)

    fleet = np.zeros((len(sketch.std), sketch.layout.slots), dtype=np.int64)
    found: list[tuple[str, int, np.ndarray, np.ndarray]] = []
    block: list[tuple[int, np.ndarray]] = []

    def compare() -> None:
        stack = np.stack([counts for _, counts in block])
        _, pvalues, _, effects = detectors.distances(
            sketch.counts, stack, sketch.layout, sketch.std
        )
        for (code, _), pvalue, effect in zip(block, pvalues, effects, strict=True):
            found.append((str(names[code]), int(sizes[code]), pvalue, effect))
        block.clear()

    with ThreadPoolExecutor(2) as pool:
        for code, counts in enumerate(pool.map(binned, range(len(sizes)))):
            fleet += counts
            if code in tested:
                block.append((code, counts))
                if len(block) == DEVICE_BLOCK:
                    compare()
    if block:
        compare()
    return fleet, sorted(found, key=lambda item: item[0])


def _drifting_devices(
    profile: ReferenceProfile,
    tested: list[tuple[str, int, np.ndarray, np.ndarray]],
    alpha: float,
    min_effect: float,
) -> list[dict[str, Any]]:
    """The devices whose own rows drift, each with its drifting features (Holm over every
    device x feature tested)."""
    if not tested:
        return []
    width = len(profile.feature_names)
    adjusted = detectors.holm(np.concatenate([pvalue for _, _, pvalue, _ in tested]))
    found = []
    for i, (name, count, _, effect) in enumerate(tested):
        hits = (adjusted[i * width : (i + 1) * width] < alpha) & (effect >= min_effect)
        if hits.any():
            found.append(
                {
                    "device": name,
                    "rows": count,
                    "features": [profile.feature_names[j] for j in np.flatnonzero(hits)],
                    "effect": round(float(effect[hits].max()), 6),
                }
            )
    return found


def _summaries(
    profile: ReferenceProfile,
    table: pa.Table,
    limits: dict[str, float],
    model: str,
    result: Analysis,
) -> None:
    width = len(profile.feature_names)
    live = telemetry.summary_counts(table, width).astype(np.float64)
    total = live.sum(axis=1)
    if total.max(initial=0) < limits["min_rows"]:
        return
    expected = _summary_reference(profile)
    rows, pvalues, shifts = [], [], []
    for j in range(width):
        outcome = detectors.compare_categorical(
            {str(k): float(v) for k, v in enumerate(expected[j])},
            {str(k): int(v) for k, v in enumerate(live[j])},
            reference_rows=profile.features.rows,
            alpha=1.0,
            min_shift=0.0,
        )
        pvalues.append(outcome.pvalue)
        shifts.append(outcome.total_variation)
    adjusted = detectors.holm(np.array(pvalues))
    for j, name in enumerate(profile.feature_names):
        flagged = bool(adjusted[j] < limits["alpha"] and shifts[j] >= limits["min_shift"])
        rows.append(
            {
                "feature": name,
                "pvalue": pvalues[j],
                "adjusted_pvalue": float(adjusted[j]),
                "total_variation": round(shifts[j], 6),
                "rows": int(total[j]),
                "flagged": flagged,
            }
        )
    result.checks["summaries"] = rows
    hits = [r for r in rows if r["flagged"]]
    if hits:
        result.findings.append(
            Finding(
                "data_drift",
                "warning",
                f"{model}: data drift in {len(hits)} of {width} features (device summaries: "
                f"{', '.join(str(r['feature']) for r in hits[:5])})",
                {"features": hits, "devices": []},
            )
        )


def _summary_reference(profile: ReferenceProfile) -> np.ndarray:
    """Reference shares of the ten summary bins per feature, from the fine histogram. Bin k
    holds the values v with edge[k-1] <= v < edge[k], so the reference counts below an edge
    stop before the fine slot holding the edge (where a discrete value equal to it lies)."""
    sketch = profile.features
    edges = sketch.summary_edges()
    slot = np.floor((edges - sketch.layout.low[:, None]) / sketch.layout.width[:, None]) + 1
    slot = np.clip(slot, 0, sketch.layout.bins + 1).astype(np.intp)
    cumulative = np.concatenate(
        [np.zeros((len(edges), 1), dtype=np.int64), np.cumsum(sketch.counts[:, :-1], axis=1)],
        axis=1,
    )
    below = np.take_along_axis(cumulative, slot, axis=1)
    total = cumulative[:, -1:]
    bounds = np.concatenate([np.zeros_like(total), below, total], axis=1)
    return np.asarray(np.diff(bounds, axis=1) / np.maximum(total, 1))


def _label_counts(column: pa.ChunkedArray, labels: list[str]) -> dict[str, int]:
    values, codes = _text_codes(column)
    counts = np.bincount(codes, minlength=len(values) + 1)[: len(values)]
    found: dict[str, int] = {}
    for value, count in zip(values, counts.tolist(), strict=True):
        if not count:
            continue
        name = str(value)
        if name not in labels and name.isdigit() and int(name) < len(labels):
            name = labels[int(name)]  # devices may send class indices
        found[name] = found.get(name, 0) + int(count)
    return found


def _predictions(
    profile: ReferenceProfile,
    table: pa.Table,
    limits: dict[str, float],
    model: str,
    result: Analysis,
) -> None:
    if profile.prediction_priors:
        counts = _label_counts(table["label"], profile.labels)
        if sum(counts.values()) >= limits["min_rows"]:
            drift = detectors.compare_categorical(
                profile.prediction_priors,
                counts,
                reference_rows=profile.prediction_rows,
                alpha=limits["alpha"],
                min_shift=limits["min_shift"],
            )
            result.checks["predictions"] = drift.record()
            if drift.flagged:
                new = f"; new classes {drift.new_categories}" if drift.new_categories else ""
                result.findings.append(
                    Finding(
                        "prediction_drift",
                        "warning",
                        f"{model}: the mix of predicted labels changed "
                        f"(total variation {drift.total_variation:.2f}){new}",
                        drift.record(),
                    )
                )
    for name, sketch in (("confidence", profile.confidence), ("anomaly", profile.anomaly)):
        if sketch is None:
            continue
        values = pc.drop_null(table[name]).to_numpy().astype(np.float64)
        if len(values) < limits["min_rows"]:
            continue
        moved = detectors.compare_numeric(
            sketch.counts,
            detectors.histogram(values[:, None], sketch.layout, threads=1),
            sketch.layout,
            sketch.std,
            alpha=limits["alpha"],
            min_effect=limits["min_effect"],
        )
        [row] = moved.rows([name])
        row["live_mean"] = round(float(values.mean()), 6)
        row["reference_mean"] = round(float(sketch.mean[0]), 6)
        result.checks[name] = row
        if name == "confidence" and profile.confidence_threshold is not None:
            estimate = detectors.estimated_accuracy(values, profile.confidence_threshold)
            result.checks["estimated_accuracy"] = {
                "estimated": round(estimate, 6),
                "reference": profile.accuracy,
                "method": "average thresholded confidence",
            }
            if (
                profile.accuracy is not None
                and profile.accuracy - estimate >= limits["min_accuracy_drop"]
                and row["flagged"]
            ):
                result.findings.append(
                    Finding(
                        "estimated_accuracy",
                        "warning",
                        f"{model}: estimated accuracy {estimate:.1%} (no labels; reference "
                        f"{profile.accuracy:.1%})",
                        {**result.checks["estimated_accuracy"], "confidence": row},
                    )
                )
        if row["flagged"]:
            result.findings.append(
                Finding(
                    f"{name}_drift",
                    "warning",
                    f"{model}: {name} distribution moved (mean {row['live_mean']:.3g}, "
                    f"reference {row['reference_mean']:.3g})",
                    row,
                )
            )


def _feedback(
    profile: ReferenceProfile,
    table: pa.Table,
    limits: dict[str, float],
    model: str,
    result: Analysis,
) -> None:
    if profile.accuracy is None:
        return
    rows = table.filter(pc.and_(pc.is_valid(table["feedback"]), pc.is_valid(table["label"])))
    if rows.num_rows == 0:
        return
    labels = profile.labels
    predicted = [
        labels[int(p)] if p not in labels and p.isdigit() and int(p) < len(labels) else p
        for p in rows["label"].to_pylist()
    ]
    correct = np.array(
        [p == t for p, t in zip(predicted, rows["feedback"].to_pylist(), strict=True)]
    )
    drift = detectors.accuracy_drop(
        correct,
        profile.accuracy,
        alpha=limits["alpha"],
        min_drop=limits["min_accuracy_drop"],
    )
    result.checks["accuracy"] = drift.record()
    if drift.flagged:
        result.findings.append(
            Finding(
                "accuracy",
                "critical",
                f"{model}: accuracy on feedback labels {drift.live_accuracy:.1%} over "
                f"{drift.labelled} labelled inferences (reference {drift.reference_accuracy:.1%})",
                drift.record(),
            )
        )
