"""The MQTT bridge: devices publish signed Edge Impulse messages to a broker, edgeops stores them.

Contract with devices:

- Publish (QoS 1) one Edge Impulse acquisition message, JSON or CBOR, to
  `edgeops/{project}/{device}/data`, or to `edgeops/{project}/{device}/data/{label}` to label
  it. The message MUST be signed HS256 with the project's HMAC key (`Project.hmac_key`, served
  to devices at `/v1/api/{project_id}/devkeys`): the signature is what authenticates a device on
  MQTT, so unsigned (`alg: none`) messages are refused whatever the project allows over HTTP.
  Samples go to training or testing by content hash ("split"), keep `device` as their device
  id and `mqtt:{device}` as the audit actor.
- The outcome comes back (QoS 1) on `edgeops/{project}/{device}/ack` as JSON:
  `{"ok": true, "sample_id": 12}` or `{"ok": false, "error": "..."}`. An MQTT v5 publisher's
  correlation data is echoed on the reply, so a device with several messages in flight can
  tell which reply is whose. A message sent twice (a QoS 1 resend) is stored once: the second
  reply names the same sample.

Delivery guarantees: the bridge connects with a fixed client id (`?client_id=`, default
`edgeops-bridge`) and a persistent MQTT v5 session (clean start off, session kept a week), and
acknowledges a message to the broker (PUBACK, sent by hand, in arrival order as MQTT requires)
only after the sample is committed and its blobs synced. Messages that arrive while the bridge is
down, or that it had not finished when it crashed, are delivered again when it comes back.
Refused messages (unknown project, bad signature, malformed data) are acknowledged too, so they
are not redelivered forever. When the commit fails (database down, disk full), the message is
retried and stays unacknowledged until it is stored or the bridge stops; a blob write refused
while parsing is that message's error (as over HTTP) and is answered `ok: false`.

Throughput: the connection's reader thread (`mqtt_client`) takes everything the socket holds at
once and groups it by sender (project, device); a child process (`mqtt_parser`) parses each
sender's messages into one job, on the second core; an event loop hands the jobs to the
committer (`submit_async`), which stores what is waiting in one group commit; the loop then
publishes the group's replies and PUBACKs in one write. No thread waits per message. Should
the parser process die, the bridge parses in its own process from then on. The broker never
has more than `RECEIVE_MAXIMUM` unacknowledged messages in flight to the bridge
(backpressure). Telemetry is stored on a thread of its own, commit retries on another.

Operating the broker: lock it down with its own users and ACLs (the bridge connects as
`mqtt://user:password@host:1883`, or `mqtts://` for TLS), let each device write only its own
`edgeops/+/{device}/data/#` and read its `ack` topic (the signature proves the project, the
topic names the device), and raise mosquitto's `max_queued_messages` (default 1000) above what a
fleet sends while the bridge is down: beyond it the broker drops messages without telling the
devices (who then see no reply and should send again).
"""

import asyncio
import functools
import json
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from edgeops.data.ingest import Committer, Destination, Outcome, Upload
from edgeops.errors import InvalidInput, StorageUnavailable
from edgeops.server.mqtt_client import Connection, Message, ProtocolError, Reply, Settings
from edgeops.server.mqtt_parser import Parser, Work
from edgeops.store.tables import Project
from edgeops.workspace import Workspace

log = logging.getLogger(__name__)

TOPIC_ROOT = "edgeops"
SUBSCRIPTIONS = (
    f"{TOPIC_ROOT}/+/+/data",
    f"{TOPIC_ROOT}/+/+/data/+",
    f"{TOPIC_ROOT}/+/+/telemetry",
)
RECEIVE_MAXIMUM = 2000  # messages the broker may have in flight to the bridge, unacknowledged
SESSION_EXPIRY_S = 7 * 24 * 3600  # how long the broker keeps queuing for a bridge that is down
CONNECT_TIMEOUT_S = 5.0
PROJECT_CACHE_S = 5.0
MAX_DEVICE_ID = 64

