"""The monitoring report: an HTML page with PNG plots — per-feature reference vs live
distributions and drift scores per day — written into a folder."""

import html
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from edgeops.monitoring import detectors, telemetry
from edgeops.monitoring.analysis import analyse
from edgeops.monitoring.reference import ReferenceProfile

PLOTTED_FEATURES = 12
PLOT_BINS = 64


def _daily(profile: ReferenceProfile, table: pa.Table) -> tuple[list[str], np.ndarray]:
    """Per day: each feature's effect (Wasserstein-1 / std)."""
    if table.num_rows == 0:
        return [], np.zeros((0, len(profile.feature_names)))
    days = pc.strftime(table["time"], format="%Y-%m-%d").to_numpy(zero_copy_only=False)
    names = sorted(set(days.tolist()))
    sketch = profile.features
    effects = []
    for day in names:
        matrix, _ = telemetry.feature_matrix(table.filter(pa.array(days == day)), len(sketch.std))
        if len(matrix) == 0:
            effects.append(np.full(len(sketch.std), np.nan))
            continue
        drift = detectors.compare_numeric(
            sketch.counts, detectors.histogram(matrix, sketch.layout), sketch.layout, sketch.std
        )
        effects.append(drift.effect)
    return names, np.array(effects)


def _coarse(counts: np.ndarray, layout: detectors.Layout, j: int) -> tuple[np.ndarray, np.ndarray]:
    fine = counts[j, 1 : layout.bins + 1].astype(np.float64)
    group = layout.bins // PLOT_BINS
    density = fine.reshape(PLOT_BINS, group).sum(axis=1)
    density /= max(density.sum(), 1.0)
    centers = layout.low[j] + (np.arange(PLOT_BINS) + 0.5) * group * layout.width[j]
    return centers, density


def write(out: Path, title: str, profile: ReferenceProfile, table: pa.Table) -> dict[str, Any]:
    """Write `index.html`, `features.png` and `drift_over_time.png` into `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    analysis = analyse(profile, table, {"min_rows": 1}, model=title)
    rows = analysis.checks.get("features", [])
    order = sorted(range(len(rows)), key=lambda i: -rows[i]["effect"])[:PLOTTED_FEATURES]
    sketch = profile.features
    matrix, _ = telemetry.feature_matrix(table, len(profile.feature_names))
    live = detectors.histogram(matrix, sketch.layout) if len(matrix) else None
    columns = 4
    lines = max(1, -(-len(order) // columns))
    figure, axes = plt.subplots(lines, columns, figsize=(4 * columns, 2.6 * lines), squeeze=False)
    for slot, axis in enumerate(axes.flat):
        if slot >= len(order) or live is None:
            axis.axis("off")
            continue
        j = order[slot]
        centers, reference = _coarse(sketch.counts, sketch.layout, j)
        _, current = _coarse(live, sketch.layout, j)
        axis.step(centers, reference, where="mid", label="reference")
        axis.step(centers, current, where="mid", label="live")
        flag = " ⚑" if rows[j]["flagged"] else ""
        axis.set_title(f"{rows[j]['feature']}  effect {rows[j]['effect']:.2f}{flag}", fontsize=9)
        axis.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    figure.suptitle(f"{title}: reference vs live ({len(matrix)} rows)")
    figure.tight_layout()
    figure.savefig(out / "features.png", dpi=90)
    plt.close(figure)

    days, effects = _daily(profile, table)
    figure, axis = plt.subplots(figsize=(9, 4))
    for j in order[:8]:
        axis.plot(days, effects[:, j] if len(days) else [], marker="o", label=rows[j]["feature"])
    if days:
        axis.axhline(analysis_threshold(), linestyle="--", color="grey", label="min effect")
        axis.legend(fontsize=7, ncol=2)
    axis.set_ylabel("Wasserstein-1 / reference std")
    axis.set_title(f"{title}: drift per day")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(out / "drift_over_time.png", dpi=90)
    plt.close(figure)

    table_rows = "".join(
        f"<tr><td>{html.escape(r['feature'])}</td><td>{r['effect']:.3f}</td><td>{r['ks']:.3f}"
        f"</td><td>{r['psi']:.3f}</td><td>{r['adjusted_pvalue']:.2g}</td>"
        f"<td>{'yes' if r['flagged'] else ''}</td></tr>"
        for r in sorted(rows, key=lambda r: -r["effect"])
    )
    findings = "".join(
        f"<li><b>{html.escape(f.severity)}</b> {html.escape(f.title)}</li>"
        for f in analysis.findings
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(title)} monitoring</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;text-align:right}}</style>
</head><body><h1>{html.escape(title)}</h1><p>{table.num_rows} telemetry rows</p>
<h2>Findings</h2><ul>{findings or "<li>none</li>"}</ul>
<img src="features.png" alt="reference vs live per feature"><br>
<img src="drift_over_time.png" alt="drift per day">
<h2>Features</h2><table><tr><th>feature</th><th>effect (W1/std)</th><th>KS</th><th>PSI</th>
<th>adjusted p</th><th>flagged</th></tr>{table_rows}</table></body></html>"""
    (out / "index.html").write_text(page)
    return {
        "html": str(out / "index.html"),
        "plots": [str(out / "features.png"), str(out / "drift_over_time.png")],
        "rows": table.num_rows,
        "findings": [f.title for f in analysis.findings],
    }


def analysis_threshold() -> float:
    return detectors.DEFAULT_MIN_EFFECT
