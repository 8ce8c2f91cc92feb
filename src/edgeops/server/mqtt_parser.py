"""The MQTT bridge's parser: a child process that turns messages into jobs for the committer.

Parsing (JSON, the signature, the values, two hashes) is most of what a message costs, and one
Python process runs one thread at a time: parsed beside the committer, messages leave it
waiting for its turn. In a process of its own the parsing takes the second core. The bridge
sends everything it read from the broker at once (one pipe message) and gets the jobs back the
same way, each exactly what `data.ingest.prepare` made, ready for `Committer.submit_async`.
"""

import contextlib
import threading
from collections import deque
from multiprocessing.connection import Connection
from typing import Any

from edgeops.data.commit_process import forkserver
from edgeops.data.ingest import Destination, Upload, prepare
from edgeops.errors import portable

Work = list[tuple[Destination, list[Upload]]]
JOIN_TIMEOUT_S = 5.0


class Parser:
    """The child process and the order of what is in it: `receive` gives back, for each `send`
    in turn, its tag and its jobs (or the exception that stopped a batch). Its `fileno` is for
    an event loop to watch for results."""

    def __init__(self) -> None:
        context = forkserver()
        self._pipe, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child,), name="edgeops-mqtt-parser", daemon=True
        )
        self._process.start()
        child.close()
        self._lock = threading.Lock()
        self._sent: deque[Any] = deque()  # one tag per `send` not yet answered, in order
        self.alive = True

    def fileno(self) -> int:
        return self._pipe.fileno()

    def send(self, tag: Any, work: Work) -> bool:
        """Hand `work` to the child; False when it is known to be gone (then parse `work`
        yourself). Work sent as it dies comes back from `forsake` with the rest."""
        with self._lock:
            if not self.alive:
                return False
            self._sent.append(tag)
        # Uploads cross as tuples: pickling a dataclass costs five times as much.
        plain = [
            (destination, [(u.filename, u.data, u.label, u.metadata) for u in uploads])
            for destination, uploads in work
        ]
        with contextlib.suppress(OSError):  # gone: the reader of results finds out
            self._pipe.send(plain)  # outside the lock: it waits while the child's pipe is full
        return True

    def receive(self) -> tuple[Any, list[Any]] | None:
        """The oldest `send`'s tag and results; None once the child is gone."""
        try:
            results: list[Any] = self._pipe.recv()
        except (EOFError, OSError):
            return None
        with self._lock:
            return self._sent.popleft(), results

    def forsake(self) -> list[Any]:
        """The child is gone: the tags it had not answered, to be parsed elsewhere."""
        with self._lock:
            self.alive = False
            tags = list(self._sent)
            self._sent.clear()
            return tags

    def close(self) -> None:
        self.forsake()
        self._pipe.close()  # the child reads EOF and ends
        self._process.join(JOIN_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()

    def kill(self) -> None:
        """End the child at once, as a crash would (for tests of the fallback)."""
        self._process.kill()
        self._process.join()


def _serve(pipe: Connection) -> None:
    """The child's loop: parse each batch of work until the bridge closes the pipe."""
    while True:
        try:
            work: list[tuple[Destination, list[tuple[Any, ...]]]] = pipe.recv()
        except EOFError:
            return
        results: list[Any] = []
        for destination, uploads in work:
            try:
                results.append(prepare(destination, [Upload(*fields) for fields in uploads]))
            except Exception as exc:  # the bridge answers it as it would in its own process
                results.append(portable(exc))
        pipe.send(results)
