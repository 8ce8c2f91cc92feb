"""The server's group committer in a process of its own.

A server process answers HTTP requests on its event loop; parsing the uploads and the group
commit (rows, audit, pack writes, the syncs) are about as much work again. In one process they
take turns on one interpreter lock, so a server could not use a second core for ingestion. Here
the committer (an `Ingestor`) runs in a child process: the server sends each job over a socket
pair, small uploads as they came (the child parses them) and the rest parsed, and the child
answers once per group commit, after it is durable.

If the child dies, the uploads it had not answered get a `StorageUnavailable` (HTTP 503: send
again; samples are deduplicated by content, so a resend of one that was stored is harmless),
and the next upload starts a new child. If the server dies, the child reads the end of its
socket, commits what it has, and ends.
"""

import contextlib
import itertools
import multiprocessing
import os
import pickle
import threading
import traceback
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any

from edgeops.config import Settings
from edgeops.data.ingest import (
    Committer,
    Destination,
    IngestJob,
    Ingestor,
    Upload,
    answer_callers,
    parse,
    unparsed,
)
from edgeops.errors import StorageUnavailable, portable

# Modules the fork server imports once, so that its children start without importing edgeops.
FORKSERVER_PRELOAD = [__name__, "edgeops.server.mqtt_parser"]
STOP = b""  # the server's last message: commit what is queued, answer, end
JOIN_TIMEOUT_S = 60.0
# A batch read from the socket with fewer jobs than this (HTTP: one per client waiting) is
# committed by the thread that read it when the committer thread is idle, saving two thread
# switches; larger ones (MQTT: many messages at once) go to the committer thread, so that
# reading and parsing the next batch overlap the commit's syncs. Interleaved runs: HTTP
# 1,620-1,880 samples/s against 1,230-1,570 with every batch handed over; MQTT the same.
COMMIT_HERE_BELOW = 16


def forkserver() -> ForkServerContext:
    """The multiprocessing context for edgeops' child processes: forks of a small server process
    with edgeops imported, not of the threaded server (unsafe) nor new interpreters (slow)."""
    context = multiprocessing.get_context("forkserver")
    assert isinstance(context, ForkServerContext)
    context.set_forkserver_preload(FORKSERVER_PRELOAD)
    return context


class CommitProcess(Committer):
    """A `Committer` whose committing is done by an `Ingestor` in a child process for the
    workspace `settings` (started by `start`, or by the first upload)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self._closed = False

    def start(self) -> None:
        with self._lock:
            self._running()

    def close(self) -> None:
        """Let the child commit what it was sent and answer it, then end it."""
        with self._lock:
            self._closed, child, self._child = True, self._child, None
        if child is not None:
            child.close()

    def pid(self) -> int | None:
        """The child's process id (None before it started), for tests that end it."""
        return self._child.pid if self._child is not None else None

    def put(self, job: IngestJob) -> None:
        with self._lock:
            for _attempt in range(2):  # the child may have just died: then a new one
                child = self._running()
                token = child.expect(job)
                if token is not None:
                    break
            else:
                raise StorageUnavailable(
                    "the committer process keeps ending (see the server's log); nothing was "
                    "stored, send the uploads again"
                )
        child.send(token, job)

    def _running(self) -> "_Child":
        if self._closed:
            raise StorageUnavailable("the server is shutting down; send the uploads again")
        if self._child is None or not self._child.alive:
            if self._child is not None:
                self._child.discard()
            self._child = _Child(self._settings)
        return self._child


class _Child:
    """One child process, the jobs sent to it and not yet answered, and the thread that reads
    its answers."""

    def __init__(self, settings: Settings) -> None:
        context = forkserver()
        self._connection, theirs = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(theirs, settings, dict(os.environ)),  # the fork server's may be older
            name="edgeops-committer",
            daemon=True,
        )
        self._process.start()
        theirs.close()
        self.pid = self._process.pid
        self._lock = threading.Lock()  # the pending jobs and `alive`
        self._send_lock = threading.Lock()
        self._pending: dict[int, IngestJob] = {}
        self._tokens = itertools.count()
        self.alive = True
        self._reader = threading.Thread(
            target=self._read, name="edgeops-commit-answers", daemon=True
        )
        self._reader.start()

    def expect(self, job: IngestJob) -> int | None:
        """Register `job` for an answer, by the child or, if it dies, with an error; None when
        it is dead already."""
        with self._lock:
            if not self.alive:
                return None
            token = next(self._tokens)
            self._pending[token] = job
            return token

    def send(self, token: int, job: IngestJob) -> None:
        # The destination and uploads cross as tuples: pickling a dataclass costs several times
        # as much.
        uploads = [_fields(upload) for upload in job.uploads]
        message = (token, _fields(job.destination), job.rows, job.blobs, uploads)
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        with self._send_lock, contextlib.suppress(OSError):  # gone: `_read` answers the job
            self._connection.send_bytes(data)

    def close(self) -> None:
        with self._send_lock, contextlib.suppress(OSError):
            self._connection.send_bytes(STOP)
        self._reader.join(JOIN_TIMEOUT_S)
        self._process.join(JOIN_TIMEOUT_S)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._connection.close()

    def discard(self) -> None:
        """Let go of a child that died."""
        self._connection.close()
        self._process.join(0)

    def _read(self) -> None:
        while True:
            try:
                tokens, results, error = pickle.loads(self._connection.recv_bytes())
            except (EOFError, OSError):
                break
            with self._lock:
                group = [self._pending.pop(token) for token in tokens]
            answer_callers(group, results, error)
        with self._lock:
            self.alive = False
            forsaken = list(self._pending.values())
            self._pending.clear()
        if forsaken:
            answer_callers(
                forsaken,
                None,
                StorageUnavailable(
                    "the committer process ended before it answered; these uploads may not "
                    "have been stored, send them again"
                ),
            )


