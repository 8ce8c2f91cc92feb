"""Drift and performance detectors: vectorised numeric kernels on numpy arrays.

Numeric features are compared through fine histograms on a layout fixed by the reference
(`BINS` equal bins over the reference's robust range, plus an under-, an overflow and a missing
bin per feature). One pass over the live rows bins every feature at once; the two-sample
Kolmogorov-Smirnov statistic, the Wasserstein-1 distance, PSI and Jensen-Shannon distance then
come from the binned CDFs in microseconds. Binning only coarsens the CDFs, so the KS statistic
can only shrink: the test stays conservative (no extra false alarms) and loses a resolution of
about 1/500 of the reference's range.

A feature is *flagged* when its KS p-value, corrected for testing many features at once (Holm:
the family-wise error rate stays at `alpha`), is below `alpha` AND its effect (Wasserstein-1 in
units of the reference's standard deviation: a mean shift of 0.2std has effect 0.2) reaches
`min_effect`. Significance alone flags harmless wiggles once a fleet sends millions of rows; an
effect size alone cries wolf on small windows.
"""

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse, special, stats

BINS = 2048
CHUNK_ROWS = 65_536
DEFAULT_ALPHA = 0.01
DEFAULT_MIN_EFFECT = 0.1  # Wasserstein-1 / reference std
DEFAULT_MIN_SHIFT = 0.05  # total variation distance between category distributions
DEFAULT_MIN_ACCURACY_DROP = 0.05
PSI_BINS = 10


@dataclass(frozen=True)
class Layout:
    """Where each feature's bins lie: bin k of feature j covers
    [low[j] + (k-1)·width[j], low[j] + k·width[j]) for k in 1..BINS; 0 is below, BINS+1 above,
    BINS+2 missing (NaN)."""

    low: np.ndarray  # (features,) float64
    width: np.ndarray  # (features,) float64, > 0
    bins: int = BINS

    @property
    def slots(self) -> int:
        return self.bins + 3


