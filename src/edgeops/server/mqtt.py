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

Throughput: paho's network thread only files messages by sender (project, device); a pool of
workers each takes everything one sender has waiting and calls `Ingestor.ingest` once for it,
and the Ingestor stores what all workers hand it in one group commit. The broker never has more
than `RECEIVE_MAXIMUM` unacknowledged messages in flight to the bridge (backpressure).

Operating the broker: lock it down with its own users and ACLs (the bridge connects as
`mqtt://user:password@host:1883`, or `mqtts://` for TLS), let each device write only its own
`edgeops/+/{device}/data/#` and read its `ack` topic (the signature proves the project, the
topic names the device), and raise mosquitto's `max_queued_messages` (default 1000) above what a
fleet sends while the bridge is down: beyond it the broker drops messages without telling the
devices (who then see no reply and should send again).
"""

import contextlib
import json
import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from edgeops.data.ingest import Destination, Ingestor, Upload
from edgeops.errors import InvalidInput, StorageUnavailable
from edgeops.store.tables import Project
from edgeops.workspace import Workspace

log = logging.getLogger(__name__)

TOPIC_ROOT = "edgeops"
SUBSCRIPTIONS = (
    f"{TOPIC_ROOT}/+/+/data",
    f"{TOPIC_ROOT}/+/+/data/+",
    f"{TOPIC_ROOT}/+/+/telemetry",
)
WORKERS = 32  # threads that wait on group commits; more waiting callers make bigger groups
RECEIVE_MAXIMUM = 2000  # messages the broker may have in flight to the bridge, unacknowledged
SESSION_EXPIRY_S = 7 * 24 * 3600  # how long the broker keeps queuing for a bridge that is down
CONNECT_TIMEOUT_S = 5.0
PROJECT_CACHE_S = 5.0
MAX_DEVICE_ID = 64

_PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_STORAGE_ERRORS = (StorageUnavailable, DBAPIError, OSError)


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


@dataclass
class _Delivery:
    mid: int
    qos: int
    connection: int
    done: bool = False


class _AckWindow:
    """PUBACKs go out in the order their messages arrived, each once its message is done. A
    lost connection forgets the window: the broker resends those messages, and a PUBACK sent on
    the new connection could acknowledge another message that reuses the packet id."""

    def __init__(self, send: Callable[[int, int], object]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._pending: deque[_Delivery] = deque()
        self._connection = 0

    def arrived(self, mid: int, qos: int) -> _Delivery:
        with self._lock:
            delivery = _Delivery(mid, qos, self._connection)
            if qos > 0:
                self._pending.append(delivery)
            return delivery

    def done(self, delivery: _Delivery) -> None:
        with self._lock:  # held while sending, so PUBACKs leave in order
            delivery.done = True
            if delivery.connection != self._connection:
                return
            while self._pending and self._pending[0].done:
                first = self._pending.popleft()
                self._send(first.mid, first.qos)

    def reset(self) -> None:
        with self._lock:
            self._connection += 1
            self._pending.clear()


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
class _Received:
    label: str | None
    payload: bytes
    correlation: bytes | None
    delivery: _Delivery
    telemetry: bool = False


class _Inbox:
    """Messages waiting for a worker, by sender (project, device). A worker takes everything
    one sender has waiting, so a busy device's backlog goes into one `ingest` call (one job,
    one audit event) while other senders' messages go to other workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[tuple[str, str], list[_Received]] = {}
        self._ready: queue.Queue[tuple[str, str] | None] = queue.Queue()

    def put(self, sender: tuple[str, str], message: _Received) -> None:
        with self._lock:
            waiting = self._waiting.get(sender)
            if waiting is not None:
                waiting.append(message)
                return
            self._waiting[sender] = [message]
        self._ready.put(sender)

    def take(self) -> tuple[tuple[str, str], list[_Received]] | None:
        """The next sender's messages, or None once `close` was called and all are taken."""
        sender = self._ready.get()
        if sender is None:
            return None
        with self._lock:
            return sender, self._waiting.pop(sender)

    def close(self, workers: int) -> None:
        for _ in range(workers):
            self._ready.put(None)


