"""Seeded statistical behaviour of the streaming concept-drift detector (Page's CUSUM on the
feedback errors) and of the classifier two-sample test: false alarms within the configured
level over many trials, injected changes found within a stated number of labels or windows."""

import numpy as np
from scipy import stats
from tests.monitoring.test_statistics import _table

from edgeops.monitoring import analysis, detectors, reference

REFERENCE_ACCURACY = 0.9


def _errors(rng: np.random.Generator, n: int, error_rate: float) -> np.ndarray:
    return rng.uniform(size=n) < error_rate


def _most_false_alarms(trials: int, alpha: float) -> int:
    """What `trials` independent tests at level `alpha` exceed only once in a thousand runs."""
    return int(stats.binom.ppf(0.999, trials, alpha))


def test_cusum_false_alarm_rate_over_many_streams_stays_within_alpha() -> None:
    rng = np.random.default_rng(7)
    alpha, trials = 0.05, 2000
    alarms = sum(
        detectors.error_cusum(_errors(rng, 1000, 0.1), 0.1, 0.15, alpha).alarm is not None
        for _ in range(trials)
    )
    assert alarms <= _most_false_alarms(trials, alpha)
    assert alarms / trials <= alpha


def test_accuracy_drop_false_alarm_rate_over_many_windows_stays_within_alpha() -> None:
    """Both tests together (binomial on the window + CUSUM, alpha/2 each)."""
    rng = np.random.default_rng(8)
    alpha, trials = 0.05, 300
    flagged = sum(
        detectors.accuracy_drop(~_errors(rng, 500, 0.1), REFERENCE_ACCURACY, alpha=alpha).flagged
        for _ in range(trials)
    )
    assert flagged <= _most_false_alarms(trials, alpha)


def test_a_drop_at_the_end_of_a_window_is_found_within_600_labels() -> None:
    """Accuracy 90% for 4000 labels, then 80% for 1000. The whole window's accuracy (88%) is
    within min_drop (5 points) of the reference, so a test on the window alone cannot flag it;
    the CUSUM (expected delay h / drift = 13.8 / 0.035 = ~390 labels at alpha 0.01) does, and
    says where the change began."""
    rng = np.random.default_rng(9)
    trials, found, delays, starts = 200, 0, [], []
    for _ in range(trials):
        errors = np.concatenate([_errors(rng, 4000, 0.1), _errors(rng, 1000, 0.2)])
        drift = detectors.accuracy_drop(~errors, REFERENCE_ACCURACY)
        assert REFERENCE_ACCURACY - drift.live_accuracy < detectors.DEFAULT_MIN_ACCURACY_DROP
        assert drift.cusum is not None
        if drift.flagged and drift.cusum.alarm is not None and drift.cusum.alarm >= 4000:
            found += 1
            delays.append(drift.cusum.alarm - 4000)
            starts.append(drift.cusum.change_start)
    assert found >= 0.95 * trials
    assert np.quantile(delays, 0.95) <= 600
    assert abs(np.median(starts) - 4000) <= 150


def test_a_steady_model_better_than_its_reference_raises_nothing() -> None:
    rng = np.random.default_rng(10)
    drift = detectors.accuracy_drop(~_errors(rng, 5000, 0.05), REFERENCE_ACCURACY)
    assert not drift.flagged and drift.cusum is not None and drift.cusum.alarm is None


def _pair(rng: np.random.Generator, n: int, correlated: bool) -> np.ndarray:
    """16 standard normal features; with `correlated`, two pairs correlate at 0.8 (the
    marginals stay standard normal: no per-feature test can see it)."""
    X = rng.standard_normal((n, 16))
    if correlated:
        X[:, 1] = 0.8 * X[:, 0] + 0.6 * X[:, 1]
        X[:, 3] = 0.8 * X[:, 2] + 0.6 * X[:, 3]
    return X


def test_classifier_test_false_alarm_rate_stays_within_alpha() -> None:
    rng = np.random.default_rng(11)
    alpha, trials = 0.05, 80
    rejections = 0
    for seed in range(trials):
        auc, pvalue = detectors.classifier_test(
            _pair(rng, 200, False), _pair(rng, 200, False), permutations=100, seed=seed
        )
        assert 0.0 <= auc <= 1.0
        rejections += pvalue < alpha
    assert rejections <= _most_false_alarms(trials, alpha)


def test_classifier_test_finds_a_change_of_correlation_in_one_window() -> None:
    rng = np.random.default_rng(12)
    trials = 20
    found = sum(
        detectors.classifier_test(
            _pair(rng, 500, False), _pair(rng, 500, True), permutations=100, seed=seed
        )[1]
        < 0.01
        for seed in range(trials)
    )
    assert found >= 0.8 * trials


def test_analyse_reports_a_joint_change_no_single_feature_shows() -> None:
    rng = np.random.default_rng(13)
    names = [f"f{i}" for i in range(16)]
    profile = reference.build(_pair(rng, 20_000, False), names)
    live = _pair(rng, 5000, True).astype(np.float32)
    scores = np.tile([[0.7, 0.3]], (len(live), 1))
    result = analysis.analyse(profile, _table(rng, live, scores))
    assert not any(row["flagged"] for row in result.checks["features"])
    assert result.checks["multivariate"]["classifier_pvalue"] < 0.005
    assert [f.kind for f in result.findings] == ["multivariate_drift"]
