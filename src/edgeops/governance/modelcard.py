"""Model cards: what a model version is for, where it came from, how well it does (overall and
per group), what it costs on a device, what it is known not to do, and where it was released.

`model_card` gathers the facts as JSON-ready data (`facts`) and as titled sections of text,
bullet lists and tables; `to_markdown` and `to_html` render the sections, so both say the same."""

import html
import math
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from edgeops.governance import audit, privacy
from edgeops.store.tables import Job, ModelVersion, Project, Release, Rollout, WorkflowRun

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from edgeops.workspace import Workspace

SMALL_TEST_SET = 50  # testing windows below which the card warns that accuracy is uncertain
SMALL_GROUP = 10  # windows of a metadata group below which its accuracy is called anecdotal
WEAK_RECALL = 0.8
# Metadata the importers add for provenance (EI files' signing time and signature check): not
# groups anyone compares a model across.
PROVENANCE_KEYS = {"iat", "signature"}

Block = dict[str, Any]  # {"text": str} | {"items": [str]} | {"table": {"headers", "rows"}}
Section = dict[str, Any]  # {"title": str, "blocks": [Block]}


def _percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "-"


def _table(headers: list[str], rows: list[list[Any]]) -> Block:
    return {"table": {"headers": headers, "rows": [[str(cell) for cell in row] for row in rows]}}


def comparable_groups(testing: dict[str, Any]) -> dict[str, Any]:
    """The testing metrics' groups worth showing: more than one value, not provenance."""
    return {
        key: groups
        for key, groups in testing.get("groups", {}).items()
        if key not in PROVENANCE_KEYS and len(groups) > 1
    }


def builds(ws: "Workspace", session: "Session", model: ModelVersion) -> list[dict[str, Any]]:
    """The model's recorded builds (`build/<target>/<precision>` artifacts) with the archive's
    size and the newest `model.build` event's verification for that target and precision."""
    events = audit.events(session, model.project_id, 1000, action="model.build")
    result = []
    for key, digest in sorted(model.artifacts.items()):
        if not key.startswith("build/"):
            continue
        _, target, precision = key.split("/", 2)
        event = next(
            (
                e
                for e in events
                if e.target == f"model:v{model.number}"
                and e.details.get("target") == target
                and e.details.get("precision") == precision
            ),
            None,
        )
        details = event.details if event is not None else {}
        result.append(
            {
                "target": target,
                "precision": precision,
                "archive": digest,
                "archive_bytes": ws.blobs.fs.size(ws.blobs.path(digest)),
                "verified": details.get("verified"),
                "passed": details.get("passed"),
                "checks": details.get("checks", {}),
                "built_at": audit.canonical_time(event.at) if event is not None else None,
            }
        )
    return result


def releases(session: "Session", model: ModelVersion) -> list[dict[str, Any]]:
    """Fleet releases that ship the model, oldest first, with their rollouts."""
    found = session.scalars(
        select(Release).where(Release.model_version_id == model.id).order_by(Release.id)
    )
    result = []
    for release in found:
        rollouts = session.scalars(select(Rollout).where(Rollout.release_id == release.id))
        result.append(
            {
                "device_type": release.device_type,
                "version": release.version,
                "created_at": release.created_at.isoformat(),
                "created_by": release.created_by,
                "rollouts": [{"id": r.id, "group": r.group, "state": r.state} for r in rollouts],
            }
        )
    return result


def training_run(session: "Session", project: Project, model: ModelVersion) -> dict[str, Any]:
    """The workflow run whose train step registered the model, if one did."""
    query = (
        select(Job.run_id, Job.step, Job.output, WorkflowRun.workflow_name)
        .join(WorkflowRun, WorkflowRun.id == Job.run_id)
        .where(WorkflowRun.project_id == project.id, Job.kind == "train")
    )
    for row in session.execute(query):
        if (row.output or {}).get("model") == f"v{model.number}":
            return {"run": row.run_id, "workflow": row.workflow_name, "step": row.step}
    return {}


def limitations(model: ModelVersion, counts: dict[str, Any], built: list[Any]) -> list[str]:
    """What the evidence does not support, in plain words."""
    notes = []
    testing = model.metrics.get("testing", {})
    windows = testing.get("windows", 0)
    accuracy = testing.get("accuracy")
    if windows == 0:
        notes.append("No labelled testing windows: the model is untested.")
    elif windows < SMALL_TEST_SET and accuracy is not None:
        margin = 1.96 * math.sqrt(max(accuracy * (1 - accuracy), 1 / windows) / windows)
        notes.append(
            f"Small test set ({windows} windows): accuracy {_percent(accuracy)} is uncertain by "
            f"about ±{margin:.0%}."
        )
    trained = set(model.labels)
    testing_labels = {
        label for label, by in counts.get("labels", {}).items() if by.get("testing") and label
    }
    unseen = sorted(testing_labels - trained)
    if unseen:
        notes.append(
            f"Labels seen only in testing, never learned: {', '.join(unseen)} "
            f"({testing.get('unknown_label_windows', 0)} windows); the model cannot predict them."
        )
    for label, row in testing.get("per_class", {}).items():
        if row["support"] == 0:
            notes.append(f"No testing windows of {label!r}: its recall is untested.")
        elif row["recall"] < WEAK_RECALL:
            notes.append(f"Weak on {label!r}: recall {_percent(row['recall'])}.")
    for key, groups in comparable_groups(testing).items():
        small = [name for name, g in groups.items() if g["windows"] < SMALL_GROUP]
        if small:
            notes.append(
                f"Few testing windows for {key} = {', '.join(small)} (< {SMALL_GROUP} each): "
                "their accuracy is anecdotal."
            )
    if not built:
        notes.append("Not built for a device yet: the on-device footprint is unknown.")
    elif any(b["verified"] is False or b["passed"] is False for b in built):
        notes.append("Some builds were not verified against the Python model, or failed it.")
    return notes