_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# What a commit raises while the database or disk is unusable: the message is retried. The
# drivers' own errors too, for statements run on the raw connection.
_STORAGE_ERRORS = (StorageUnavailable, DBAPIError, sqlite3.Error, psycopg.Error, OSError)


def data_topic(project: str, device: str, label: str | None = None) -> str:
    """Where `device` publishes its samples for `project` (labelled `label`)."""
    base = f"{TOPIC_ROOT}/{project}/{device}/data"
    return base if label is None else f"{base}/{label}"


def ack_topic(project: str, device: str) -> str:
    """Where the bridge answers `device`'s samples."""
    return f"{TOPIC_ROOT}/{project}/{device}/ack"


def telemetry_topic(project: str, device: str) -> str:
    """Where `device` publishes inference records (monitoring.telemetry's payload contract).
    Telemetry is not signed: the broker's ACL vouches for the device named in the topic."""
    return f"{TOPIC_ROOT}/{project}/{device}/telemetry"


def telemetry_ack_topic(project: str, device: str) -> str:
    """Where the bridge answers `device`'s telemetry."""
    return f"{telemetry_topic(project, device)}/ack"


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None = field(repr=False)
    tls: bool
    client_id: str

    def __str__(self) -> str:  # never shows the password
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerAddress:
    """`mqtt://user:password@host:1883?client_id=edgeops-bridge` (`mqtts://` for TLS)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidInput(f"cannot read MQTT URL: {exc}") from exc
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise InvalidInput(
            f"MQTT URL must look like mqtt://user:password@host:1883 (or mqtts:// for TLS), "
            f"got scheme {parts.scheme!r} and host {parts.hostname!r}"
        )
    tls = parts.scheme == "mqtts"
    client_id = parse_qs(parts.query).get("client_id", ["edgeops-bridge"])[0]
    return BrokerAddress(
        host=parts.hostname, port=port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls, client_id=client_id,
    )  # fmt: skip


@dataclass(frozen=True)
class _ProjectEntry:
    id: int
    hmac_key: str


class _ProjectCache:
    """Project name → id and HMAC key, cached for `ttl_s`: a fleet costs one query per project
    every few seconds, and a rotated key takes effect within `ttl_s`."""

    def __init__(self, sessions: sessionmaker[Session], ttl_s: float) -> None:
        self.sessions, self.ttl_s = sessions, ttl_s
        self._entries: dict[str, tuple[float, _ProjectEntry | None]] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> _ProjectEntry | None:
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        with self.sessions() as session:
            row = session.execute(
                select(Project.id, Project.hmac_key).where(Project.name == name)
            ).one_or_none()
        entry = _ProjectEntry(row.id, row.hmac_key) if row is not None else None
        with self._lock:
            if len(self._entries) > 10_000:  # unknown names must not grow memory without end
                self._entries.clear()
            self._entries[name] = (now + self.ttl_s, entry)
        return entry


@dataclass
class _Batch:
    """A sender's messages out of one read from the broker: one `submit`, one job."""

    project: str
    device: str
    telemetry: bool
    messages: list[Message]
    labels: list[str | None]
    delay: float = 0.0  # before the next retry


