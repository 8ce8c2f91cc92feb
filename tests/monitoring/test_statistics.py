"""Seeded statistical behaviour of the detectors: false alarms stay within the configured level
on held-out reference data, and injected shifts are found within a stated number of windows.

Reference: 20,000 rows of 40 features of mixed shapes (normal, log-normal, uniform, counts).
Defaults: alpha 0.01 (Holm over the 40 features), minimum effect 0.1 reference std."""

import numpy as np
import pyarrow as pa
import pytest

from edgeops.monitoring import analysis, detectors, reference, telemetry

FEATURES = 40
LABELS = ["idle", "walk", "run", "fall"]
PRIORS = np.array([0.4, 0.3, 0.2, 0.1])


def _rows(rng: np.random.Generator, n: int) -> np.ndarray:
    X = np.empty((n, FEATURES), np.float32)
    X[:, :20] = rng.standard_normal((n, 20))
    X[:, 20:30] = rng.lognormal(0, 0.5, (n, 10))
    X[:, 30:35] = rng.uniform(-1, 1, (n, 5))
    X[:, 35:] = rng.poisson(3, (n, 5))
    return X


def _scores(rng: np.random.Generator, n: int, priors: np.ndarray = PRIORS) -> np.ndarray:
    """Class scores whose argmax follows `priors`, confident like a decent model."""
    chosen = rng.choice(len(priors), size=n, p=priors / priors.sum())
    logits = rng.normal(0, 1, (n, len(priors)))
    logits[np.arange(n), chosen] += 3
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


@pytest.fixture(scope="module")
def profile() -> reference.ReferenceProfile:
    rng = np.random.default_rng(1)
    X = _rows(rng, 20_000)
    scores = _scores(rng, 5000)
    truth = scores.argmax(axis=1)
    wrong = rng.uniform(size=5000) < 0.1  # a 90% accurate model
    truth[wrong] = (truth[wrong] + 1) % len(LABELS)
    names = [f"f{i}" for i in range(FEATURES)]
    built = reference.build(X, names, labels=LABELS, y=truth, scores=scores, seed=0)
    return reference.ReferenceProfile.from_bytes(built.to_bytes())


def _flags(profile: reference.ReferenceProfile, live: np.ndarray) -> np.ndarray:
    sketch = profile.features
    counts = detectors.histogram(live, sketch.layout)
    return detectors.compare_numeric(sketch.counts, counts, sketch.layout, sketch.std).flagged


def _table(
    rng: np.random.Generator,
    features: np.ndarray | None,
    scores: np.ndarray,
    feedback: list[str | None] | None = None,
) -> pa.Table:
    n = len(scores)
    labels = [LABELS[i] if i < len(LABELS) else f"new-{i}" for i in scores.argmax(axis=1)]
    columns = {
        "time": pa.array(np.full(n, 1_700_000_000_000, dtype="datetime64[ms]")),
        "device": ["d1"] * n,
        "model": np.ones(n, np.int32),
        "label": labels,
        "confidence": scores.max(axis=1).astype(np.float32),
        "features": None if features is None else list(features),
        "feedback": feedback,
    }
    return pa.table(
        {
            name: columns.get(name) if columns.get(name) is not None else pa.nulls(n, field.type)
            for name, field in zip(telemetry.SCHEMA.names, telemetry.SCHEMA, strict=True)
        },
        schema=telemetry.SCHEMA,
    )


def test_false_alarm_rate_on_held_out_reference_data_stays_within_alpha(
    profile: reference.ReferenceProfile,
) -> None:
    rng = np.random.default_rng(7)
    trials = 400
    alarms = sum(bool(_flags(profile, _rows(rng, 500)).any()) for _ in range(trials))
    # alpha = 0.01 family-wise; allow three binomial standard errors over 400 windows
    assert alarms / trials <= 0.01 + 3 * np.sqrt(0.01 * 0.99 / trials)


@pytest.mark.parametrize("seed", range(5))
def test_mean_shift_of_a_fifth_sigma_on_3_of_40_features_is_found_in_the_first_window(
    profile: reference.ReferenceProfile, seed: int
) -> None:
    rng = np.random.default_rng(100 + seed)
    shifted = [3, 22, 31]  # a normal, a log-normal and a uniform feature
    for _ in range(2):  # two windows of 2,000 rows: each must find all three, nothing else
        live = _rows(rng, 2000)
        live[:, shifted] += 0.2 * profile.features.std[shifted]
        assert np.flatnonzero(_flags(profile, live)).tolist() == shifted


@pytest.mark.parametrize("seed", range(5))
def test_sensor_gain_change_is_found_in_the_first_window(
    profile: reference.ReferenceProfile, seed: int
) -> None:
    rng = np.random.default_rng(200 + seed)
    live = _rows(rng, 2000)
    live[:, [5, 6]] *= 1.3  # a miscalibrated axis: 30% gain
    assert np.flatnonzero(_flags(profile, live)).tolist() == [5, 6]


def test_shift_below_the_minimum_effect_is_not_flagged_however_many_rows(
    profile: reference.ReferenceProfile,
) -> None:
    rng = np.random.default_rng(300)
    live = _rows(rng, 200_000)
    live[:, 3] += 0.04  # significant with 200k rows, but below 0.1 std
    sketch = profile.features
    drift = detectors.compare_numeric(
        sketch.counts, detectors.histogram(live, sketch.layout), sketch.layout, sketch.std
    )
    assert drift.adjusted_pvalue[3] < 0.01
    assert not drift.flagged.any()