def model_card(
    ws: "Workspace",
    model_ref: str,
    *,
    project: str | None = None,
    intended_use: str | None = None,
    fairness: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The card of `model_ref`: {"title", "facts", "sections"}. `fairness`: a report from
    `edgeops.governance.fairness.fairness_report` to include."""
    from edgeops.data import projects
    from edgeops.data import versions as dataset_versions
    from edgeops.training import registry

    with ws.session() as session:
        proj = projects.get(session, project or ws.settings.project)
        model = registry.get(session, proj, model_ref)
        summary = registry.summary(model, registry.aliases(session, proj).get(model.id))
        version = dataset_versions.get(session, proj, model.dataset_version_id)
        parent = session.get(ModelVersion, model.parent_id) if model.parent_id else None
        facts: dict[str, Any] = {
            "model": summary,
            "project": proj.name,
            "intended_use": intended_use or _default_use(model),
            "lineage": {
                "dataset_version": version.id,
                "dataset_message": version.message,
                "recipe": model.name,
                "recipe_hash": model.recipe_hash,
                "edgeops_version": model.edgeops_version,
                "blocks": model.blocks,
                "parent": f"v{parent.number}" if parent else None,
                "seed": model.seed,
                "created_by": model.created_by,
                "created_at": model.created_at.isoformat(),
                "training_run": training_run(session, proj, model),
            },
            "data": {"samples": version.sample_count, **version.counts},
            "builds": builds(ws, session, model),
            "releases": releases(session, model),
        }
        facts["retrain_required"] = privacy.retrain_required(session, model)
        facts["limitations"] = limitations(model, version.counts, facts["builds"])
        if facts["retrain_required"]:
            facts["limitations"].insert(0, (
                f"RETRAIN REQUIRED: {len(facts['retrain_required'])} erasure request(s) removed "
                "samples it was trained on; its dataset version is redacted."
            ))  # fmt: skip
    if fairness is not None:
        facts["fairness"] = fairness
    title = f"Model card: {model.name} v{model.number} ({proj.name})"
    return {"title": title, "facts": facts, "sections": _sections(facts)}


def _default_use(model: ModelVersion) -> str:
    kind = model.recipe.get("input", {}).get("kind", "sensor")
    what = {
        "classification": f"classify {kind} windows as one of {', '.join(model.labels)}",
        "regression": f"estimate a value from {kind} windows",
        "anomaly": f"flag {kind} windows unlike the training data",
    }.get(model.task, model.task)
    return f"Recipe {model.name!r}: {what}. (No intended use was stated; give --intended-use.)"


def _sections(facts: dict[str, Any]) -> list[Section]:
    model, lineage, data = facts["model"], facts["lineage"], facts["data"]
    testing = model["metrics"].get("testing", {})
    run = lineage["training_run"]
    sections: list[Section] = [
        {"title": "Intended use", "blocks": [{"text": facts["intended_use"]}]},
        {
            "title": "Lineage",
            "blocks": [
                {
                    "items": [
                        f"Dataset version `{lineage['dataset_version']}`: "
                        + lineage["dataset_message"],
                        f"Recipe `{lineage['recipe']}`, hash `{lineage['recipe_hash']}`",
                        f"Learner {model['learner']} ({model['task']}); blocks "
                        + ", ".join(f"{name} v{version}" for name, version in lineage["blocks"]),
                        f"edgeops {lineage['edgeops_version']}, seed {lineage['seed']}",
                        f"Parent model: {lineage['parent'] or 'none'}",
                        f"Trained by {lineage['created_by']} at {lineage['created_at']}"
                        + (f" in workflow {run['workflow']} run #{run['run']}" if run else ""),
                        f"Aliases: {', '.join(model['aliases']) or 'none'}",
                    ]
                }
            ],
        },
    ]
    label_rows = [
        [label or "(unlabelled)", by.get("training", 0), by.get("testing", 0)]
        for label, by in data.get("labels", {}).items()
    ]
    sections.append(
        {
            "title": "Training data",
            "blocks": [
                {
                    "text": f"{data['samples']} samples: "
                    + ", ".join(
                        f"{count} {category}"
                        for category, count in data.get("categories", {}).items()
                    )
                },
                _table(["label", "training samples", "testing samples"], label_rows),
            ],
        }
    )
    metric_blocks: list[Block] = []
    if "accuracy" in testing:
        metric_blocks.append(
            {
                "text": f"Testing split: {testing['windows']} windows, accuracy "
                f"{_percent(testing['accuracy'])}, macro F1 "
                f"{_percent(testing['macro']['f1'])}."
            }
        )
        metric_blocks.append(
            _table(
                ["label", "precision", "recall", "F1", "windows"],
                [
                    [
                        label,
                        _percent(r["precision"]),
                        _percent(r["recall"]),
                        _percent(r["f1"]),
                        r["support"],
                    ]
                    for label, r in testing["per_class"].items()
                ],
            )
        )
        for key, groups in comparable_groups(testing).items():
            metric_blocks.append({"text": f"By {key}:"})
            metric_blocks.append(
                _table(
                    [key, "windows", "accuracy"],
                    [[name, g["windows"], _percent(g["accuracy"])] for name, g in groups.items()],
                )
            )
    elif "mae" in testing:
        metric_blocks.append(
            {
                "text": f"MAE {testing['mae']}, RMSE {testing['rmse']}, "
                f"R² {testing['r2']} on {testing['windows']} windows."
            }
        )
    else:
        metric_blocks.append({"text": "No testing metrics were recorded."})
    sections.append({"title": "Metrics", "blocks": metric_blocks})
    if "fairness" in facts:
        sections.append(_fairness_section(facts["fairness"]))
    sections.append(
        {
            "title": "On-device footprint",
            "blocks": [
                _table(
                    ["target", "precision", "archive bytes", "verified", "checks"],
                    [
                        [
                            b["target"],
                            b["precision"],
                            b["archive_bytes"],
                            {True: "passed", False: "failed"}.get(b["passed"], "not verified"),
                            ", ".join(f"{k}={v}" for k, v in b["checks"].items()) or "-",
                        ]
                        for b in facts["builds"]
                    ],
                )
                if facts["builds"]
                else {"text": "No builds recorded (`edgeops build MODEL --target …`)."},
            ],
        }
    )
    sections.append(
        {
            "title": "Known limitations",
            "blocks": [{"items": facts["limitations"] or ["None found."]}],
        }
    )
    sections.append(
        {
            "title": "Release history",
            "blocks": [
                _table(
                    ["device type", "release", "created", "by", "rollouts"],
                    [
                        [
                            r["device_type"],
                            r["version"],
                            r["created_at"][:19],
                            r["created_by"],
                            ", ".join(
                                f"#{o['id']} {o['group'] or 'all'} {o['state']}"
                                for o in r["rollouts"]
                            )
                            or "-",
                        ]
                        for r in facts["releases"]
                    ],
                )
                if facts["releases"]
                else {"text": "Not released to the fleet."},
            ],
        }
    )
    return sections


def _fairness_section(report: dict[str, Any]) -> Section:
    disparities = report["disparities"]
    verdict = "passes" if report["passed"] else "fails: " + "; ".join(report["reasons"])
    return {
        "title": f"Fairness by {report['by']}",
        "blocks": [
            {
                "text": f"Accuracy gap {disparities['accuracy_gap']}, equalized odds difference "
                f"{disparities['equalized_odds_difference']}, demographic parity difference "
                f"{disparities['demographic_parity_difference']}; threshold "
                f"{report['threshold']} {verdict}."
            },
            _table(
                [report["by"], "windows", "accuracy", "recall"],
                [
                    [name, g["windows"], _percent(g["accuracy"]), _percent(g["recall"])]
                    for name, g in disparities["groups"].items()
                ],
            ),
        ],
    }


def to_markdown(card: dict[str, Any]) -> str:
    lines = [f"# {card['title']}", ""]
    for section in card["sections"]:
        lines += [f"## {section['title']}", ""]
        for block in section["blocks"]:
            if "text" in block:
                lines += [block["text"], ""]
            elif "items" in block:
                lines += [f"- {item}" for item in block["items"]] + [""]
            else:
                table = block["table"]
                lines.append("| " + " | ".join(table["headers"]) + " |")
                lines.append("|" + " --- |" * len(table["headers"]))
                lines += [
                    "| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                    for row in table["rows"]
                ]
                lines.append("")
    return "\n".join(lines)


def to_html(card: dict[str, Any]) -> str:
    """A standalone page (no scripts, no external resources)."""
    e = html.escape
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{e(card['title'])}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .6em}"
        "</style></head><body>",
        f"<h1>{e(card['title'])}</h1>",
    ]
    for section in card["sections"]:
        parts.append(f"<h2>{e(section['title'])}</h2>")
        for block in section["blocks"]:
            if "text" in block:
                parts.append(f"<p>{e(block['text'])}</p>")
            elif "items" in block:
                parts.append("<ul>" + "".join(f"<li>{e(i)}</li>" for i in block["items"]) + "</ul>")
            else:
                table = block["table"]
                head = "".join(f"<th>{e(h)}</th>" for h in table["headers"])
                body = "".join(
                    "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
                    for row in table["rows"]
                )
                parts.append(f"<table><tr>{head}</tr>{body}</table>")
    parts.append("</body></html>")
    return "\n".join(parts)