class MqttBridge:
    """Subscribes to the devices' data topics on a broker and ingests what they publish."""

    def __init__(self, ws: Workspace, ingestor: Ingestor, url: str, workers: int = WORKERS) -> None:
        self.ws, self.ingestor = ws, ingestor
        self.broker = parse_broker_url(url)
        self._projects = _ProjectCache(ws._sessions, PROJECT_CACHE_S)
        self._inbox = _Inbox()
        self._workers = [
            threading.Thread(target=self._work, name=f"edgeops-mqtt-{n}", daemon=True)
            for n in range(workers)
        ]
        self._stopping = threading.Event()
        self._subscribed = threading.Event()
        self._refused: str | None = None
        self._last_reply: paho.MQTTMessageInfo | None = None
        self._client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=self.broker.client_id,
            protocol=MQTTProtocolVersion.MQTTv5, manual_ack=True,
        )  # fmt: skip
        if self.broker.username is not None:
            self._client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            self._client.tls_set()
        self._acks = _AckWindow(self._client.ack)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def start(self) -> None:
        """Connect, subscribe and start receiving; raise if the broker is not usable."""
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        try:
            self._client.connect(
                self.broker.host, self.broker.port, keepalive=30, clean_start=False,
                properties=properties,
            )  # fmt: skip
        except (OSError, ValueError) as exc:
            raise StorageUnavailable(
                f"cannot reach the MQTT broker at {self.broker} ({exc}); is it running, and is "
                "the URL right?"
            ) from exc
        for worker in self._workers:
            worker.start()
        self._client.loop_start()
        if not self._subscribed.wait(CONNECT_TIMEOUT_S) or self._refused is not None:
            self.stop()
            why = self._refused or f"no answer in {CONNECT_TIMEOUT_S:.0f} s"
            raise StorageUnavailable(
                f"MQTT broker at {self.broker} refused the bridge: {why}; check the user, "
                "password and ACLs in the URL and the broker's configuration"
            )
        log.info("MQTT bridge subscribed to %s on %s", ", ".join(SUBSCRIPTIONS), self.broker)

    def stop(self) -> None:
        """Finish (and acknowledge) the messages taken so far, then disconnect. Messages the
        broker sends from now on stay in the session for the next start."""
        self._stopping.set()
        self._inbox.close(len(self._workers))
        for worker in self._workers:
            if worker.is_alive():
                worker.join()
        if self._last_reply is not None:
            # Not connected: the device gets no reply, but its sample is stored.
            with contextlib.suppress(RuntimeError, ValueError):
                self._last_reply.wait_for_publish(timeout=CONNECT_TIMEOUT_S)
        self._client.disconnect()
        self._client.loop_stop()

    # paho's network thread: only bookkeeping here, never a database call.

    def _on_connect(
        self, client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
        _properties: Any,
    ) -> None:  # fmt: skip
        if reason.is_failure:
            self._refused = str(reason)
            self._subscribed.set()
            return
        self._acks.reset()
        options = SubscribeOptions(qos=1, retainHandling=SubscribeOptions.RETAIN_DO_NOT_SEND)
        client.subscribe([(topic, options) for topic in SUBSCRIPTIONS])

    def _on_subscribe(
        self, _client: paho.Client, _userdata: Any, _mid: int, reasons: list[ReasonCode],
        _properties: Any,
    ) -> None:  # fmt: skip
        failed = [str(reason) for reason in reasons if reason.is_failure]
        if failed:
            self._refused = f"subscription refused ({failed[0]})"
        self._subscribed.set()

    def _on_disconnect(
        self, _client: paho.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
        _properties: Any,
    ) -> None:  # fmt: skip
        self._acks.reset()
        if not self._stopping.is_set():
            log.warning("MQTT bridge lost the broker at %s (%s); reconnecting", self.broker, reason)

    def _on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # not acknowledged: the broker keeps it for the next start
        # The subscriptions guarantee edgeops/{project}/{device}/(data[/{label}]|telemetry).
        parts = message.topic.split("/")
        received = _Received(
            label=parts[4] if len(parts) == 5 else None,
            payload=bytes(message.payload),
            correlation=getattr(message.properties, "CorrelationData", None),
            delivery=self._acks.arrived(message.mid, message.qos),
            telemetry=parts[3] == "telemetry",
        )
        self._inbox.put((parts[1], parts[2]), received)

    # Workers.

    def _work(self) -> None:
        while (taken := self._inbox.take()) is not None:
            (project, device), messages = taken
            try:
                replies = self._ingest(project, device, messages)
            except Exception as exc:  # a bug must not redeliver the messages forever
                log.exception("MQTT bridge failed on messages from %s/%s", project, device)
                error = _refusal(f"internal error: {type(exc).__name__}: {exc}")
                replies = [error] * len(messages)
            if replies is None:
                continue  # stopping while the database is down: the broker redelivers them
            for message, reply in zip(messages, replies, strict=True):
                answer = telemetry_ack_topic if message.telemetry else ack_topic
                self._reply(answer(project, device), message, reply)

    def _reply(self, topic: str, message: _Received, reply: dict[str, Any]) -> None:
        properties = None
        if message.correlation is not None:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = message.correlation
        self._last_reply = self._client.publish(
            topic, json.dumps(reply), qos=1, properties=properties
        )
        self._acks.done(message.delivery)

    def _ingest(
        self, project_name: str, device: str, messages: list[_Received]
    ) -> list[dict[str, Any]] | None:
        """One reply per message. While the database or blob store fails, retry (nothing is
        acknowledged meanwhile); None when the bridge stops first."""
        delay = 0.1
        while True:
            try:
                return self._try_ingest(project_name, device, messages)
            except _STORAGE_ERRORS as exc:
                log.warning("MQTT bridge cannot store samples yet (%s); retrying", exc)
            if self._stopping.wait(delay):
                return None
            delay = min(delay * 2, 5.0)

    def _try_ingest(
        self, project_name: str, device: str, messages: list[_Received]
    ) -> list[dict[str, Any]]:
        destination = self._destination(project_name, device)
        if isinstance(destination, str):
            return [_refusal(destination)] * len(messages)
        samples = [m for m in messages if not m.telemetry]
        uploads = [Upload(_filename(m.payload), m.payload, label=m.label) for m in samples]
        outcomes = iter(self.ingestor.ingest(destination, uploads) if uploads else [])
        replies = []
        for message in messages:
            if message.telemetry:
                replies.append(self._telemetry(project_name, device, message.payload))
                continue
            outcome = next(outcomes)
            replies.append(
                {"ok": True, "sample_id": outcome.sample_id}
                if outcome.error is None
                else _refusal(outcome.error)
            )
        return replies

    def _telemetry(self, project_name: str, device: str, payload: bytes) -> dict[str, Any]:
        """Store one telemetry message; a malformed one is refused, nothing stored."""
        from edgeops.monitoring import telemetry

        try:
            return {"ok": True, **telemetry.ingest(self.ws, project_name, payload, device=device)}
        except InvalidInput as exc:
            return _refusal(str(exc))

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


def _refusal(error: str) -> dict[str, Any]:
    return {"ok": False, "error": error}