def test_label_prior_change_is_found_and_a_stable_mix_is_not(
    profile: reference.ReferenceProfile,
) -> None:
    rng = np.random.default_rng(400)
    stable = analysis.analyse(profile, _table(rng, None, _scores(rng, 1000)))
    assert stable.findings == []
    moved = _scores(rng, 1000, np.array([0.2, 0.3, 0.2, 0.3]))  # falls became frequent
    result = analysis.analyse(profile, _table(rng, None, moved))
    assert [f.kind for f in result.findings] == ["prediction_drift"]
    assert result.findings[0].details["total_variation"] > 0.15


def test_a_new_class_appearing_is_named(profile: reference.ReferenceProfile) -> None:
    rng = np.random.default_rng(500)
    scores = np.hstack([_scores(rng, 1000), np.zeros((1000, 1))])
    scores[:100, 4] = 2.0  # 10% of the predictions are a label the model never produced
    result = analysis.analyse(profile, _table(rng, None, scores))
    drift = result.checks["predictions"]
    assert drift["flagged"] and drift["new_categories"] == ["new-4"]


def test_accuracy_drop_from_feedback_is_found_and_steady_accuracy_is_not(
    profile: reference.ReferenceProfile,
) -> None:
    rng = np.random.default_rng(600)
    false_alarms = 0
    for _ in range(200):
        correct = rng.uniform(size=300) < 0.9
        false_alarms += detectors.accuracy_drop(correct, 0.9).flagged
    assert false_alarms / 200 <= 0.01 + 3 * np.sqrt(0.01 * 0.99 / 200)
    stream = np.concatenate([rng.uniform(size=1500) < 0.9, rng.uniform(size=1500) < 0.7])
    drift = detectors.accuracy_drop(stream[1500:], 0.9)
    assert drift.flagged and drift.live_accuracy == pytest.approx(0.7, abs=0.05)
    changes = detectors.accuracy_drop(stream, 0.9).change_points
    assert changes and 1500 <= changes[0] <= 1500 + 300  # ADWIN sees it within 300 labels


def test_accuracy_drift_through_analyse_uses_feedback_labels(
    profile: reference.ReferenceProfile,
) -> None:
    rng = np.random.default_rng(700)
    scores = _scores(rng, 1000)
    predicted = [LABELS[i] for i in scores.argmax(axis=1)]
    feedback = [p if rng.uniform() < 0.6 else "fall" for p in predicted]
    result = analysis.analyse(profile, _table(rng, None, scores, feedback))
    assert result.checks["accuracy"]["flagged"]
    assert "accuracy" in [f.kind for f in result.findings]


def test_confidence_drop_lowers_the_estimated_accuracy(
    profile: reference.ReferenceProfile,
) -> None:
    rng = np.random.default_rng(800)
    steady = analysis.analyse(profile, _table(rng, None, _scores(rng, 2000)))
    assert steady.checks["estimated_accuracy"]["estimated"] == pytest.approx(0.9, abs=0.03)
    unsure = _scores(rng, 2000) ** 0.3  # flatter scores: the model hesitates
    unsure /= unsure.sum(axis=1, keepdims=True)
    result = analysis.analyse(profile, _table(rng, None, unsure))
    assert result.checks["estimated_accuracy"]["estimated"] < 0.7
    assert {"confidence_drift", "estimated_accuracy"} <= {f.kind for f in result.findings}


def test_analyse_names_the_drifting_features(profile: reference.ReferenceProfile) -> None:
    rng = np.random.default_rng(900)
    live = _rows(rng, 2000)
    live[:, [1, 2]] += 0.5
    result = analysis.analyse(profile, _table(rng, live, _scores(rng, 2000)))
    [finding] = [f for f in result.findings if f.kind == "data_drift"]
    assert [f["feature"] for f in finding.details["features"]] == ["f1", "f2"]
    assert finding.details["devices"] == []  # one device: nothing to single out


def test_microcontroller_summaries_find_the_shifted_features(
    profile: reference.ReferenceProfile,
) -> None:
    """Devices that send per-feature counts in the reference's ten equal-mass bins instead of
    vectors: a 0.3 std shift on two features shows, nothing else does."""
    rng = np.random.default_rng(1000)
    edges = profile.features.summary_edges()

    def summary(live: np.ndarray) -> list[int]:
        counts = [
            np.bincount(np.searchsorted(edges[j], live[:, j], side="right"), minlength=10)
            for j in range(FEATURES)
        ]
        return np.concatenate(counts).tolist()

    steady = [summary(_rows(rng, 500)) for _ in range(4)]
    live = _rows(rng, 2000)
    live[:, [4, 21]] += 0.3 * profile.features.std[[4, 21]]
    for reports, expected in ((steady, []), ([summary(live)], ["f4", "f21"])):
        table = telemetry.parse([{"model": 1, "h": r} for r in reports]).table
        result = analysis.analyse(profile, table)
        flagged = [r["feature"] for r in result.checks["summaries"] if r["flagged"]]
        assert flagged == expected
