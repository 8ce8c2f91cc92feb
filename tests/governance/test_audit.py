"""The hash-chained audit log: appends in order under concurrency, detects edits and deletions."""

import itertools
import threading
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text, update

from edgeops.governance import audit
from edgeops.store import db
from edgeops.store.tables import AuditEvent
from edgeops.workspace import Workspace


def _write(ws: Workspace, count: int, actor: str = "tester") -> None:
    for i in range(count):
        with ws.session() as session:
            audit.record(session, actor, "test.write", f"thing-{i}", None, {"i": i, "ok": True})
            session.commit()


def _verify(ws: Workspace) -> audit.VerifyResult:
    with ws.session() as session:
        return audit.verify(session)


def test_an_intact_chain_verifies(ws: Workspace) -> None:
    _write(ws, 5)
    result = _verify(ws)
    assert (result.ok, result.checked, result.bad_event_id) == (True, 6, None)
    with ws.session() as session:
        chain = list(reversed(audit.events(session)))
    assert chain[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain))
    assert [e.id for e in chain] == list(range(1, 7))


def test_an_edited_event_is_found(ws: Workspace) -> None:
    _write(ws, 5)
    with ws.engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET target = 'forged' WHERE id = 3"))
    result = _verify(ws)
    assert (result.ok, result.bad_event_id, result.problem) == (False, 3, "edited")
    assert result.checked == 2 and "event 3" in result.detail


def test_edited_details_are_found(ws: Workspace) -> None:
    _write(ws, 5)
    with ws.engine.begin() as connection:
        connection.execute(
            update(AuditEvent).where(AuditEvent.id == 4).values(details={"i": 99, "ok": True})
        )
    assert (_verify(ws).bad_event_id, _verify(ws).problem) == (4, "edited")


def test_a_deleted_event_is_found(ws: Workspace) -> None:
    _write(ws, 5)
    with ws.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE id = 3"))
    result = _verify(ws)
    assert (result.ok, result.bad_event_id, result.problem) == (False, 3, "deleted/out of order")


def test_events_deleted_from_the_end_are_found(ws: Workspace) -> None:
    _write(ws, 5)
    with ws.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_events WHERE id >= 5"))
    result = _verify(ws)
    assert (result.ok, result.bad_event_id, result.problem) == (False, 5, "deleted/out of order")


def test_a_relinked_chain_is_found(ws: Workspace) -> None:
    """Deleting an event and pointing the next one at its predecessor breaks the next hash."""
    _write(ws, 5)
    with ws.engine.begin() as connection:
        previous = connection.scalar(text("SELECT hash FROM audit_events WHERE id = 2"))
        connection.execute(text("DELETE FROM audit_events WHERE id = 3"))
        connection.execute(text("UPDATE audit_events SET id = 3, prev_hash = :p WHERE id = 4"),
                           {"p": previous})  # fmt: skip
    result = _verify(ws)
    assert (result.ok, result.bad_event_id, result.problem) == (False, 3, "edited")


def test_concurrent_writers_never_fork_the_chain(ws: Workspace) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            _write(ws, 25, actor=f"writer-{n}")
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    result = _verify(ws)
    assert result.ok, result.detail
    with ws.session() as session:
        written = audit.events(session, action="test.write", limit=1000)
    assert len(written) == 100
    assert result.checked == 101  # and the project's creation


def test_rolled_back_events_leave_no_gap(ws: Workspace) -> None:
    with ws.session() as session:
        audit.record(session, "t", "test.write", "discarded")
        session.flush()
        session.rollback()
    _write(ws, 1)
    with ws.session() as session:
        assert [e.id for e in audit.events(session)] == [2, 1]
    assert _verify(ws).ok


def test_details_are_hashed_as_they_are_stored(ws: Workspace) -> None:
    with ws.session() as session:
        event = audit.record(session, "t", "sample.relabel", "x", None,
                             {"changes": {10: ["a", "b"], 2: [None, "c"]}, "f": 0.1})  # fmt: skip
        session.commit()
    assert event.details == {"changes": {"10": ["a", "b"], "2": [None, "c"]}, "f": 0.1}
    assert _verify(ws).ok


def test_filters(ws: Workspace) -> None:
    _write(ws, 3, actor="alice")
    _write(ws, 2, actor="bob")
    assert [e.actor for e in ws.audit.events(actor="bob")] == ["bob", "bob"]
    assert len(ws.audit.events(action="test.write", limit=4)) == 4
    assert [e.action for e in ws.audit.events(project="test")] == ["project.create"]
    record = audit.event_record(ws.audit.events(limit=1)[0])
    assert set(record) == {"id", "at", "actor", "action", "project_id", "target", "details",
                           "hash"}  # fmt: skip


def test_the_migration_chains_events_written_before_it(tmp_path: Path, database_url: str) -> None:
    from alembic import command

    engine = db.create_db_engine(database_url)
    command.upgrade(db.alembic_config(engine), "0001")
    at = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO projects (id, name, description, created_at) "
                                "VALUES (1, 'old', '', :at)"), {"at": at})  # fmt: skip
        for event_id in (1, 5, 9):  # a sequence leaves gaps after rollbacks
            connection.execute(
                text("INSERT INTO audit_events (id, at, actor, action, project_id, target, details)"
                     " VALUES (:id, :at, 'bob', 'sample.import', 1, 'x', :d)"),
                {"id": event_id, "at": at, "d": '{"ids": [1, 2]}'},
            )  # fmt: skip
    db.migrate(engine)
    with db.session_factory(engine)() as session:
        result = audit.verify(session)
        assert (result.ok, result.checked) == (True, 3), result.detail
        key = session.scalar(text("SELECT hmac_key FROM projects"))
        assert isinstance(key, str) and len(key) == 32
        audit.record(session, "t", "test.write", "after")
        session.commit()
        assert audit.verify(session).checked == 4
    engine.dispose()
