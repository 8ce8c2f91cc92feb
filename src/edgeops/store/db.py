"""Database engine and sessions; migrations are applied when a database is opened."""

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.orm import Session, sessionmaker

from edgeops.errors import InvalidInput
from edgeops.store.blobs import BlobStore

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. Checked against Alembic's own view by a test; kept here so that opening
# an up-to-date database (every CLI call) costs one query and never imports Alembic.
HEAD_REVISION = "0010"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, see _sqlite_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Every SQLite transaction takes the write lock up front. SQLite has one writer anyway; a
    transaction that read first and wrote later could otherwise fail with SQLITE_BUSY_SNAPSHOT
    when another writer committed in between (busy_timeout does not retry that case)."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and full sync on every connection."""
    try:
        engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    except Exception as exc:  # SQLAlchemy raises several types for a bad URL
        raise InvalidInput(
            f"cannot use database URL {url!r}: {exc} "
            "(expected e.g. sqlite:///path/edgeops.db or postgresql+psycopg://user@host/db)"
        ) from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        revision: str | None = connection.scalar(text("SELECT version_num FROM alembic_version"))
        return revision


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; one query when it already is."""
    if current_revision(engine) != HEAD_REVISION:
        from alembic import command

        command.upgrade(alembic_config(engine), "head")


def session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


def commit(session: Session, blobs: BlobStore) -> None:
    """Commit `session` after making its blobs durable: nothing is acknowledged that a crash
    could lose, and no row ever points at a blob that is not on disk."""
    blobs.sync()
    session.commit()
