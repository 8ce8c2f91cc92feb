"""Check-ins that change nothing but "last seen" and health are written in groups: one
transaction a fraction of a second for all of them, instead of a commit (an fsync) each."""

import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session, sessionmaker

from edgeops.store.tables import Device

log = logging.getLogger(__name__)


class LivenessWriter:
    """Buffers (device, seen at, health) and writes the newest per device every `every_s`
    seconds from its own thread. What is buffered is liveness only: a crash loses at most
    `every_s` of it, and the next check-in restores it. A row already seen later (a check-in
    written at once, perhaps by another server process) is left as it is."""

    def __init__(self, sessions: sessionmaker[Session], every_s: float = 0.5) -> None:
        self._sessions = sessions
        self._every_s = every_s
        self._pending: dict[int, tuple[datetime, dict[str, Any] | None]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgeops-liveness", daemon=True)
        self._thread.start()

    def note(self, device_pk: int, seen_at: datetime, health: dict[str, Any] | None) -> None:
        """Record at the next flush that the device was seen (and its health, unless None)."""
        with self._lock:
            if health is None and device_pk in self._pending:
                health = self._pending[device_pk][1]
            self._pending[device_pk] = (seen_at, health)

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        rows = sorted(pending.items())
        seen = [{"pk": pk, "seen": at} for pk, (at, health) in rows if health is None]
        healthy = [{"pk": pk, "seen": at, "health": health} for pk, (at, health) in rows
                   if health is not None]  # fmt: skip
        newer = (Device.id == bindparam("pk")) & (
            Device.last_seen_at.is_(None) | (Device.last_seen_at <= bindparam("seen"))
        )
        statement = update(Device).where(newer).values(last_seen_at=bindparam("seen"))
        try:
            with self._sessions() as session:
                connection = session.connection()
                if seen:
                    connection.execute(statement, seen)
                if healthy:
                    connection.execute(statement.values(health=bindparam("health")), healthy)
                session.commit()
        except Exception:
            with self._lock:  # keep them for the next try, unless newer ones came meanwhile
                self._pending = {**pending, **self._pending}
            raise
        return len(rows)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self.flush()
            except Exception:  # the database is away: the values wait for the next round
                log.warning("could not record device check-ins; retrying", exc_info=True)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.flush()
