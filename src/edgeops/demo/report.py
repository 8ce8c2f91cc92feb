"""The demo's HTML report: the stages with their timings and numbers, the plots the demo wrote,
and the drift over time (the strongest feature shift the monitor saw at each check, and the
oracle's accuracy on the normal and the drifted watches)."""

import html
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops.demo.loop import Journal

if TYPE_CHECKING:
    from rich.console import Console

PLOTS = (
    ("drift.png", "Drift over time: strongest shift seen by the monitor, accuracy by group"),
    ("features.png", "Features of dataset version 1: how well they separate the activities"),
    ("confusion.png", "Confusion matrix of the first model on the held-out windows"),
)


def drift_chart(journal: Journal, out: Path) -> None:
    """Left: per telemetry round, the strongest shift of any feature over the whole fleet, and
    at the end of each phase the monitor's check (which also tests each watch). Right: the
    oracle's accuracy per round on the normal and the drifted watches."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = journal.rounds
    x = list(range(1, len(rounds) + 1))
    figure, (shift, accuracy) = plt.subplots(1, 2, figsize=(12, 4.2))
    phases: dict[str, list[int]] = {}
    for index, item in zip(x, rounds, strict=True):
        phases.setdefault(f"{item['phase']} (v{item['model']})", []).append(index)
    for axis in (shift, accuracy):
        for number, (name, members) in enumerate(phases.items()):
            axis.axvspan(members[0] - 0.5, members[-1] + 0.5, alpha=0.08 * (number + 1),
                         color="tab:gray")  # fmt: skip
            axis.text((members[0] + members[-1]) / 2, 1.01, name, ha="center", va="bottom",
                      fontsize=8, transform=axis.get_xaxis_transform())  # fmt: skip
        axis.set_xlabel("telemetry round")
        axis.set_xticks(x)
    shift.plot(x, [r.get("shift", 0.0) for r in rounds], "o-", color="tab:gray",
               label="whole fleet, per round")  # fmt: skip
    ends = [members[-1] for members in phases.values()]
    shift.plot(ends[: len(journal.checks)], [c["strongest"] for c in journal.checks], "D",
               color="tab:red", markersize=9, label="monitor check (also per watch)")  # fmt: skip
    threshold = journal.facts.get("min_effect")
    if threshold:
        shift.axhline(threshold, color="black", lw=0.8, ls=":", label="alert threshold")
    shift.set_ylabel("strongest feature shift (reference std)")
    shift.legend(fontsize=8)
    for group, colour in (("normal", "tab:blue"), ("drifted", "tab:orange")):
        values = [r["accuracy"].get(group) for r in rounds]
        accuracy.plot(x, [v if v is not None else float("nan") for v in values], "o-",
                      color=colour, label=f"{group} watches")  # fmt: skip
    accuracy.set_ylim(0, 1.05)
    accuracy.set_ylabel("accuracy on the oracle's labels")
    accuracy.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    figure.savefig(out, format="png", dpi=90)
    plt.close(figure)


def key_numbers(journal: Journal) -> list[tuple[str, str]]:
    """The loop in a dozen lines, from what the stages recorded."""
    facts, checks = journal.facts, {c["phase"]: c for c in journal.checks}
    alert, retrain = facts.get("alert", {}), facts.get("retrain", {})
    gate = retrain.get("gate", {})
    drift, after = checks.get("drift", {}), checks.get("after retraining", {})
    drifted = facts.get("drifted", [])
    rows = [
        ("fleet", f"{facts.get('watches')} simulated watches; {len(drifted)} got the units "
                  f"bug (x 9.81 on the accelerometer)"),
        ("alert", f"#{alert.get('id')} on {facts.get('production')}: names "
                  f"{len(alert.get('devices', []))} of the {len(drifted)} drifted watches (and no "
                  f"other), {len(alert.get('features', []))} features"),
        ("strongest shift", f"{drift.get('strongest')} std while drifting, "
                            f"{after.get('strongest')} after retraining (alert from "
                            f"{facts.get('min_effect')})"),
        ("oracle accuracy on the drifted watches",
         f"{drift.get('accuracy', {}).get('drifted')} with {drift.get('model')}, "
         f"{after.get('accuracy', {}).get('drifted')} with {after.get('model')}"),
        ("collected", f"{facts.get('collected')} windows from the new condition, labelled by "
                      "the demo's oracle (the simulator's ground truth)"),
        ("retraining", f"run #{retrain.get('run')} started by alert #{alert.get('id')}: "
                       f"{retrain.get('model')} on dataset {str(retrain.get('dataset'))[:12]}"),
        ("gate", f"{gate.get('candidate')} {gate.get('accuracy')} vs production "
                 f"{gate.get('baseline')} {gate.get('baseline_accuracy')} on the same testing "
                 f"split: {gate.get('reason')}"),
        ("shipped", f"{retrain.get('release')} (rollout {retrain.get('rollout')}) on every watch"),
        ("after retraining", f"{after.get('findings')} findings, active alerts: "
                             f"{facts.get('active after', 'none')}"),
        ("loop time", f"{sum(s.seconds for s in journal.stages):.0f} s of stages"),
    ]  # fmt: skip
    return rows


def print_summary(console: "Console", journal: Journal) -> None:
    """The closing table in the terminal: every stage with its time and outcome, then the key
    numbers."""
    from rich.table import Table

    stages = Table(title="the closed loop", title_justify="left")
    for column in ("stage", "time", "outcome"):
        stages.add_column(column, justify="right" if column == "time" else "left")
    for stage in journal.stages:
        stages.add_row(stage.title, f"{stage.seconds:.1f} s", stage.outcome)
    console.print(stages)
    numbers = Table(show_header=False, box=None, padding=(0, 2))
    for name, value in key_numbers(journal):
        numbers.add_row(f"[bold]{name}[/]", value)
    console.print(numbers)


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
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in key_numbers(journal)
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
                "rounds": journal.rounds,
                "facts": journal.facts,
            },
            indent=2,
            default=str,
        )
    )
    return out
