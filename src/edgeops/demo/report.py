"""The demo's HTML report: the stages with their timings and numbers, the plots the demo wrote,
and the drift over time (the strongest feature shift the monitor saw at each check, and the
oracle's accuracy on the normal and the drifted watches)."""

import html
import json
from pathlib import Path
from typing import Any

from edgeops.demo.loop import Journal

PLOTS = (
    ("drift.png", "Drift over time: strongest shift seen by the monitor, accuracy by group"),
    ("features.png", "Features of dataset version 1: how well they separate the activities"),
    ("confusion.png", "Confusion matrix of the first model on the held-out windows"),
)


def drift_chart(journal: Journal, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    checks = journal.checks
    x = list(range(len(checks)))
    names = [f"{c['phase']}\n({c['model']})" for c in checks]
    figure, (shift, accuracy) = plt.subplots(1, 2, figsize=(11, 4))
    shift.plot(x, [c["strongest"] for c in checks], "o-", color="tab:red", label="strongest shift")
    shift.plot(x, [c["fleet"] for c in checks], "s--", color="tab:gray", label="whole fleet")
    threshold = journal.facts.get("min_effect")
    if threshold:
        shift.axhline(threshold, color="black", lw=0.8, ls=":", label="alert threshold")
    shift.set_ylabel("feature shift (reference std)")
    shift.set_xticks(x, names)
    shift.legend()
    for group, colour in (("normal", "tab:blue"), ("drifted", "tab:orange")):
        values = [c["accuracy"].get(group) for c in checks]
        accuracy.plot(
            x,
            [v if v is not None else float("nan") for v in values],
            "o-",
            color=colour,
            label=f"{group} watches",
        )
    accuracy.set_ylim(0, 1.05)
    accuracy.set_ylabel("accuracy on the oracle's labels")
    accuracy.set_xticks(x, names)
    accuracy.legend()
    figure.tight_layout()
    figure.savefig(out, format="png", dpi=90)
    plt.close(figure)


def _value(value: Any) -> str:
    if isinstance(value, dict | list):
        return html.escape(json.dumps(value, default=str))
    return html.escape(str(value))


def write(folder: Path, journal: Journal, url: str | None) -> Path:
    drift_chart(journal, folder / "drift.png")
    total = sum(s.seconds for s in journal.stages)
    rows = "".join(
        f"<tr><td>{html.escape(s.title)}</td><td>{s.seconds:.1f} s</td>"
        f"<td>{html.escape(s.outcome)}</td><td>"
        + "<br>".join(f"<b>{html.escape(k)}</b>: {_value(v)}" for k, v in s.numbers.items())
        + "</td></tr>"
        for s in journal.stages
    )
    plots = "".join(
        f"<figure><img src='{name}' alt='{html.escape(caption)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        for name, caption in PLOTS
        if (folder / name).exists()
    )
    facts = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{_value(v)}</td></tr>" for k, v in journal.facts.items()
    )
    studio = f"<p>The server is still running: <a href='{url}/'>{url}</a></p>" if url else ""
    monitor = (
        "<p>The monitor's own report: <a href='monitor-report/index.html'>per-feature "
        "reference vs live</a></p>"
        if (folder / "monitor-report" / "index.html").exists()
        else ""
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>edgeops demo: the closed loop</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;width:100%;margin:1em 0}}td,th{{border:1px solid #ddd;
padding:4px 8px;vertical-align:top;text-align:left;font-size:14px}}img{{max-width:100%}}
figure{{margin:1.5em 0}}</style></head><body>
<h1>edgeops demo: the closed loop</h1>
<p>Import → version → train → test → build (C checked with gcc, Linux) → sign → roll out to
simulated watches → telemetry → drift on part of the fleet → alert → collect → retrain →
gate → release → roll out → drift cleared. Loop stages took {total:.0f} s.</p>{studio}
<h2>Stages</h2><table><tr><th>stage</th><th>time</th><th>outcome</th><th>numbers</th></tr>
{rows}</table>
<h2>Key numbers</h2><table>{facts}</table>{monitor}
<h2>Plots</h2>{plots}
</body></html>
"""
    out = folder / "report.html"
    out.write_text(page, encoding="utf-8")
    (folder / "summary.json").write_text(
        json.dumps(
            {
                "stages": [s.__dict__ for s in journal.stages],
                "checks": journal.checks,
                "facts": journal.facts,
            },
            indent=2,
            default=str,
        )
    )
    return out
