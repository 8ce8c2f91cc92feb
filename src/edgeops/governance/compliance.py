"""Compliance bundles: one zip an auditor can read without edgeops — the model card, the data
lineage, an excerpt of the audit log with the result of verifying its hash chain, the fairness
report when asked for, and risk notes; `MANIFEST.json` lists every file with its SHA-256."""

import hashlib
import json
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeops import __version__
from edgeops.governance import audit, modelcard, privacy

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

AUDIT_EXCERPT = 1000  # newest project events in the bundle (the model's own are always in)


def data_lineage(ws: "Workspace", version_id: str, project: str | None) -> dict[str, Any]:
    """The dataset version the model learned from, its ancestry, and a summary of its manifest.
    Subject ids are personal data: the bundle counts them and never names them."""
    from edgeops.data.versions import record

    version = ws.data.version(version_id, project=project)
    with ws.session() as session:
        entries = privacy.read_manifest(session, ws.blobs, version)
        redacted = privacy.redaction(session, version.project_id, version.id)
    ancestry, parent = [], version.parent_id
    while parent is not None:
        older = ws.data.version(parent, project=project)
        ancestry.append({"id": older.id, "message": older.message, "author": older.author,
                         "created_at": older.created_at.isoformat()})  # fmt: skip
        parent = older.parent_id
    return {
        "dataset_version": record(version),
        "redacted": redacted,
        "ancestry": ancestry,
        "manifest": {
            "samples": len(entries),
            "kinds": dict(Counter(e.get("kind", "?") for e in entries)),
            "devices": dict(Counter(e.get("device_id") or "(none)" for e in entries)),
            "subjects": len({e["subject_id"] for e in entries if e.get("subject_id")}),
            "samples_with_subject": sum(1 for e in entries if e.get("subject_id")),
            "content_hashes": sorted(e["content_hash"] for e in entries),
        },
    }


def audit_excerpt(ws: "Workspace", model: dict[str, Any], project: str) -> dict[str, Any]:
    """The model's and its dataset version's events, the project's newest events, and whether
    the whole chain verifies."""
    from edgeops.data import projects

    own_targets = {f"model:{model['model']}", model["dataset_version"]}
    with ws.session() as session:
        proj = projects.get(session, project)
        found = audit.events(session, proj.id, AUDIT_EXCERPT)
        verified = audit.verify(session)
        head = found[0].hash if found else None
    return {
        "verify": verified.as_dict(),
        "newest_hash": head,
        "model_events": [audit.event_record(e) for e in found if e.target in own_targets],
        "project_events": [audit.event_record(e) for e in found],
    }


def risk_notes(card: dict[str, Any], excerpt: dict[str, Any], lineage: dict[str, Any]) -> str:
    facts = card["facts"]
    lines = [f"# Risk notes: {facts['model']['name']} {facts['model']['model']}", ""]
    verify = excerpt["verify"]
    lines.append(
        f"- Audit log: {verify['checked']} events checked, chain intact."
        if verify["ok"]
        else f"- Audit log BROKEN ({verify['problem']}): {verify['detail']}. Treat the "
        "excerpt as untrustworthy until explained."
    )
    manifest = lineage["manifest"]
    if lineage["redacted"]:
        lines.append(
            f"- The dataset version is redacted (erasure {lineage['redacted']['erasure']}): "
            "counts above exclude erased samples; the model must be retrained."
        )
    if manifest["subjects"]:
        lines.append(
            f"- Personal data: {manifest['samples_with_subject']} samples of "
            f"{manifest['subjects']} subjects; erasure requests (`edgeops privacy erase`) "
            "redact this dataset version and require retraining."
        )
    fairness = facts.get("fairness")
    if fairness is not None:
        verdict = "passes" if fairness["passed"] else "FAILS: " + "; ".join(fairness["reasons"])
        lines.append(
            f"- Fairness by {fairness['by']} (threshold {fairness['threshold']}) {verdict}."
        )
    else:
        lines.append("- Fairness not assessed (give --by KEY to include a fairness report).")
    if not facts["model"]["aliases"]:
        lines.append("- The model is not promoted (no alias): it should not be serving.")
    lines += [f"- {note}" for note in facts["limitations"]]
    return "\n".join(lines) + "\n"


def compliance_bundle(
    ws: "Workspace",
    model_ref: str,
    out: Path,
    *,
    project: str | None = None,
    by: str | None = None,
    threshold: float = 0.1,
    intended_use: str | None = None,
) -> dict[str, Any]:
    """Write the bundle of `model_ref` to zip file `out`; returns its manifest."""
    from edgeops.governance.fairness import fairness_report

    fairness = (
        fairness_report(ws, model_ref, by, project=project, threshold=threshold) if by else None
    )
    card = modelcard.model_card(
        ws, model_ref, project=project, intended_use=intended_use, fairness=fairness
    )
    facts = card["facts"]
    lineage = data_lineage(ws, facts["lineage"]["dataset_version"], facts["project"])
    excerpt = audit_excerpt(ws, facts["model"], facts["project"])
    files: dict[str, bytes] = {
        "model-card.md": modelcard.to_markdown(card).encode(),
        "model-card.html": modelcard.to_html(card).encode(),
        "model-card.json": _json(facts),
        "data-lineage.json": _json(lineage),
        "audit.json": _json(excerpt),
        "risk-notes.md": risk_notes(card, excerpt, lineage).encode(),
    }
    if fairness is not None:
        files["fairness.json"] = _json(fairness)
    manifest = {
        "model": facts["model"]["model"],
        "project": facts["project"],
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "generator": f"edgeops {__version__}",
        "audit_ok": excerpt["verify"]["ok"],
        "fairness_passed": None if fairness is None else fairness["passed"],
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("MANIFEST.json", _json(manifest))
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return manifest


def _json(data: Any) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n").encode()