def layout_for(reference: np.ndarray, bins: int = BINS) -> Layout:
    """Bins over each feature's 0.1-99.9% range of `reference` (rows x features), widened by
    half that range on either side so that moderate shifts stay inside the fine bins."""
    data = np.asarray(reference, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError("reference must be a non-empty rows x features array")
    with np.errstate(all="ignore"):
        lo, hi = np.nanquantile(data, [0.001, 0.999], axis=0)
    lo = np.where(np.isfinite(lo), lo, 0.0)
    hi = np.where(np.isfinite(hi), hi, 0.0)
    span = np.maximum(hi - lo, np.maximum(np.abs(lo), 1.0) * 1e-6)
    low = lo - span / 2
    return Layout(low=low, width=(2 * span) / bins, bins=bins)


def histogram(rows: np.ndarray, layout: Layout, threads: int = 2) -> np.ndarray:
    """Counts per feature and slot, (features, BINS+3) int64, of `rows` (rows x features)."""
    data = np.asarray(rows)
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float64)
    if data.ndim != 2 or data.shape[1] != len(layout.low):
        raise ValueError(
            f"expected rows x {len(layout.low)} features, got shape {tuple(data.shape)}"
        )
    features, slots = data.shape[1], layout.slots
    offset = np.arange(features, dtype=np.float64) * slots
    low = layout.low.astype(data.dtype)
    scale = (1.0 / layout.width).astype(data.dtype)
    # (value - low)·scale + 1 + offset lands in [offset+1, offset+BINS+1) for the fine bins
    # (subtracting first keeps float32 exact for features far from zero); clipping to each
    # feature's own slot range makes under/overflow, and the floor (a cast, all values ≥ 0) the
    # slot index, every feature in one flat bincount.
    shift = (1.0 + offset).astype(data.dtype)
    floor = offset.astype(data.dtype)
    ceiling = (offset + layout.bins + 1).astype(data.dtype)
    missing = (offset + layout.bins + 2).astype(data.dtype)

    def count(chunk: np.ndarray) -> np.ndarray:
        scaled = chunk - low
        scaled *= scale
        scaled += shift
        np.clip(scaled, floor, ceiling, out=scaled)
        if not np.isfinite(chunk).all():
            scaled = np.where(np.isnan(chunk), missing, scaled)
        index = scaled.astype(np.intp)
        return np.bincount(index.ravel(), minlength=features * slots)

    chunks = [data[i : i + CHUNK_ROWS] for i in range(0, len(data), CHUNK_ROWS)]
    total = np.zeros(features * slots, dtype=np.int64)
    if threads > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(threads) as pool:
            for part in pool.map(count, chunks):
                total += part
    else:
        for chunk in chunks:
            total += count(chunk)
    return total.reshape(features, slots)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (family-wise error control), same order as given."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = np.minimum((m - np.arange(m)) * p[order], 1.0)
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def benjamini_hochberg(pvalues: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (false discovery rate control)."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return adjusted


def ks_pvalue(statistic: np.ndarray, n: np.ndarray | int, m: np.ndarray | int) -> np.ndarray:
    """Asymptotic two-sample KS p-value (Kolmogorov distribution, Stephens' small-sample
    correction) for sample sizes n and m."""
    n_arr = np.asarray(n, dtype=np.float64)
    m_arr = np.asarray(m, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        en = np.sqrt(n_arr * m_arr / (n_arr + m_arr))
        value = special.kolmogorov((en + 0.12 + 0.11 / en) * np.asarray(statistic))
    return np.where((n_arr > 0) & (m_arr > 0), np.clip(value, 0.0, 1.0), 1.0)


@dataclass(frozen=True)
class NumericDrift:
    """Per feature: the comparison of two binned samples."""

    ks: np.ndarray
    pvalue: np.ndarray
    adjusted_pvalue: np.ndarray
    wasserstein: np.ndarray  # in the feature's units
    effect: np.ndarray  # wasserstein / reference std
    psi: np.ndarray
    jensen_shannon: np.ndarray  # distance (square root of the divergence, base 2), in [0, 1]
    missing_rate: np.ndarray
    live_rows: np.ndarray
    flagged: np.ndarray  # bool

    def rows(self, names: Sequence[str]) -> list[dict[str, Any]]:
        return [
            {
                "feature": name,
                "ks": round(float(self.ks[i]), 6),
                "pvalue": float(self.pvalue[i]),
                "adjusted_pvalue": float(self.adjusted_pvalue[i]),
                "wasserstein": round(float(self.wasserstein[i]), 6),
                "effect": round(float(self.effect[i]), 6),
                "psi": round(float(self.psi[i]), 6),
                "jensen_shannon": round(float(self.jensen_shannon[i]), 6),
                "missing_rate": round(float(self.missing_rate[i]), 6),
                "rows": int(self.live_rows[i]),
                "flagged": bool(self.flagged[i]),
            }
            for i, name in enumerate(names)
        ]


def decile_edges(reference_counts: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Per feature, slot boundaries that split the reference into `bins` groups of about equal
    mass (features x bins+1 indices into the value slots, first 0, last BINS+2)."""
    values = reference_counts[:, :-1].astype(np.float64)
    cdf = np.cumsum(values, axis=1)
    cdf /= np.maximum(cdf[:, -1:], 1.0)
    targets = np.arange(1, bins) / bins
    inner = np.stack([np.searchsorted(row, targets, side="left") + 1 for row in cdf])
    slots = values.shape[1]
    return np.concatenate(
        [np.zeros((len(cdf), 1), dtype=np.int64), inner, np.full((len(cdf), 1), slots)], axis=1
    )


def _grouped(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    cumulative = np.concatenate([np.zeros((len(counts), 1)), np.cumsum(counts, axis=1)], axis=1)
    return np.diff(np.take_along_axis(cumulative, edges, axis=1), axis=1)


def population_stability(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """PSI per row of two count matrices over the same groups (zero counts floored at 1e-4)."""
    p = expected / np.maximum(expected.sum(axis=1, keepdims=True), 1)
    q = actual / np.maximum(actual.sum(axis=1, keepdims=True), 1)
    p, q = np.maximum(p, 1e-4), np.maximum(q, 1e-4)
    return np.asarray(((q - p) * np.log(q / p)).sum(axis=1))


def jensen_shannon(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance (base 2, in [0, 1]) per row of two count matrices."""
    p = expected / np.maximum(expected.sum(axis=1, keepdims=True), 1)
    q = actual / np.maximum(actual.sum(axis=1, keepdims=True), 1)
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        left = np.where(p > 0, p * np.log2(p / mid), 0.0).sum(axis=1)
        right = np.where(q > 0, q * np.log2(q / mid), 0.0).sum(axis=1)
    return np.asarray(np.sqrt(np.clip((left + right) / 2, 0.0, 1.0)))


def distances(
    reference: np.ndarray, live: np.ndarray, layout: Layout, reference_std: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """KS statistic, its p-value, Wasserstein-1 and effect (W1 / reference std) of binned live
    counts against the reference's, for one sample (features x slots) or a stack of them
    (groups x features x slots, e.g. one per device: the reference's CDF is computed once)."""
    ref = reference[:, :-1].astype(np.float64)  # without the missing slot
    cur = live[..., :-1].astype(np.float64)
    n, m = ref.sum(axis=-1), cur.sum(axis=-1)
    ref_cdf = np.cumsum(ref, axis=-1) / np.maximum(n, 1)[:, None]
    cur_cdf = np.cumsum(cur, axis=-1)
    cur_cdf /= np.maximum(m, 1)[..., None]
    gap = np.abs(cur_cdf - ref_cdf, out=cur_cdf)
    ks = gap.max(axis=-1)
    pvalue = ks_pvalue(ks, n, m)
    # W1 = ∫|F - G|: the CDF gaps at the fine bin edges times the width (the under/overflow
    # slots contribute only their mass at the range's edge, a lower bound).
    edge_gaps = gap[..., :-1]  # at the fine bins' edges low + k·width, k = 0..BINS (trapezoids)
    wasserstein = (
        edge_gaps.sum(axis=-1) - (edge_gaps[..., 0] + edge_gaps[..., -1]) / 2
    ) * layout.width
    effect = wasserstein / np.maximum(np.asarray(reference_std, dtype=np.float64), 1e-12)
    return ks, pvalue, wasserstein, effect


def compare_numeric(
    reference: np.ndarray,
    live: np.ndarray,
    layout: Layout,
    reference_std: np.ndarray,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_effect: float = DEFAULT_MIN_EFFECT,
    correction: str = "holm",
) -> NumericDrift:
    """Compare binned counts (features x slots) of the reference and the live rows."""
    ks, pvalue, wasserstein, effect = distances(reference, live, layout, reference_std)
    adjust = holm if correction == "holm" else benjamini_hochberg
    adjusted = adjust(pvalue)
    ref = reference[:, :-1].astype(np.float64)
    cur = live[:, :-1].astype(np.float64)
    m = cur.sum(axis=1)
    edges = decile_edges(reference)
    expected, actual = _grouped(ref, edges), _grouped(cur, edges)
    total_live = live.sum(axis=1)
    flagged = (adjusted < alpha) & (effect >= min_effect) & (m > 0)
    return NumericDrift(
        ks=ks,
        pvalue=pvalue,
        adjusted_pvalue=adjusted,
        wasserstein=wasserstein,
        effect=effect,
        psi=population_stability(expected, actual),
        jensen_shannon=jensen_shannon(expected, actual),
        missing_rate=live[:, -1] / np.maximum(total_live, 1),
        live_rows=m,
        flagged=flagged,
    )


@dataclass(frozen=True)
class CategoricalDrift:
    """A categorical variable (labels, predictions) against its reference distribution."""

    chi2: float
    pvalue: float
    total_variation: float
    new_categories: list[str]
    live: dict[str, int]
    flagged: bool

    def record(self) -> dict[str, Any]:
        return {
            "chi2": round(self.chi2, 6),
            "pvalue": self.pvalue,
            "total_variation": round(self.total_variation, 6),
            "new_categories": self.new_categories,
            "live": self.live,
            "flagged": self.flagged,
        }


def compare_categorical(
    reference: dict[str, float],
    live: dict[str, int],
    *,
    reference_rows: int,
    alpha: float = DEFAULT_ALPHA,
    min_shift: float = DEFAULT_MIN_SHIFT,
) -> CategoricalDrift:
    """Chi-square test of live counts against reference proportions (a two-sample test: the
    reference is a sample of `reference_rows` too). A category the reference never saw is a
    shift by itself once it holds `min_shift` of the live rows."""
    names = sorted(set(reference) | set(live))
    p = np.array([float(reference.get(k, 0.0)) for k in names])
    p = p / p.sum() if p.sum() > 0 else p
    counts = np.array([float(live.get(k, 0)) for k in names])
    total = counts.sum()
    if total == 0 or reference_rows <= 0:
        return CategoricalDrift(0.0, 1.0, 0.0, [], dict(live), False)
    ref_counts = p * reference_rows
    table = np.vstack([ref_counts, counts])
    keep = table.sum(axis=0) > 0
    table = table[:, keep]
    if table.shape[1] < 2:
        chi2, pvalue = 0.0, 1.0
    else:
        expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
        chi2 = float(((table - expected) ** 2 / expected).sum())
        pvalue = float(stats.chi2.sf(chi2, table.shape[1] - 1))
    q = counts / total
    tvd = float(np.abs(p - q).sum() / 2)
    new = [k for k, ref_p, c in zip(names, p, counts, strict=True) if ref_p == 0 and c > 0]
    flagged = pvalue < alpha and tvd >= min_shift
    return CategoricalDrift(chi2, pvalue, tvd, new, {k: int(live[k]) for k in live}, flagged)


def mmd_test(
    reference: np.ndarray, live: np.ndarray, *, permutations: int = 200, seed: int = 0
) -> tuple[float, float]:
    """Maximum mean discrepancy (RBF kernel, median-distance bandwidth) between two samples of
    vectors, with a permutation p-value. Returns (MMD², p-value)."""
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(live, dtype=np.float64)
    if len(x) < 2 or len(y) < 2:
        return 0.0, 1.0
    pooled = np.vstack([x, y])
    squared = (pooled**2).sum(axis=1)
    distances = np.maximum(squared[:, None] + squared[None, :] - 2 * pooled @ pooled.T, 0.0)
    upper = distances[np.triu_indices(len(pooled), 1)]
    bandwidth = float(np.median(upper[upper > 0])) if (upper > 0).any() else 1.0
    kernel = np.exp(-distances / bandwidth)
    n, total = len(x), len(pooled)
    rng = np.random.default_rng(seed)
    signs = np.empty((permutations + 1, total))
    base = np.concatenate([np.full(n, 1.0 / n), np.full(total - n, -1.0 / (total - n))])
    signs[0] = base
    for i in range(1, permutations + 1):
        signs[i] = base[rng.permutation(total)]
    # MMD² (biased, V-statistic) of each labelling is a·K·a for weights a: one matrix product.
    values = ((signs @ kernel) * signs).sum(axis=1)
    observed = float(values[0])
    pvalue = float((1 + (values[1:] >= observed).sum()) / (permutations + 1))
    return observed, pvalue


def classifier_test(
    reference: np.ndarray,
    live: np.ndarray,
    *,
    neighbours: int | None = None,
    permutations: int = 200,
    seed: int = 0,
) -> tuple[float, float]:
    """Classifier two-sample test: how well a k-nearest-neighbour classifier tells the live
    vectors from the reference ones, as a cross-validated AUC with an exact permutation
    p-value. Returns (AUC, p-value); 0.5 means indistinguishable.

    Each vector is scored by the share of live vectors among its k nearest neighbours in the
    pooled sample, itself left out (leave-one-out cross-validation: no vector is scored by a
    classifier that saw its own label). The neighbour graph does not depend on the labels, so
    shuffling the labels over the fixed graph draws from the exact null distribution of the AUC:
    every permutation costs one sparse product, not a refit. kNN needs no model of the shift: a
    change of correlation between features, which no per-feature test sees, moves the AUC too.
    (Brute-force neighbours in numpy rather than scikit-learn's KNeighborsClassifier: the same
    classifier, without a refit per fold and without OpenMP threads fighting the server's.)"""
    from scipy.stats import rankdata

    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(live, dtype=np.float64)
    if len(x) < 5 or len(y) < 5:
        return 0.5, 1.0
    pooled = np.vstack([x, y])
    total = len(pooled)
    k = neighbours or int(np.clip(np.sqrt(total), 5, total - 1))
    squared = (pooled**2).sum(axis=1)
    distances = squared[:, None] + squared[None, :] - 2 * pooled @ pooled.T
    np.fill_diagonal(distances, np.inf)  # each point left out of its own neighbours
    nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]  # (total, k)
    rng = np.random.default_rng(seed)
    observed_labels = np.concatenate([np.zeros(len(x)), np.ones(len(y))])
    shuffled = rng.permuted(np.tile(observed_labels, (permutations, 1)), axis=1)
    labels = np.vstack([observed_labels, shuffled])
    # each row of `adjacency` averages a point's neighbours: every labelling scored at once
    adjacency = sparse.csr_matrix(
        (np.full(total * k, 1.0 / k), nearest.ravel(), np.arange(0, total * k + 1, k)),
        shape=(total, total),
    )
    scores = np.asarray((adjacency @ labels.T).T)  # (permutations + 1, total)
    ranks = rankdata(scores, axis=1)  # ties get their average rank
    positives = labels.astype(bool)
    n_pos, n_neg = len(y), len(x)
    # Mann-Whitney: AUC = (sum of the live vectors' ranks - n_pos(n_pos+1)/2) / (n_pos n_neg)
    auc = ((ranks * positives).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    observed = float(auc[0])
    pvalue = float((1 + (auc[1:] >= observed).sum()) / (permutations + 1))
    return observed, pvalue


@dataclass(frozen=True)
class ErrorCusum:
    """Page's CUSUM on a stream of errors (1 = wrong): when it alarmed and where the change
    most likely began (indices into the stream), None if it did not."""

    alarm: int | None
    change_start: int | None
    threshold: float
    statistic: float  # the largest CUSUM value reached


def error_cusum(
    errors: np.ndarray, reference_error: float, shifted_error: float, alpha: float
) -> ErrorCusum:
    """Streaming concept-drift detector: Page's CUSUM (the Page-Hinkley test with the
    reference's known error rate) for an error rate rising from `reference_error` to
    `shifted_error`, on the labelled inferences in arrival order.

    The statistic is S_t = C_t - min(0, min_{k<=t} C_k), with C the running sum of the
    log-likelihood ratios of each outcome; it alarms at S_t >= h. Each start k gives a
    likelihood-ratio martingale under no drift, which reaches e^h with probability at most
    e^-h (Ville); over the n starts of a stream of n labels, h = log(n / alpha) keeps the
    chance of any false alarm in the stream below `alpha`. A drop that begins mid-window is
    found after about h / KL(shifted || reference) labels from its start, where a test on the
    whole window's accuracy would still be diluted by the good labels before it. (river's
    PageHinkley and DDM estimate the mean as they go and have no such guarantee; its ADWIN
    still reports change points beside this.)"""
    e = np.asarray(errors, dtype=np.float64)
    n = int(e.size)
    p0 = float(np.clip(reference_error, 1e-4, 1 - 1e-4))
    p1 = float(np.clip(max(shifted_error, p0 + 1e-4), 1e-4, 1 - 1e-4))
    threshold = float(np.log(max(n, 1) / alpha))
    if n == 0:
        return ErrorCusum(None, None, threshold, 0.0)
    step = e * np.log(p1 / p0) + (1 - e) * np.log((1 - p1) / (1 - p0))
    running = np.cumsum(step)
    floor = np.minimum(np.minimum.accumulate(running), 0.0)
    statistic = running - floor
    above = np.flatnonzero(statistic >= threshold)
    if above.size == 0:
        return ErrorCusum(None, None, threshold, float(statistic.max()))
    alarm = int(above[0])
    before = np.concatenate([[0.0], running[:alarm]])  # C_0 = 0, C_1, ..., C_alarm
    start = int(np.argmin(before))  # the change began after `start` labels
    return ErrorCusum(alarm, start, threshold, float(statistic.max()))


@dataclass(frozen=True)
class AccuracyDrift:
    live_accuracy: float
    reference_accuracy: float
    labelled: int
    pvalue: float
    flagged: bool
    change_points: list[int]
    cusum: ErrorCusum | None = None

    def record(self) -> dict[str, Any]:
        return {
            "live_accuracy": round(self.live_accuracy, 6),
            "reference_accuracy": round(self.reference_accuracy, 6),
            "labelled": self.labelled,
            "pvalue": self.pvalue,
            "flagged": self.flagged,
            "change_points": self.change_points,
            "cusum_alarm": self.cusum.alarm if self.cusum else None,
            "cusum_change_start": self.cusum.change_start if self.cusum else None,
        }


def accuracy_drop(
    correct: np.ndarray,
    reference_accuracy: float,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_drop: float = DEFAULT_MIN_ACCURACY_DROP,
) -> AccuracyDrift:
    """Concept drift from feedback labels (in arrival order), two tests at alpha/2 each so the
    window's false-alarm rate stays within `alpha`: a one-sided binomial test that the window's
    accuracy is below the reference's (flagged when also at least `min_drop` lower), and the
    error CUSUM tuned to a drop of `min_drop` (finds a drop that began mid-window). Plus the
    change points river's ADWIN finds in the error stream, for the record."""
    hits = np.asarray(correct, dtype=bool)
    n = int(hits.size)
    if n == 0:
        return AccuracyDrift(float("nan"), reference_accuracy, 0, 1.0, False, [])
    k = int(hits.sum())
    live = k / n
    reference_error = 1.0 - min(max(reference_accuracy, 0.0), 1.0)
    pvalue = float(stats.binom.cdf(k, n, 1.0 - reference_error))
    cusum = error_cusum(~hits, reference_error, reference_error + min_drop, alpha / 2)
    flagged = (pvalue < alpha / 2 and reference_accuracy - live >= min_drop) or (
        cusum.alarm is not None
    )
    return AccuracyDrift(live, reference_accuracy, n, pvalue, flagged, adwin_changes(~hits), cusum)


def adwin_changes(errors: np.ndarray, delta: float = 0.002) -> list[int]:
    """Indices where river's ADWIN detects a change in the mean of a 0/1 error stream."""
    from river.drift import ADWIN

    detector = ADWIN(delta=delta)  # type: ignore[no-untyped-call]
    found = []
    for i, error in enumerate(np.asarray(errors, dtype=float).tolist()):
        detector.update(error)  # type: ignore[no-untyped-call]
        if detector.drift_detected:
            found.append(i)
    return found


def confidence_threshold(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Average thresholded confidence (Garg et al., 2022): the threshold t such that the share
    of reference predictions with confidence above t equals the reference accuracy."""
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.size == 0:
        return 0.5
    accuracy = float(np.asarray(correct, dtype=bool).mean())
    return float(np.quantile(conf, 1.0 - accuracy))


def estimated_accuracy(confidence: np.ndarray, threshold: float) -> float:
    """Accuracy expected without labels: the share of live confidences above the threshold."""
    conf = np.asarray(confidence, dtype=np.float64)
    return float((conf > threshold).mean()) if conf.size else float("nan")
