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
    `every_s` of it, and the next check-in restores it."""

    def __init__(self, sessions: sessionmaker[Session], every_s: float = 0.5) -> None:
        self._sessions = sessions
        self._every_s = every_s
        self._pending: dict[int, tuple[datetime, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgeops-liveness", daemon=True)
        self._thread.start()

    def note(self, device_pk: int, seen_at: datetime, health: dict[str, Any]) -> None:
        with self._lock:
            self._pending[device_pk] = (seen_at, health)

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        rows = [{"pk": pk, "seen": seen, "health": health}
                for pk, (seen, health) in sorted(pending.items())]  # fmt: skip
        statement = (
            update(Device)
            .where(Device.id == bindparam("pk"))
            .values(last_seen_at=bindparam("seen"), health=bindparam("health"))
        )
        try:
            with self._sessions() as session:
                session.connection().execute(statement, rows)
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