def _parse(job: IngestJob) -> None:
    """`parse`, where a file that breaks the parser (a bug of ours) gets an error of its own
    rather than end the process and with it every upload it holds."""
    try:
        parse(job)
    except Exception:
        traceback.print_exc()
        job.rows.clear()
        for outcome in job.outcomes:
            outcome.error = outcome.error or (
                "the server failed to read this file (an error of edgeops, in its log); report "
                "it with the file"
            )


def _parse_errors(job: IngestJob) -> dict[int, int | str]:
    return {i: o.error for i, o in enumerate(job.outcomes) if o.error is not None}


def _fields(instance: Destination | Upload) -> tuple[Any, ...]:
    """A dataclass's fields in order, to make it again with `type(instance)(*fields)`."""
    return tuple(getattr(instance, name) for name in type(instance).__dataclass_fields__)


def _die(args: threading.ExceptHookArgs) -> None:
    """A thread of the child failed: end the child, whose server then answers what it held
    with an error and starts another, rather than leave every upload waiting for a committer
    that is gone."""
    traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback)
    os._exit(70)


def _serve(connection: Connection, settings: Settings, environ: dict[str, str]) -> None:
    """The child: commit the jobs it is sent, a group at a time, until the server stops or
    goes."""
    from edgeops.governance.encryption import DatabaseKeyRing, master_key_path
    from edgeops.store import db
    from edgeops.store.crypt import SealedBlobStore

    os.environ.clear()
    os.environ.update(environ)
    threading.excepthook = _die
    engine = db.create_db_engine(settings.resolved_database_url())
    keys = DatabaseKeyRing(engine, master_key_path(settings.home))
    tokens: dict[int, int] = {}  # id of a job → the server's token for it
    sending = threading.Lock()

    def answer(
        group: list[IngestJob],
        results: list[dict[int, int | str]] | None,
        error: Exception | None,
    ) -> None:
        if results is not None:  # with the errors of files that did not parse here
            results = [{**r, **_parse_errors(job)} for job, r in zip(group, results, strict=True)]
        message = ([tokens.pop(id(job)) for job in group], results, error and portable(error))
        data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
        # From the committer thread, and from this one for jobs with no file that parsed.
        with sending, contextlib.suppress(OSError):  # the server is gone; nobody waits
            connection.send_bytes(data)

    blobs = SealedBlobStore(settings.resolved_blob_url(), keys)
    ingestor = Ingestor(db.session_factory(engine), blobs, answer=answer)
    try:
        stop = False
        while not stop:
            group, stop = _gather(connection, ingestor.max_group)
            for token, job in group:
                tokens[id(job)] = token
            ingestor.put_many([job for _token, job in group], here_below=COMMIT_HERE_BELOW)
    finally:
        ingestor.close()
        connection.close()
        engine.dispose()


def _gather(connection: Connection, max_group: int) -> tuple[list[tuple[int, IngestJob]], bool]:
    """The next group: a job (waiting for it), then every job already sent (no more than
    `max_group` samples), parsed, with their tokens; True when the server stopped or went.
    Read and parsed while the committer thread commits the group before, so that its syncs
    overlap this work, and handed over as a batch: a hand-over per job cost 0.1 ms per
    upload in thread switches (measured). With a batch, MQTT (many uploads at once) went
    from 3,390-3,580 to 3,740-3,980 messages/s."""
    group: list[tuple[int, IngestJob]] = []
    size = 0
    while size < max_group and (not group or connection.poll()):
        try:
            data = connection.recv_bytes()
        except (EOFError, OSError):
            return group, True
        if data == STOP:
            return group, True
        token, fields, rows, blobs, uploads = pickle.loads(data)
        destination = Destination(*fields)
        if uploads:
            job = unparsed(destination, [Upload(*upload) for upload in uploads])
            _parse(job)
        else:
            job = IngestJob(destination, rows, blobs)
        group.append((token, job))
        size += len(job.rows)
    return group, False
