from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from edgeops.store import db
from edgeops.store.tables import Project, Sample


def test_migrations_create_every_table_and_are_idempotent(database_url: str) -> None:
    engine = db.create_db_engine(database_url)
    db.migrate(engine)
    db.migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"projects", "samples", "dataset_versions", "audit_events", "alembic_version"} <= tables
    with engine.connect() as connection:
        version = connection.scalar(text("SELECT version_num FROM alembic_version"))
        assert version == db.HEAD_REVISION
    engine.dispose()


def test_foreign_keys_are_enforced(database_url: str) -> None:
    engine = db.create_db_engine(database_url)
    db.migrate(engine)
    with db.session_factory(engine)() as session:
        orphan = Sample(
            project_id=999, kind="timeseries", label=None, category="training",
            content_hash="a" * 64, original_hash="b" * 64, original_format="csv",
            filename="x.csv", shape=[1, 1], interval_ms=1.0, sample_rate=None,
            sensors=[], meta={}, device_id=None, subject_id=None, source="test",
        )  # fmt: skip
        session.add(orphan)
        with pytest.raises(IntegrityError):
            session.commit()
    engine.dispose()


def test_unique_project_names(database_url: str) -> None:
    engine = db.create_db_engine(database_url)
    db.migrate(engine)
    with db.session_factory(engine)() as session:
        session.add_all([Project(name="a"), Project(name="a")])
        with pytest.raises(IntegrityError):
            session.commit()
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = db.create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.scalar(text("PRAGMA journal_mode")) == "wal"
        assert connection.scalar(text("PRAGMA foreign_keys")) == 1
    engine.dispose()


def test_bad_database_url_is_a_clear_error() -> None:
    from edgeops.errors import InvalidInput

    with pytest.raises(InvalidInput, match="cannot use database URL"):
        db.create_db_engine("notadb://x")


def test_head_revision_constant_matches_the_migrations(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    engine = db.create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    script = ScriptDirectory.from_config(db.alembic_config(engine))
    assert script.get_current_head() == db.HEAD_REVISION
    engine.dispose()


def test_migrations_build_exactly_the_tables_the_code_declares(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from edgeops.store.tables import Base

    engine = db.create_db_engine(database_url)
    db.migrate(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []
