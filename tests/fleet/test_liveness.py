"""Routine check-ins are recorded in groups by the liveness writer; state changes are not."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from edgeops.fleet import reports
from edgeops.fleet.liveness import LivenessWriter
from edgeops.workspace import Workspace


def test_routine_checkins_wait_for_the_writer_and_changes_do_not(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")
    ws.projects.create("p")
    ws.fleet.signing_init()
    ws.fleet.create_release("pi4", "1.0.0", {"a.bin": b"x"})
    ws.fleet.register("d1", "pi4")
    writer = LivenessWriter(ws._sessions, every_s=3600)  # flushed by hand below
    seen = datetime(2030, 1, 1, tzinfo=UTC)
    with ws.session() as session:
        project = ws.projects.get("p")
        report = reports.CheckIn(installed="1.0.0")
        reports.checkin(session, project, "d1", report, seen, "t", writer)  # a change: now
        session.commit()
    assert ws.fleet.device("d1")["installed_release"] == "1.0.0"
    later = seen + timedelta(minutes=1)
    with ws.session() as session:
        routine = reports.CheckIn(installed="1.0.0", health=reports.Health(status="degraded"))
        reports.checkin(session, ws.projects.get("p"), "d1", routine, later, "t", writer)
        session.commit()
    assert ws.fleet.device("d1")["last_seen_at"].startswith("2030-01-01T00:00")  # not yet
    assert writer.flush() == 1
    device = ws.fleet.device("d1")
    assert device["last_seen_at"].startswith("2030-01-01T00:01")
    assert device["health"]["status"] == "degraded"
    writer.close()
    ws.close()