class MqttBridge:
    """Subscribes to the devices' data topics on a broker and ingests what they publish."""

    def __init__(self, ws: Workspace, ingestor: Committer, url: str) -> None:
        self.ws, self.ingestor = ws, ingestor
        self.broker = parse_broker_url(url)
        self._projects = _ProjectCache(ws._sessions, PROJECT_CACHE_S)
        self._stopping = threading.Event()
        self._busy = threading.Condition()
        self._unfinished = 0  # batches taken and not yet answered (or given up at stop)
        self._retries: queue.Queue[_Batch | None] = queue.Queue()
        self._telemetry: queue.Queue[_Batch | None] = queue.Queue()
        self._loop = asyncio.new_event_loop()  # hands parsed jobs to the committer, answers
        self._helpers = [
            threading.Thread(target=self._retry, name="edgeops-mqtt-retry", daemon=True),
            threading.Thread(target=self._store_telemetry, name="edgeops-mqtt-tm", daemon=True),
            threading.Thread(target=self._loop.run_forever, name="edgeops-mqtt-loop", daemon=True),
        ]
        self._parser: Parser | None = None
        self._outbox: list[tuple[_Batch, list[dict[str, Any]]]] = []  # the loop's, to send
        self._client = Connection(
            Settings(
                host=self.broker.host, port=self.broker.port, client_id=self.broker.client_id,
                username=self.broker.username, password=self.broker.password,
                tls=self.broker.tls, subscriptions=SUBSCRIPTIONS,
                receive_maximum=RECEIVE_MAXIMUM, session_expiry_s=SESSION_EXPIRY_S,
                connect_timeout_s=CONNECT_TIMEOUT_S,
            ),
            self._on_messages,
        )  # fmt: skip

    def start(self) -> None:
        """Connect, subscribe and start receiving; raise if the broker is not usable."""
        for helper in self._helpers:
            helper.start()
        self._parser = Parser()
        self._loop.call_soon_threadsafe(self._loop.add_reader, self._parser, self._on_parsed)
        try:
            self._client.start()
        except OSError as exc:
            self._stop_helpers()
            raise StorageUnavailable(
                f"cannot reach the MQTT broker at {self.broker} ({exc}); is it running, and is "
                "the URL right?"
            ) from exc
        except ProtocolError as exc:
            self._stop_helpers()
            raise StorageUnavailable(
                f"MQTT broker at {self.broker} refused the bridge: {exc}; check the user, "
                "password and ACLs in the URL and the broker's configuration"
            ) from exc
        log.info("MQTT bridge subscribed to %s on %s", ", ".join(SUBSCRIPTIONS), self.broker)

    def stop(self) -> None:
        """Finish (and acknowledge) the messages taken so far, then disconnect. Messages the
        broker sends from now on stay in the session for the next start; so do those whose
        commit was still failing."""
        with self._busy:
            self._stopping.set()
            self._busy.wait_for(lambda: self._unfinished == 0)
        self._stop_helpers()
        # Not connected: the device gets no reply, but its sample is stored.
        self._client.settled(CONNECT_TIMEOUT_S)
        self._client.close()

    def _stop_helpers(self) -> None:
        self._retries.put(None)
        self._telemetry.put(None)
        self._loop.call_soon_threadsafe(self._loop.stop)
        for helper in self._helpers:
            if helper.is_alive():
                helper.join()
        self._loop.close()
        if self._parser is not None:
            self._parser.close()

    # The connection's reader thread: parse the data messages and hand them to the committer.

    def _on_messages(self, messages: list[Message]) -> None:
        batches: dict[tuple[str, str, bool], _Batch] = {}
        for message in messages:
            # The subscriptions guarantee edgeops/{project}/{device}/(data[/{label}]|telemetry).
            parts = message.topic.split("/")
            telemetry = parts[3] == "telemetry"
            sender = (parts[1], parts[2], telemetry)
            if (batch := batches.get(sender)) is None:
                batch = batches[sender] = _Batch(parts[1], parts[2], telemetry, [], [])
            batch.messages.append(message)
            batch.labels.append(parts[4] if len(parts) == 5 else None)
        with self._busy:
            if self._stopping.is_set():
                return  # not acknowledged: the broker keeps them for the next start
            self._unfinished += len(batches)
        to_parse: list[_Batch] = []
        work: Work = []
        for batch in batches.values():
            if batch.telemetry:
                self._telemetry.put(batch)
            elif (uploads := self._uploads(batch)) is not None:
                to_parse.append(batch)
                work.append(uploads)
        if work and (self._parser is None or not self._parser.send(to_parse, work)):
            for batch, (destination, files) in zip(to_parse, work, strict=True):
                self._submit(batch, destination, files)

    def _uploads(self, batch: _Batch) -> tuple[Destination, list[Upload]] | None:
        """Where `batch` goes and its uploads; None when it is answered (or retried) already."""
        try:
            destination = self._destination(batch.project, batch.device)
        except _STORAGE_ERRORS as exc:
            self._later(batch, exc)
            return None
        if isinstance(destination, str):
            self._answer(batch, [_refusal(destination)] * len(batch.messages))
            return None
        uploads = [
            Upload(_filename(message.payload), message.payload, label=label)
            for message, label in zip(batch.messages, batch.labels, strict=True)
        ]
        return destination, uploads

    def _submit(self, batch: _Batch, destination: Destination, uploads: list[Upload]) -> None:
        """Parse `batch` in this thread and queue it for the next group commit (retries, and
        when the parser process is gone)."""
        try:
            future = self.ingestor.submit(destination, uploads)
        except _STORAGE_ERRORS as exc:
            self._later(batch, exc)
            return
        except Exception as exc:  # a bug must not redeliver the messages forever
            self._failed(batch, exc)
            return
        future.add_done_callback(lambda done: self._committed(batch, done))

    # The event loop: jobs back from the parser go to the committer.

    def _on_parsed(self) -> None:
        assert self._parser is not None
        if (received := self._parser.receive()) is None:
            self._loop.remove_reader(self._parser)
            forsaken = self._parser.forsake()
            if not self._stopping.is_set():
                log.error("the MQTT parser process ended; parsing in the server process now")
            for batches in forsaken:
                for batch in batches:
                    if (uploads := self._uploads(batch)) is not None:
                        self._submit(batch, *uploads)
            return
        batches, results = received
        for batch, result in zip(batches, results, strict=True):
            if isinstance(result, BaseException):
                self._settled(batch, result, [])
                continue
            try:
                waiter = self.ingestor.submit_async(result)
            except Exception as exc:  # as a failed commit would be: retried or refused
                self._settled(batch, exc, [])
                continue
            waiter.add_done_callback(functools.partial(self._committed_on_loop, batch))

    def _committed_on_loop(self, batch: _Batch, waiter: "asyncio.Future[list[Outcome]]") -> None:
        """The committer wakes the loop once per group: the group's answers go out together,
        in one write, once every job of it has had its turn here."""
        if (error := waiter.exception()) is not None:
            self._settled(batch, error, [])
            return
        if not self._outbox:
            self._loop.call_soon(self._send_outbox)
        self._outbox.append((batch, _replies(waiter.result())))

    def _send_outbox(self) -> None:
        answered, self._outbox = self._outbox, []
        self._client.answer(
            (reply for batch, replies in answered for reply in _reply_messages(batch, replies)),
            (message for batch, _ in answered for message in batch.messages),
        )
        self._finished(len(answered))

    # The committer thread, once the batch's group is committed (or failed).

    def _committed(self, batch: _Batch, future: "Future[list[Outcome]]") -> None:
        error = future.exception()
        self._settled(batch, error, future.result() if error is None else [])

    def _settled(self, batch: _Batch, error: BaseException | None, outcomes: list[Outcome]) -> None:
        if isinstance(error, _STORAGE_ERRORS):
            self._later(batch, error)
        elif error is not None:
            self._failed(batch, error)
        else:
            self._answer(batch, _replies(outcomes))

    def _answer(self, batch: _Batch, replies: list[dict[str, Any]]) -> None:
        """Reply to each message on the sender's ack topic, then acknowledge them all."""
        self._client.answer(_reply_messages(batch, replies), batch.messages)
        self._finished()

    def _failed(self, batch: _Batch, error: BaseException) -> None:
        log.error(
            "MQTT bridge failed on messages from %s/%s", batch.project, batch.device,
            exc_info=error,
        )  # fmt: skip
        refusal = _refusal(f"internal error: {type(error).__name__}: {error}")
        self._answer(batch, [refusal] * len(batch.messages))

    def _finished(self, batches: int = 1) -> None:
        with self._busy:
            self._unfinished -= batches
            self._busy.notify_all()

    # Retries: while the database or blob store fails, nothing is acknowledged.

    def _later(self, batch: _Batch, error: BaseException) -> None:
        if self._stopping.is_set():  # given up, unacknowledged: redelivered to the next start
            self._finished()
            return
        log.warning("MQTT bridge cannot store samples yet (%s); retrying", error)
        self._retries.put(batch)

    def _retry(self) -> None:
        """Submit failed batches again after a delay that doubles up to 5 s; at stop, give
        them up unacknowledged (the broker redelivers them to the next start)."""
        while (batch := self._retries.get()) is not None:
            batch.delay = min(batch.delay * 2, 5.0) if batch.delay else 0.1
            if self._stopping.wait(batch.delay):
                self._finished()
                continue
            if (uploads := self._uploads(batch)) is not None:
                self._submit(batch, *uploads)

    # Telemetry: stored by its own service, one batch at a time on its own thread.

    def _store_telemetry(self) -> None:
        while (batch := self._telemetry.get()) is not None:
            from edgeops.monitoring import telemetry  # pandas and pyarrow: only when needed

            replies: list[dict[str, Any]] = []
            for message in batch.messages:
                try:
                    stored = telemetry.ingest(
                        self.ws, batch.project, message.payload, device=batch.device
                    )
                    replies.append({"ok": True, **stored})
                except InvalidInput as exc:
                    replies.append(_refusal(str(exc)))
                except Exception as exc:
                    log.exception(
                        "MQTT bridge failed on telemetry from %s/%s", batch.project, batch.device
                    )
                    replies.append(_refusal(f"internal error: {type(exc).__name__}: {exc}"))
            self._answer(batch, replies)

    def _destination(self, project_name: str, device: str) -> Destination | str:
        """Where a sender's messages go, or why they are refused."""
        if not 0 < len(device) <= MAX_DEVICE_ID or not device.isprintable():
            return f"device id must be 1-{MAX_DEVICE_ID} printable characters"
        project = self._projects.get(project_name) if _PROJECT_NAME.match(project_name) else None
        if project is None:
            return f"no project named {project_name!r}"
        if not project.hmac_key:  # without a key, any message would pass as "unverified"
            return f"project {project_name!r} has no HMAC key to check signatures with"
        return Destination(
            project_id=project.id, actor=f"mqtt:{device}", source="mqtt", category="split",
            hmac_key=project.hmac_key, allow_unsigned=False, device_id=device,
            max_bytes=self.ws.settings.max_file_bytes,
        )  # fmt: skip


def _filename(payload: bytes) -> str:
    """`parse_file` tells JSON from CBOR by the bytes; the name only records which it was."""
    return "mqtt.cbor" if payload[:1] and 0xA0 <= payload[0] <= 0xBF else "mqtt.json"


def _replies(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    return [
        {"ok": True, "sample_id": outcome.sample_id}
        if outcome.error is None
        else _refusal(outcome.error)
        for outcome in outcomes
    ]


def _reply_messages(batch: _Batch, replies: list[dict[str, Any]]) -> Iterator[Reply]:
    """The replies to `batch`'s messages, on the sender's ack topic."""
    answer = telemetry_ack_topic if batch.telemetry else ack_topic
    topic = answer(batch.project, batch.device)
    for message, reply in zip(batch.messages, replies, strict=True):
        yield Reply(topic, json.dumps(reply).encode(), message.correlation)


def _refusal(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}
