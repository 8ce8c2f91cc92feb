"""The committer's driver-cursor inserts must store rows exactly as SQLAlchemy Core does."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text

from edgeops.governance import audit
from edgeops.store import rawsql
from edgeops.store.tables import Sample
from edgeops.workspace import Workspace


def _row(project_id: int, content_hash: str) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "kind": "timeseries",
        "label": "idle",
        "category": "training",
        "content_hash": content_hash,
        "original_hash": "b" * 64,
        "original_format": "ei-json",
        "filename": "idle.json",
        "shape": [100, 3],
        "interval_ms": 10.0,
        "sample_rate": None,
        "sensors": [{"name": "accX", "units": "m/s2"}],
        "metadata": {"site": "Zürich", "n": "1"},
        "device_id": None,
        "subject_id": None,
        "source": "http:api",
        "created_at": datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC),
    }


def _stored(ws: Workspace, content_hash: str) -> dict[str, Any]:
    with ws.session() as session:
        sample = session.scalars(select(Sample).where(Sample.content_hash == content_hash)).one()
        return {
            c.key: getattr(sample, c.key)
            for c in Sample.__mapper__.column_attrs
            if c.key not in ("id", "content_hash")
        }


def test_rows_read_back_the_same_as_rows_core_inserted(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")  # SQLite: the only dialect the cursor path serves
    project = ws.projects.create("p")
    table = Sample.metadata.tables[Sample.__tablename__]
    with ws.session() as session:
        connection = session.connection()
        cursor = rawsql.cursor(connection)
        assert cursor is not None
        columns = [c.name for c in table.columns if c.name != "id"]
        raw = rawsql.Insert(table, columns, connection.dialect, "RETURNING content_hash")
        assert raw.returning(cursor, [_row(project.id, "r" * 64)]) == [("r" * 64,)]
        connection.execute(insert(table), [_row(project.id, "c" * 64)])
        session.commit()
    assert _stored(ws, "r" * 64) == _stored(ws, "c" * 64)
    ws.close()


def test_audit_events_from_the_cursor_are_stored_like_core_ones(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")
    with ws.session() as session:
        audit.record(session, "alice", "project.create", "one")  # ORM
        entries = [audit.Entry("bob", "sample.ingest", "2 samples")]
        audit.record_many(session.connection(), entries)  # cursor
        session.commit()
        stored = session.execute(text("SELECT at, details FROM audit_events ORDER BY id")).all()
        assert audit.verify(session).ok
    (core_at, core_details), (raw_at, raw_details) = stored
    assert len(core_at) == len(raw_at) and core_at[10] == raw_at[10]  # one text format
    assert core_details == raw_details == "{}"
    ws.close()
