import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from tests.governance.test_fairness import write_project
from typer.testing import CliRunner

from edgeops.cli.context import console
from edgeops.cli.main import app
from edgeops.errors import NotFound
from edgeops.governance import privacy
from edgeops.governance.compliance import compliance_bundle
from edgeops.governance.modelcard import model_card, to_markdown
from edgeops.recipes.extract import FeatureCache
from edgeops.store.tables import DatasetVersion, Sample

SUBJECT = "participant-zq7x"


def every_byte(home: Path) -> bytes:
    """The workspace as stored: the database file, its WAL and every blob and cache entry."""
    return b"".join(path.read_bytes() for path in sorted(home.rglob("*")) if path.is_file())


def test_erase_leaves_no_byte_of_the_subject(tmp_path: Path) -> None:
    ws, recipe = write_project(
        tmp_path, biased=False, subjects={0: SUBJECT, 9: SUBJECT, 1: "participant-other"}
    )
    with ws:
        ws.train(recipe, seed=1)
        version = ws.data.versions()[0]
        theirs = [s for s in ws.data.samples() if s.subject_id == SUBJECT]
        assert len(theirs) == 2
        originals = [ws.data.original(s) for s in theirs]
        canonical = [ws.data.values(s).astype(np.float32).tobytes() for s in theirs]
        cache = FeatureCache(ws.blobs)
        cached_before = len(ws.blobs.fs.find(cache.root))

        # Access request first: the subject gets their records and files back.
        summary = privacy.export(ws, SUBJECT, tmp_path / "access.zip")
        with zipfile.ZipFile(tmp_path / "access.zip") as archive:
            files = sorted(n for n in archive.namelist() if n.startswith("samples/"))
            assert sorted(archive.read(n) for n in files) == sorted(originals)
            assert json.loads(archive.read("subject.json"))["projects"][0]["models"] == ["v1"]
        assert summary["projects"][0]["dataset_versions"] == [version.id]

        certificate = privacy.erase(ws, SUBJECT, reason="request 42")
        (part,) = certificate["projects"]
        assert part["samples_erased"] == 2 and part["blobs_deleted"] == 4
        assert part["feature_cache_entries_deleted"] == 2
        assert part["models_retrain_required"] == ["v1"]
        assert [v["id"] for v in part["dataset_versions_redacted"]] == [version.id]
        assert len(ws.blobs.fs.find(cache.root)) == cached_before - 2

        stored = every_byte(ws.settings.home)
        for data in [*originals, *canonical]:
            assert data[len(data) // 2 : len(data) // 2 + 48] not in stored
        assert SUBJECT.encode() not in stored  # not even the id: the record keeps its hash

        model = ws.models.get("v1").version
        with ws.session() as session:
            assert session.scalars(select(Sample).where(Sample.subject_id == SUBJECT)).all() == []
            assert len(session.scalars(select(Sample)).all()) == 30
            row = session.get(DatasetVersion, version.id)
            assert row is not None
            entries = privacy.read_manifest(session, ws.blobs, row)
            assert len(entries) == 30 and all(e["subject_id"] != SUBJECT for e in entries)
            (flag,) = privacy.retrain_required(session, model)
            assert flag["erasure"] == certificate["erasure"]
        with pytest.raises(NotFound):
            ws.data.values(theirs[0])
        assert not ws.blobs.exists(version.id)  # the committed manifest itself is gone
        assert sorted(e["id"] for e in ws.data.read_version(version.id)) == sorted(
            e["id"] for e in entries
        )  # read through the redacted one

        (event,) = ws.audit.events(action="privacy.erase")
        assert event.details["subject_sha256"] == privacy.subject_hash(SUBJECT)
        assert event.details["reason"] == "request 42"
        assert ws.audit.verify().ok
        # The model card and a compliance bundle say the model must be retrained.
        card = to_markdown(model_card(ws, "v1"))
        assert "RETRAIN REQUIRED: 1 erasure request(s)" in card
        compliance_bundle(ws, "v1", tmp_path / "bundle.zip")
        with zipfile.ZipFile(tmp_path / "bundle.zip") as archive:
            lineage = json.loads(archive.read("data-lineage.json"))
            assert lineage["manifest"]["samples"] == 30
            assert lineage["redacted"]["erasure"] == certificate["erasure"]
            assert b"is redacted" in archive.read("risk-notes.md")
        # Once is enough: a second request finds nothing, and other subjects are untouched.
        assert privacy.erase(ws, SUBJECT)["projects"] == []
        assert [s.subject_id for s in ws.data.samples()].count("participant-other") == 1


def test_a_second_erasure_keeps_the_first_ones_tombstones(tmp_path: Path) -> None:
    ws, _ = write_project(tmp_path, biased=True, subjects={0: "first", 1: "second"})
    with ws:
        version = ws.data.versions()[0]
        (first,) = [s for s in ws.data.samples() if s.subject_id == "first"]
        ws.data.remove([first.id])  # gone from the project, still in the committed version
        assert ws.blobs.exists(first.original_hash)
        certificate = privacy.erase(ws, "first")
        assert certificate["projects"][0]["samples_erased"] == 0  # no row was left
        assert certificate["projects"][0]["blobs_deleted"] == 2  # but its blobs were
        assert not ws.blobs.exists(first.original_hash)
        assert not ws.blobs.exists(first.content_hash)
        privacy.erase(ws, "second")
        with ws.session() as session:
            row = session.get(DatasetVersion, version.id)
            assert row is not None
            assert len(privacy.read_manifest(session, ws.blobs, row)) == version.sample_count - 2
            details = privacy.redaction(session, row.project_id, version.id)
        assert details is not None
        document = json.loads(ws.blobs.get(details["manifest"]))
        assert len(document["tombstones"]) == 2 and document["redacted_from"] == version.id
        assert set(document["tombstones"][0]) == {"id"}  # a tombstone names no data


def test_cli_export_and_erase(tmp_path: Path) -> None:
    ws, _ = write_project(tmp_path, biased=True, subjects={3: SUBJECT})
    ws.close()
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    out = tmp_path / "subject.zip"
    result = runner.invoke(app, [*home, "privacy", "export", "-s", SUBJECT, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "samples of subject" in result.stdout and out.exists()
    result = runner.invoke(app, [*home, "privacy", "erase", "-s", SUBJECT], input="n\n")
    assert result.exit_code == 1
    result = runner.invoke(app, [*home, "privacy", "erase", "-s", SUBJECT, "--yes", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["projects"][0]["samples_erased"] == 1
    result = runner.invoke(app, [*home, "privacy", "export", "-s", SUBJECT, "-o", str(out)])
    assert result.exit_code == 2 and "no samples" in result.stderr


def test_a_redacted_version_still_reads_trains_and_says_it_is_redacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console, "width", 200)  # room for the table's columns
    ws, recipe = write_project(tmp_path, biased=False, subjects={0: SUBJECT, 5: SUBJECT})
    with ws:
        version = ws.data.versions()[0]
        erased = sorted(s.id for s in ws.data.samples() if s.subject_id == SUBJECT)
        privacy.erase(ws, SUBJECT)
        entries = ws.data.read_version(version.id[:8])
        assert len(entries) == version.sample_count - 2
        assert not set(erased) & {e["id"] for e in entries}
        # Training on it reads only the samples that are left (an erased one has no blob).
        model = ws.train(recipe, data=version.id, seed=1)
        assert model.version.dataset_version_id == version.id
        assert ws.data.diff(version.id, version.id).as_dict()["removed"] == []
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    result = runner.invoke(app, [*home, "data", "versions", "--json"])
    assert result.exit_code == 0, result.output
    (listed,) = json.loads(result.stdout)
    assert listed["redacted"]["samples_erased"] == 2 and listed["redacted"]["erasures"] == 1
    result = runner.invoke(app, [*home, "data", "versions"])
    assert "(-2 erased)" in result.stdout and "redacted" in result.stdout
    result = runner.invoke(app, [*home, "data", "list", "--version", version.id[:8], "--json"])
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in json.loads(result.stdout)] == sorted(e["id"] for e in entries)
    result = runner.invoke(app, [*home, "data", "list", "--version", version.id[:8]])
    assert "2 sample(s) of this version were erased" in result.stdout
