"""The detectors' numeric kernels against independent references (scipy, naive loops)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats

from edgeops.monitoring import detectors

finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


def _naive_histogram(rows: np.ndarray, layout: detectors.Layout) -> np.ndarray:
    out = np.zeros((rows.shape[1], layout.slots), dtype=np.int64)
    for j in range(rows.shape[1]):
        for value in rows[:, j].astype(np.float64):
            if np.isnan(value):
                out[j, -1] += 1
                continue
            k = int(np.floor((value - layout.low[j]) / layout.width[j])) + 1
            out[j, min(max(k, 0), layout.bins + 1)] += 1
    return out


@settings(max_examples=60, deadline=None)
@given(
    reference=arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 4)), elements=finite),
    live=arrays(np.float32, st.tuples(st.integers(1, 40), st.just(4)), elements=finite),
)
def test_histogram_counts_every_value_in_its_bin(reference: np.ndarray, live: np.ndarray) -> None:
    layout = detectors.layout_for(reference, bins=16)
    rows = live[:, : reference.shape[1]].copy()
    rows[::7, 0] = np.nan
    counts = detectors.histogram(rows, layout, threads=2)
    expected = _naive_histogram(rows, layout)
    assert counts.sum(axis=1).tolist() == [len(rows)] * rows.shape[1]
    assert counts[:, -1].tolist() == expected[:, -1].tolist()
    # float32 rounding may move a value lying on a bin edge into the next bin, nothing else
    position = (rows.astype(np.float64) - layout.low) / layout.width
    on_edge = (np.abs(position - np.round(position)) < 1e-3).sum(axis=0)
    cumulative_gap = np.abs(np.cumsum(counts, axis=1) - np.cumsum(expected, axis=1))
    assert (cumulative_gap.max(axis=1) <= on_edge).all()


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(st.integers(0, 15), min_size=1, max_size=200),
    b=st.lists(st.integers(0, 15), min_size=1, max_size=200),
)
def test_binned_ks_and_wasserstein_match_scipy_on_bin_centres(a: list[int], b: list[int]) -> None:
    """Values at bin centres lose nothing to binning: the statistics must equal scipy's."""
    layout = detectors.Layout(low=np.array([0.0]), width=np.array([1.0]), bins=16)
    x = np.array(a, dtype=np.float64) + 0.5
    y = np.array(b, dtype=np.float64) + 0.5
    ref = detectors.histogram(x[:, None], layout, threads=1)
    cur = detectors.histogram(y[:, None], layout, threads=1)
    drift = detectors.compare_numeric(ref, cur, layout, np.array([1.0]))
    assert drift.ks[0] == pytest.approx(stats.ks_2samp(x, y).statistic, abs=1e-12)
    assert drift.wasserstein[0] == pytest.approx(stats.wasserstein_distance(x, y), abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=0, max_size=50))
def test_holm_and_benjamini_hochberg_follow_their_definitions(pvalues: list[float]) -> None:
    p = np.array(pvalues)
    m = len(p)
    order = np.argsort(p, kind="stable")
    holm_naive = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        holm_naive[i] = running
    bh_naive = np.empty(m)
    for i in range(m):
        bh_naive[i] = min(
            1.0, min(p[order[k]] * m / (k + 1) for k in range(m) if p[order[k]] >= p[i])
        )
    assert np.allclose(detectors.holm(p), holm_naive)
    assert np.allclose(detectors.benjamini_hochberg(p), bh_naive)
    assert (detectors.holm(p) >= p - 1e-15).all()
    assert (detectors.benjamini_hochberg(p) <= detectors.holm(p) + 1e-12).all()


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.int64, st.tuples(st.integers(1, 5), st.integers(2, 12)), elements=st.integers(0, 50)),
    arrays(np.int64, st.tuples(st.integers(1, 5), st.integers(2, 12)), elements=st.integers(0, 50)),
)
def test_psi_and_jensen_shannon_are_divergences(p: np.ndarray, q: np.ndarray) -> None:
    q = np.resize(q, p.shape)
    assert (detectors.population_stability(p, q) >= -1e-12).all()
    assert np.allclose(detectors.population_stability(p, p), 0)
    js = detectors.jensen_shannon(p, q)
    assert ((js >= 0) & (js <= 1)).all()
    assert np.allclose(js, detectors.jensen_shannon(q, p))
    both = (p.sum(axis=1) > 0) & (q.sum(axis=1) > 0)
    from scipy.spatial.distance import jensenshannon

    for i in np.flatnonzero(both):
        assert js[i] == pytest.approx(jensenshannon(p[i], q[i], base=2), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    st.dictionaries(st.sampled_from("abcde"), st.integers(1, 100), min_size=2),
    st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 100), min_size=1),
)
def test_chi_square_matches_scipy_contingency(ref: dict[str, int], live: dict[str, int]) -> None:
    total = sum(ref.values())
    result = detectors.compare_categorical(
        {k: v / total for k, v in ref.items()}, live, reference_rows=total
    )
    names = sorted(set(ref) | set(live))
    table = np.array([[ref.get(k, 0) for k in names], [live.get(k, 0) for k in names]], float)
    table = table[:, table.sum(axis=0) > 0]
    if sum(live.values()) == 0 or table.shape[1] < 2:
        assert result.pvalue == 1.0
        return
    chi2, pvalue, _, _ = stats.chi2_contingency(table, correction=False)
    assert result.chi2 == pytest.approx(chi2, rel=1e-9)
    assert result.pvalue == pytest.approx(pvalue, rel=1e-6, abs=1e-300)
    assert result.new_categories == [k for k in names if k not in ref and live.get(k, 0) > 0]


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**31), st.integers(3, 12), st.integers(3, 12))
def test_mmd_equals_the_naive_double_sum(seed: int, n: int, m: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 3)), rng.normal(0.5, 1, size=(m, 3))
    mmd, pvalue = detectors.mmd_test(x, y, permutations=20, seed=seed)
    pooled = np.vstack([x, y])
    distances = np.array([[((a - b) ** 2).sum() for b in pooled] for a in pooled])
    upper = distances[np.triu_indices(len(pooled), 1)]
    kernel = np.exp(-distances / np.median(upper[upper > 0]))
    naive = kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()
    assert mmd == pytest.approx(naive, rel=1e-9, abs=1e-12)
    assert 0 < pvalue <= 1


def test_ks_pvalue_agrees_with_scipy_asymptotic() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=4000), rng.normal(0.05, 1, size=3000)
    exact = stats.ks_2samp(x, y, method="asymp")
    ours = detectors.ks_pvalue(np.array([exact.statistic]), 4000, 3000)[0]
    assert ours == pytest.approx(exact.pvalue, rel=0.15)


def test_confidence_threshold_recovers_the_reference_accuracy() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.3, 1, 5000)
    correct = rng.uniform(size=5000) < confidence
    threshold = detectors.confidence_threshold(confidence, correct)
    assert detectors.estimated_accuracy(confidence, threshold) == pytest.approx(
        correct.mean(), abs=1e-3
    )
