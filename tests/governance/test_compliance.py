import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from tests.governance.test_fairness import write_project
from typer.testing import CliRunner

from edgeops.cli.main import app
from edgeops.governance.compliance import compliance_bundle
from edgeops.store.tables import AuditEvent
from edgeops.workspace import Workspace


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("compliance")
    ws, recipe = write_project(folder, biased=True, subjects={0: "alice", 1: "alice", 2: "bob"})
    ws.train(recipe, seed=1)
    ws.models.alias("production", "v1")
    yield ws
    ws.close()


def read(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_bundle_holds_card_lineage_audit_fairness_and_risks(
    trained: Workspace, tmp_path: Path
) -> None:
    bundle = tmp_path / "v1.zip"
    manifest = compliance_bundle(trained, "production", bundle, by="site", threshold=0.2)
    files = read(bundle)
    assert set(files) == {
        *("MANIFEST.json", "model-card.md", "model-card.html", "model-card.json"),
        *("data-lineage.json", "audit.json", "risk-notes.md", "fairness.json"),
    }
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest
    assert json.loads(files["MANIFEST.json"]) == manifest
    assert manifest["audit_ok"] is True and manifest["fairness_passed"] is False
    lineage = json.loads(files["data-lineage.json"])
    version = trained.data.version(trained.models.show("v1")["dataset_version"])
    assert lineage["dataset_version"]["id"] == version.id
    assert lineage["manifest"]["samples"] == version.sample_count == 20
    assert lineage["manifest"]["subjects"] == 2 and lineage["manifest"]["samples_with_subject"] == 3
    assert b"alice" not in files["data-lineage.json"]  # subject ids are counted, never named
    excerpt = json.loads(files["audit.json"])
    assert excerpt["verify"]["ok"] is True
    actions = {event["action"] for event in excerpt["model_events"]}
    assert {"model.create", "model.alias", "dataset.commit"} <= actions
    risks = files["risk-notes.md"].decode()
    assert "chain intact" in risks and "Fairness by site (threshold 0.2) FAILS" in risks
    assert "3 samples of 2 subjects" in risks
    assert "## Fairness by site" in files["model-card.md"].decode()


def test_a_tampered_audit_log_shows_in_the_bundle(trained: Workspace, tmp_path: Path) -> None:
    with trained.session() as session:
        actor = session.scalars(select(AuditEvent.actor).where(AuditEvent.id == 1)).one()
        session.execute(update(AuditEvent).where(AuditEvent.id == 1).values(actor="mallory"))
        session.commit()
    try:
        runner = CliRunner()
        bundle = tmp_path / "tampered.zip"
        home = ["--home", str(trained.settings.home)]
        args = [*home, "report", "compliance", "v1", "-o", str(bundle), "--json"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["audit_ok"] is False
        files = read(bundle)
        assert "fairness.json" not in files
        assert "Audit log BROKEN (edited): event 1" in files["risk-notes.md"].decode()
    finally:  # the original value makes the chain whole again for the module's other tests
        with trained.session() as session:
            session.execute(update(AuditEvent).where(AuditEvent.id == 1).values(actor=actor))
            session.commit()
    assert trained.audit.verify().ok
