import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from edgeops.cli.main import app
from edgeops.data.formats.ei import sign_ei
from edgeops.data.ingest import Destination, Ingestor, Upload
from edgeops.demo import HMAC_KEY, SENSORS, basic_motions
from edgeops.errors import NotFound
from edgeops.governance import encryption, privacy
from edgeops.store.crypt import MAGIC, SealedBlobStore
from edgeops.store.tables import DataKey
from edgeops.workspace import Workspace

SUBJECT = "speaker-0041"


def recording(folder: Path, number: int) -> Path:
    recordings, labels = basic_motions()
    payload = {"device_name": "watch", "device_type": "SMARTWATCH", "interval_ms": 100,
               "sensors": SENSORS, "values": recordings[number].tolist()}  # fmt: skip
    path = folder / f"{labels[number].lower()}.{number}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(sign_ei(payload, HMAC_KEY))
    return path


def blob_files(ws: Workspace) -> dict[str, bytes]:
    root = Path(ws.blobs.root) / "sha256"
    return {p.parent.name + p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_sealed_samples_read_back_and_an_erased_subject_is_crypto_shredded(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")
    with ws:
        ws.projects.create("voice")
        ws.data.import_files([recording(tmp_path / "before", 0)], hmac_key=HMAC_KEY)
        with ws.session() as session:
            enabled = encryption.enable(ws, session, ws.projects.get("voice"))
        assert enabled["blobs_sealed"] == 2 and enabled["encrypted"]  # what was there already
        theirs = [recording(tmp_path / "theirs", n) for n in (1, 2, 3)]
        ws.data.import_files(theirs, hmac_key=HMAC_KEY, subject_id=SUBJECT)
        ws.data.import_files([recording(tmp_path / "other", 4)], hmac_key=HMAC_KEY,
                             subject_id="speaker-0099")  # fmt: skip
        ws.data.commit("three speakers")
        samples = ws.data.samples()
        assert len(samples) == 5
        stored = blob_files(ws)
        sample_blobs = {d for s in samples for d in (s.content_hash, s.original_hash)}
        for digest in sample_blobs:  # sealed on disk, plain to the reader
            assert stored[digest].startswith(MAGIC)
        for sample, path in zip(samples[1:4], theirs, strict=True):
            assert ws.data.original(sample) == path.read_bytes()
            assert ws.data.values(sample).shape == tuple(sample.shape)
        plain = b"".join(path.read_bytes() for path in theirs)
        everything = b"".join(stored.values())
        assert plain[100:148] not in everything
        with ws.session() as session:
            assert encryption.status(session, ws.projects.get("voice"))["subject_keys"] == 2

        # A backup of the subject's sealed blobs, taken before the erasure.
        mine = [s for s in samples if s.subject_id == SUBJECT]
        backup = tmp_path / "backup"
        for sample in mine:
            for digest in (sample.content_hash, sample.original_hash):
                target = backup / digest
                target.parent.mkdir(exist_ok=True)
                shutil.copy(ws.blobs.path(digest), target)
        with ws.session() as session:
            wrapped = session.scalar(select(DataKey.wrapped).where(
                DataKey.subject_sha256 == encryption.subject_sha256(SUBJECT)))  # fmt: skip
        assert wrapped is not None
        (part,) = privacy.erase(ws, SUBJECT)["projects"]
        # The key's bytes are gone from the database file too (secure delete, vacuum).
        database = b"".join(p.read_bytes() for p in ws.settings.home.glob("edgeops.db*"))
        assert wrapped[12:44] not in database
        assert part["key_shredded"] and part["samples_erased"] == 3
        with ws.session() as session:
            left = session.scalars(select(DataKey.subject_sha256)).all()
        assert encryption.subject_sha256(SUBJECT) not in left and len(left) == 2
        # Restore the backup into the store: the bytes are there, and unreadable.
        for copy in backup.iterdir():
            shutil.copy(copy, ws.blobs.path(copy.name))
        for sample in mine:
            with pytest.raises(NotFound, match="crypto-shredded"):
                ws.data.original(sample)
        # Nothing else was lost: the other speakers read as before.
        others = [s for s in ws.data.samples() if s.subject_id != SUBJECT]
        assert [len(ws.data.original(s)) > 0 for s in others] == [True, True]
        assert ws.audit.verify().ok


def test_ingested_uploads_are_sealed_when_moved_to_the_blob_store(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")
    with ws:
        project = ws.projects.create("voice")
        with ws.session() as session:
            encryption.enable(ws, session, ws.projects.get("voice"))
        ingestor = Ingestor(ws._sessions, ws.blobs, move_every_s=0.05)
        try:
            destination = Destination(project.id, "device", "http", "training", HMAC_KEY, True)
            data = recording(tmp_path, 5).read_bytes()
            (outcome,) = ingestor.ingest(destination, [Upload("idle.5.json", data)])
            assert outcome.sample_id is not None, outcome.error
            sample = ws.data.get(outcome.sample_id)
            deadline = time.monotonic() + 30
            while not ws.blobs.exists(sample.original_hash) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            ingestor.close()
        assert Path(ws.blobs.path(sample.original_hash)).read_bytes().startswith(MAGIC)
        assert ws.data.original(sample) == data


def test_a_sealed_blob_opens_only_at_its_own_address(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")
    with ws:
        ws.projects.create("voice")
        with ws.session() as session:
            encryption.enable(ws, session, ws.projects.get("voice"))
            key_id, key = encryption.keyring(ws).data_key(session, 1, None)
        assert isinstance(ws.blobs, SealedBlobStore)
        first = ws.blobs.sealing(key_id, key).put(b"first secret")
        second = ws.blobs.sealing(key_id, key).put(b"second secret")
        shutil.copy(ws.blobs.path(first), ws.blobs.path(second))
        assert ws.blobs.get(first) == b"first secret"
        with pytest.raises(Exception, match="does not open"):
            ws.blobs.get(second)
        assert np.frombuffer(ws.blobs.get(first), dtype=np.uint8).size == 12


def test_encryption_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    assert runner.invoke(app, [*home, "init"]).exit_code == 0
    assert runner.invoke(app, [*home, "project", "create", "voice"]).exit_code == 0
    result = runner.invoke(app, [*home, "privacy", "encryption", "status", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["encrypted"] is False
    result = runner.invoke(app, [*home, "privacy", "encryption", "enable"])
    assert result.exit_code == 0 and "encrypted at rest" in result.stdout
    result = runner.invoke(app, [*home, "privacy", "encryption", "enable"])
    assert result.exit_code == 1 and "encrypted already" in result.stderr  # a conflict
    key = tmp_path / "home" / "secrets" / "master.key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32


def test_shredding_and_retention_on_each_database(ws: Workspace, tmp_path: Path) -> None:
    """The same on SQLite and PostgreSQL: sealed, read back, shredded, expired."""
    from datetime import timedelta

    from sqlalchemy import update

    from edgeops.governance import retention
    from edgeops.store.tables import Sample, utcnow

    with ws.session() as session:
        encryption.enable(ws, session, ws.projects.get("test"))
    ws.data.import_files([recording(tmp_path / "a", 1)], hmac_key=HMAC_KEY, subject_id=SUBJECT)
    ws.data.import_files([recording(tmp_path / "b", 2)], hmac_key=HMAC_KEY)
    mine, other = sorted(ws.data.samples(), key=lambda s: s.id)
    sealed = Path(ws.blobs.path(mine.original_hash)).read_bytes()
    assert sealed.startswith(MAGIC) and ws.data.original(mine).startswith(b"{")
    privacy.erase(ws, SUBJECT)
    Path(ws.blobs.path(mine.original_hash)).write_bytes(sealed)  # a copy comes back
    with pytest.raises(NotFound, match="crypto-shredded"):
        ws.data.original(mine)
    with ws.session() as session:
        session.execute(update(Sample).values(created_at=utcnow() - timedelta(days=9)))
        session.commit()
        retention.set_policy(session, ws.projects.get("test"), 8, "tester")
    (report,) = retention.apply(ws)
    assert report["expired"] == [other.id] and report["samples_deleted"] == 1
    assert ws.data.samples() == []
