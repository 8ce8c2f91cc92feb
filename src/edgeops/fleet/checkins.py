"""What each device was last told at check-in (and which device keys were admitted), kept in the
server's memory so that a routine check-in ("alive, running what you offered, healthy") is
answered without touching the database.

An entry is dropped the moment this process commits a change to its device (all of them for a
change to a release or a revoked key). Changes made by other processes are found in the audit
log, which every such change writes to and which is read every `poll_s` seconds: the devices an
event names are forgotten, and everything for an event that may reach many devices. So a
rollout started, rolled back or answered elsewhere (another `edgeops serve` worker, the CLI), or
a key revoked there, reaches this process within about `poll_s`; entries also expire after
`ttl_s` whatever happens."""

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import event, select
from sqlalchemy.orm import Session, UOWTransaction, sessionmaker

from edgeops.governance.audit import HEAD_ID
from edgeops.governance.keys import Principal
from edgeops.store.tables import ApiKey, AuditEvent, AuditHead, Device, Release

log = logging.getLogger(__name__)
_EVERYTHING = "*"
MAX_EVENTS_PER_POLL = 1000  # more changes than this in a second: forget everything
# Audit actions that never change what a device is told (the rest name a device, or may reach
# many: rollouts, releases, revoked keys, projects, signing keys, erasure...).
UNRELATED = ("alert.", "dataset.", "feature", "key.create", "model.", "monitor.", "recipe.",
             "sample.", "telemetry.", "user.", "workflow.")  # fmt: skip
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)
class Assignment:
    """What a device runs and what it is told: the check-in answer, already encoded."""

    device_pk: int
    installed: str | None  # the installed release's version
    answer: bytes


class _Entries(Generic[K, V]):
    def __init__(self, ttl_s: float, limit: int) -> None:
        self.ttl_s, self.limit = ttl_s, limit
        self.values: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self.values.get(key)
        return entry[1] if entry is not None and entry[0] >= time.monotonic() else None

    def put(self, key: K, value: V) -> None:
        if len(self.values) >= self.limit:  # guessing keys must not grow memory without end
            self.values.clear()
        self.values[key] = (time.monotonic() + self.ttl_s, value)


class CheckinCache:
    """Assignments by (project id, device id), and principals by (permission, key digest).
    `epoch` counts invalidations: a loader notes it before reading the database and stores its
    result only if it has not moved, so a change committed meanwhile is never hidden."""

    def __init__(
        self, sessions: sessionmaker[Session], *, ttl_s: float = 600.0, poll_s: float = 1.0,
        limit: int = 200_000,
    ) -> None:  # fmt: skip
        self._sessions = sessions
        self.poll_s = poll_s
        self._assignments: _Entries[tuple[int, str], Assignment] = _Entries(ttl_s, limit)
        self._principals: _Entries[tuple[str, str], Principal] = _Entries(ttl_s, limit)
        self._lock = threading.Lock()
        self.epoch = 0
        self._audit_head: int | None = None
        self._changed = f"edgeops.checkins.{id(self)}"  # in session.info: what it touched
        self._listeners = (("after_flush", self._note_changes), ("after_commit", self._committed),
                           ("after_rollback", self._rolled_back))  # fmt: skip
        for name, listener in self._listeners:
            event.listen(sessions, name, listener)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgeops-checkins", daemon=True)
        self._thread.start()

    def get(self, project_id: int, device_id: str) -> Assignment | None:
        return self._assignments.get((project_id, device_id))

    def put(self, project_id: int, device_id: str, assignment: Assignment, epoch: int) -> bool:
        """Keep `assignment` if nothing was invalidated since `epoch` (read before loading it)."""
        with self._lock:
            if not self._current(epoch):
                return False
            self._assignments.put((project_id, device_id), assignment)
        return True

    def principal(self, permission: str, digest: str) -> Principal | None:
        return self._principals.get((permission, digest))

    def keep_principal(
        self, permission: str, digest: str, principal: Principal, epoch: int
    ) -> None:
        """Remember that the key with this digest was admitted for `permission`."""
        with self._lock:
            if self._current(epoch):
                self._principals.put((permission, digest), principal)

    def _current(self, epoch: int) -> bool:
        return epoch == self.epoch and self._audit_head is not None  # else: changed, or blind

    def forget(self, keys: set[tuple[int, str]] | None) -> None:
        """Drop these devices' assignments (None: everything)."""
        with self._lock:
            self.epoch += 1
            if keys is None:
                self._assignments.values.clear()
                self._principals.values.clear()
            else:
                for key in keys:
                    self._assignments.values.pop(key, None)

    def _note_changes(self, session: Session, _flush: UOWTransaction) -> None:
        """Remember which devices the transaction changes (everything, for a release or a
        revoked key)."""
        changed: set[Any] = session.info.setdefault(self._changed, set())
        for instance in (*session.new, *session.dirty, *session.deleted):
            if isinstance(instance, Device):
                changed.add((instance.project_id, instance.device_id))
            elif isinstance(instance, Release) or (
                isinstance(instance, ApiKey) and instance.revoked_at is not None
            ):
                changed.add(_EVERYTHING)

    def _committed(self, session: Session) -> None:
        changed = session.info.pop(self._changed, None)
        if changed:
            self.forget(None if _EVERYTHING in changed else changed)

    def _rolled_back(self, session: Session) -> None:
        session.info.pop(self._changed, None)

    def poll(self) -> bool:
        """Read the audit events written since the last poll (by any process): forget the
        devices they name, or everything for a change that may reach many devices. True if
        something was forgotten."""
        with self._sessions() as session:
            head = session.scalar(select(AuditHead.last_id).where(AuditHead.id == HEAD_ID))
            events = [] if self._audit_head is None or head == self._audit_head else list(
                session.execute(
                    select(AuditEvent.action, AuditEvent.target, AuditEvent.project_id)
                    .where(AuditEvent.id > self._audit_head, AuditEvent.id <= head)
                    .limit(MAX_EVENTS_PER_POLL + 1)
                )
            )  # fmt: skip
            session.rollback()
        everything = len(events) > MAX_EVENTS_PER_POLL or (head or 0) < (self._audit_head or 0)
        devices = set()
        for action, target, project_id in events:
            if action.startswith(UNRELATED):
                continue
            if action.startswith("device.") and project_id is not None:
                devices.add((project_id, target.removeprefix("device:")))
            else:  # a rollout, a release, a revoked key...: it may reach any device
                everything = True
        if everything or devices:
            self.forget(None if everything else devices)
        self._audit_head = head
        return everything or bool(devices)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # the database is away: nothing is kept until it is back
                log.warning("could not read the audit head; retrying", exc_info=True)
                self._audit_head = None
                self.forget(None)
            self._stop.wait(self.poll_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for name, listener in self._listeners:
            event.remove(self._sessions, name, listener)
