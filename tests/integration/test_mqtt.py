"""The MQTT bridge against a real mosquitto: signed messages become samples, acknowledged only
once committed, with a reply to the device on its ack topic."""

import asyncio
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cbor2
import numpy as np
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy import select

from edgeops.data.formats.ei import sign_ei
from edgeops.data.ingest import Ingestor, Outcome
from edgeops.errors import InvalidInput, StorageUnavailable
from edgeops.server.mqtt import (
    MqttBridge,
    ack_topic,
    data_topic,
    telemetry_ack_topic,
    telemetry_topic,
)
from edgeops.store.tables import AuditEvent, Sample
from edgeops.workspace import Workspace

pytestmark = pytest.mark.mqtt

MOSQUITTO = Path("/usr/sbin/mosquitto")
START_TIMEOUT = 10.0
REPLY_TIMEOUT = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


class Mosquitto:
    """A throwaway mosquitto on a free loopback port, which a test may stop and start again."""

    def __init__(
        self,
        folder: Path,
        tls: tuple[Path, Path] | None = None,
        password_file: Path | None = None,
    ) -> None:
        self.port = _free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config, self.log = folder / "mosquitto.conf", folder / "mosquitto.log"
        # max_queued_messages: the default 1000 would drop messages queued for a bridge that
        # is down.
        users = "allow_anonymous true\n"
        if password_file is not None:
            users = f"allow_anonymous false\npassword_file {password_file}\n"
        config = (
            f"listener {self.port} 127.0.0.1\n{users}persistence false\n"
            "log_dest stderr\nmax_queued_messages 100000\n"
        )
        if tls is not None:  # a second listener, with TLS: its certificate is its own CA
            self.tls_url = f"mqtts://127.0.0.1:{(tls_port := _free_port())}"
            certificate, key = tls
            config += (
                f"listener {tls_port} 127.0.0.1\n"
                f"cafile {certificate}\ncertfile {certificate}\nkeyfile {key}\n"
            )
        self.config.write_text(config)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(MOSQUITTO), "-c", str(self.config)], stderr=out, stdout=out
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mosquitto did not start; its log:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    if not MOSQUITTO.exists():
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"{MOSQUITTO} is missing in CI: apt-get install mosquitto")
        pytest.skip(f"{MOSQUITTO} not found (apt-get install mosquitto)")
    server = Mosquitto(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def broker(mosquitto: Mosquitto) -> str:
    """The throwaway mosquitto's URL."""
    return mosquitto.url


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'edgeops.db'}")
    workspace.projects.create("p")
    yield workspace
    workspace.close()


@pytest.fixture
def key(ws: Workspace) -> str:
    return ws.projects.get("p").hmac_key


@pytest.fixture
def ingestor(ws: Workspace) -> Iterator[Ingestor]:
    committer = Ingestor(ws._sessions, ws.blobs)
    yield committer
    committer.close()


@contextmanager
def running(bridge: MqttBridge) -> Iterator[MqttBridge]:
    bridge.start()
    try:
        yield bridge
    finally:
        bridge.stop()


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("mqtt://").split(":")
    return host, int(port)


def _client(url: str, client_id: str = "") -> paho.Client:
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.max_inflight_messages_set(100)
    client.connect(*_host_port(url))
    client.loop_start()
    return client


@dataclass
class Reply:
    topic: str
    body: dict[str, Any]
    correlation: bytes | None


class Replies:
    """Collects what the bridge answers on the ack topics."""

    def __init__(self, url: str) -> None:
        self.received: list[Reply] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect(*_host_port(url))
        self.client.subscribe([(ack_topic("+", "+"), 1), (telemetry_ack_topic("+", "+"), 1)])
        self.client.loop_start()
        assert self._subscribed.wait(5), "the reply collector could not subscribe"

    def _on_message(self, _client: Any, _userdata: Any, message: paho.MQTTMessage) -> None:
        correlation = getattr(message.properties, "CorrelationData", None)
        with self._changed:
            self.received.append(Reply(message.topic, json.loads(message.payload), correlation))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = REPLY_TIMEOUT) -> list[Reply]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.received) >= count, timeout)
            assert len(self.received) >= count, f"{len(self.received)} of {count} replies came"
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def replies(broker: str) -> Iterator[Replies]:
    collector = Replies(broker)
    yield collector
    collector.close()


@pytest.fixture
def publish(broker: str) -> Iterator[Callable[..., None]]:
    """Publish (QoS 1) and wait until the broker has the message."""
    client = _client(broker)

    def send(topic: str, payload: bytes, correlation: bytes | None = None) -> None:
        properties = None
        if correlation is not None:
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = correlation
        client.publish(topic, payload, qos=1, properties=properties).wait_for_publish(5)

    yield send
    client.disconnect()
    client.loop_stop()


def _payload(seed: int, steps: int = 20) -> dict[str, Any]:
    values = np.random.default_rng(seed).normal(size=(steps, 3)).astype(np.float32)
    return {
        "device_name": "ignored",  # the topic names the device
        "device_type": "TEST",
        "interval_ms": 10,
        "sensors": [{"name": f"acc{axis}", "units": "m/s2"} for axis in "XYZ"],
        "values": values.tolist(),
    }


def _samples(ws: Workspace) -> list[Sample]:
    return ws.data.samples(project="p")


def test_signed_json_and_cbor_messages_become_samples(
    ws: Workspace, ingestor: Ingestor, broker: str, key: str, replies: Replies, publish: Any
) -> None:
    with running(MqttBridge(ws, ingestor, broker)):
        publish(data_topic("p", "dev-1", "idle"), sign_ei(_payload(1), key), correlation=b"m1")
        [json_reply] = replies.wait_for(1)
        publish(data_topic("p", "dev-2"), sign_ei(_payload(2), key, cbor=True))
        cbor_reply = replies.wait_for(2)[1]

    assert (json_reply.topic, json_reply.correlation) == (ack_topic("p", "dev-1"), b"m1")
    assert cbor_reply.topic == ack_topic("p", "dev-2")
    assert json_reply.body["ok"] and cbor_reply.body["ok"], (json_reply, cbor_reply)
    first, second = (
        ws.data.get(json_reply.body["sample_id"]),
        ws.data.get(cbor_reply.body["sample_id"]),
    )
    assert (first.device_id, first.label, first.original_format) == ("dev-1", "idle", "ei-json")
    assert (second.device_id, second.label, second.original_format) == ("dev-2", None, "ei-cbor")
    assert first.source == second.source == "mqtt"
    assert first.category in ("training", "testing")
    np.testing.assert_array_equal(
        ws.data.values(first), np.array(_payload(1)["values"], np.float32)
    )
    np.testing.assert_array_equal(
        ws.data.values(second), np.array(_payload(2)["values"], np.float32)
    )
    assert cbor2.loads(ws.data.original(second))["payload"]["values"] == _payload(2)["values"]
    with ws.session() as session:
        actors = set(
            session.scalars(select(AuditEvent.actor).where(AuditEvent.action == "sample.ingest"))
        )
    assert actors == {"mqtt:dev-1", "mqtt:dev-2"}


def test_unsigned_wrongly_signed_and_malformed_messages_are_refused(
    ws: Workspace, ingestor: Ingestor, broker: str, key: str, replies: Replies, publish: Any
) -> None:
    unsigned = json.dumps({"protected": {"ver": "v1", "alg": "none"}, "signature": "0" * 64,
                           "payload": _payload(3)}).encode()  # fmt: skip
    with running(MqttBridge(ws, ingestor, broker)):
        publish(data_topic("p", "dev-1"), unsigned)
        publish(data_topic("p", "dev-1"), sign_ei(_payload(4), "another-key"))
        publish(data_topic("p", "dev-1"), b"not a message")
        publish(data_topic("p", "dev-1", "no.dots"), sign_ei(_payload(8), key))
        got = replies.wait_for(4)
    assert [reply.body["ok"] for reply in got] == [False] * 4
    errors = sorted(reply.body["error"] for reply in got)
    for expected in ("not signed", "signature does not match", "not valid JSON", "label"):
        assert any(expected in error for error in errors), (expected, errors)
    assert _samples(ws) == []


def test_telemetry_is_stored_and_malformed_telemetry_refused(
    ws: Workspace, ingestor: Ingestor, broker: str, replies: Replies, publish: Any
) -> None:
    from edgeops.monitoring.telemetry import store_for

    records = [{"m": "v1", "p": "idle", "c": 0.9, "l": 3.5}, {"m": "v1", "p": "fault", "c": 0.6}]
    with running(MqttBridge(ws, ingestor, broker)):
        publish(telemetry_topic("p", "dev-7"), json.dumps(records).encode(), correlation=b"t1")
        publish(telemetry_topic("p", "dev-7"), b"{not json")
        got = replies.wait_for(2)
    good = next(reply for reply in got if reply.correlation == b"t1")
    bad = next(reply for reply in got if reply.correlation != b"t1")
    assert good.topic == telemetry_ack_topic("p", "dev-7") and good.body["ok"], good
    assert good.body["accepted"] == 2
    assert bad.body["ok"] is False and bad.body["error"]
    table = store_for(ws).read("p")
    assert table.num_rows == 2 and set(table.column("device").to_pylist()) == {"dev-7"}
    assert _samples(ws) == []


def test_unknown_project_is_refused(
    ws: Workspace, ingestor: Ingestor, broker: str, key: str, replies: Replies, publish: Any
) -> None:
    with running(MqttBridge(ws, ingestor, broker)):
        publish(data_topic("nope", "dev-1"), sign_ei(_payload(5), key))
        [reply] = replies.wait_for(1)
    assert reply.topic == ack_topic("nope", "dev-1")
    assert reply.body == {"ok": False, "error": "no project named 'nope'"}
    assert _samples(ws) == []


def test_message_sent_while_the_bridge_is_down_arrives_when_it_is_back(
    ws: Workspace, ingestor: Ingestor, broker: str, key: str, replies: Replies, publish: Any
) -> None:
    with running(MqttBridge(ws, ingestor, broker)):
        pass  # creates the persistent session and its subscriptions
    publish(data_topic("p", "dev-1", "late"), sign_ei(_payload(6), key))
    time.sleep(0.3)
    assert replies.received == [] and _samples(ws) == []
    with running(MqttBridge(ws, ingestor, broker)):
        [reply] = replies.wait_for(1)
    assert reply.body["ok"], reply
    assert [(s.id, s.label) for s in _samples(ws)] == [(reply.body["sample_id"], "late")]


def _crash(bridge: MqttBridge) -> None:
    """The process dies: the connection drops without a DISCONNECT."""
    bridge._client.close(disconnect=False)
    bridge._stop_helpers()


class StuckIngestor:
    """Takes messages and never commits them, as a bridge that dies mid-commit would."""

    def __init__(self) -> None:
        self.called = threading.Event()

    def submit(self, *_args: Any) -> Future[list[Outcome]]:
        self.called.set()
        return Future()

    def submit_async(self, _job: Any) -> asyncio.Future[list[Outcome]]:
        self.called.set()
        return asyncio.get_running_loop().create_future()


def test_message_not_committed_before_a_crash_is_delivered_again(
    ws: Workspace, ingestor: Ingestor, broker: str, key: str, replies: Replies, publish: Any
) -> None:
    stuck = StuckIngestor()
    crashed = MqttBridge(ws, stuck, broker)  # type: ignore[arg-type]
    crashed.start()
    publish(data_topic("p", "dev-1", "crash"), sign_ei(_payload(7), key))
    assert stuck.called.wait(REPLY_TIMEOUT)
    # Crash: the TCP connection drops without a DISCONNECT, nothing was acknowledged.
    _crash(crashed)

    with running(MqttBridge(ws, ingestor, broker)):
        [reply] = replies.wait_for(1)  # the crashed bridge's reply never left
    assert reply.body["ok"], reply
    assert [(s.id, s.label) for s in _samples(ws)] == [(reply.body["sample_id"], "crash")]


def test_many_publishers_every_message_stored_exactly_once(
    ws: Workspace, ingestor: Ingestor, broker: str, key: str, replies: Replies
) -> None:
    count, threads = 500, 4
    messages = [sign_ei(_payload(1000 + index, steps=10), key) for index in range(count)]

    def send(first: int) -> None:
        client = _client(broker)
        infos = []
        for index in range(first, count, threads):
            properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
            properties.CorrelationData = str(index).encode()
            topic = data_topic("p", f"dev-{first}", "walk")
            infos.append(client.publish(topic, messages[index], qos=1, properties=properties))
        for info in infos:
            info.wait_for_publish(REPLY_TIMEOUT)
        client.disconnect()
        client.loop_stop()

    with running(MqttBridge(ws, ingestor, broker)):
        senders = [threading.Thread(target=send, args=(first,)) for first in range(threads)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        got = replies.wait_for(count, timeout=60)

    assert all(reply.body["ok"] for reply in got), [r.body for r in got if not r.body["ok"]][:3]
    by_message = {int(reply.correlation or b"-1"): reply.body["sample_id"] for reply in got}
    assert sorted(by_message) == list(range(count))
    stored = _samples(ws)
    assert len(stored) == count
    assert sorted(by_message.values()) == sorted(sample.id for sample in stored)
    assert {sample.device_id for sample in stored} == {f"dev-{i}" for i in range(threads)}


def test_broker_problems_are_clear_errors(ws: Workspace, ingestor: Ingestor) -> None:
    with pytest.raises(InvalidInput, match="mqtt://user:password@host"):
        MqttBridge(ws, ingestor, "http://localhost:1883")
    port = _free_port()
    with pytest.raises(StorageUnavailable, match=f"mqtt://127.0.0.1:{port}") as raised:
        MqttBridge(ws, ingestor, f"mqtt://someone:secret@127.0.0.1:{port}").start()
    assert "secret" not in str(raised.value)


class GatedIngestor:
    """The real Ingestor, but the bridge hears of a commit only once the test opens the gate."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor, self.gate, self.committed = ingestor, threading.Event(), threading.Event()

    def submit(self, *args: Any) -> Future[list[Outcome]]:
        told: Future[list[Outcome]] = Future()
        self.ingestor.submit(*args).add_done_callback(
            lambda done: self._hold(lambda: told.set_result(done.result()))
        )
        return told

    def submit_async(self, job: Any) -> asyncio.Future[list[Outcome]]:
        loop = asyncio.get_running_loop()
        told: asyncio.Future[list[Outcome]] = loop.create_future()
        self.ingestor.submit_async(job).add_done_callback(
            lambda done: self._hold(
                lambda: loop.call_soon_threadsafe(told.set_result, done.result())
            )
        )
        return told

    def _hold(self, tell: Callable[[], object]) -> None:
        """Committed: tell the bridge once the gate opens (if it is still alive then)."""
        self.committed.set()

        def later() -> None:
            self.gate.wait()
            with contextlib.suppress(RuntimeError):  # the crashed bridge's loop is closed
                tell()

        threading.Thread(target=later, daemon=True).start()


def test_reply_and_puback_only_after_the_bridge_hears_of_the_commit(
    ws: Workspace, ingestor: Ingestor, broker: str, key: str, replies: Replies, publish: Any
) -> None:
    gated = GatedIngestor(ingestor)
    bridge = MqttBridge(ws, gated, broker)  # type: ignore[arg-type]
    bridge.start()
    publish(data_topic("p", "dev-1"), sign_ei(_payload(11), key), correlation=b"m")
    assert gated.committed.wait(REPLY_TIMEOUT)
    time.sleep(0.3)
    assert replies.received == [], "a reply before the bridge knew of the commit"
    gated.gate.set()
    [reply] = replies.wait_for(1)
    assert reply.body["ok"] and reply.correlation == b"m", reply
    time.sleep(0.2)  # the PUBACK left in the same write as the reply
    _crash(bridge)

    with running(MqttBridge(ws, ingestor, broker)):
        time.sleep(0.5)
    assert len(replies.received) == 1, "acknowledged, yet the broker delivered it again"
    assert [s.id for s in _samples(ws)] == [reply.body["sample_id"]]


def test_committed_but_unacknowledged_message_is_delivered_again_and_stored_once(
    ws: Workspace, ingestor: Ingestor, broker: str, key: str, replies: Replies, publish: Any
) -> None:
    gated = GatedIngestor(ingestor)
    crashed = MqttBridge(ws, gated, broker)  # type: ignore[arg-type]
    crashed.start()
    publish(data_topic("p", "dev-1"), sign_ei(_payload(12), key))
    assert gated.committed.wait(REPLY_TIMEOUT)
    _crash(crashed)  # committed, never acknowledged
    gated.gate.set()

    with running(MqttBridge(ws, ingestor, broker)):
        [reply] = replies.wait_for(1)
    [stored] = _samples(ws)
    assert reply.body == {"ok": True, "sample_id": stored.id}


class FailingIngestor:
    """The real Ingestor behind a database that is down for the first `failures` commits."""

    def __init__(
        self,
        ingestor: Ingestor,
        failures: int,
        error: Exception | None = None,
        at_once: bool = False,
    ) -> None:
        self.ingestor, self.failures, self.at_once = ingestor, failures, at_once
        self.error = error or StorageUnavailable("database is down")

    def submit(self, *args: Any) -> Future[list[Outcome]]:
        if self.failures > 0:
            self.failures -= 1
            failed: Future[list[Outcome]] = Future()
            failed.set_exception(self.error)
            return failed
        return self.ingestor.submit(*args)

    def submit_async(self, job: Any) -> asyncio.Future[list[Outcome]]:
        if self.failures > 0:
            self.failures -= 1
            if self.at_once:  # the queue itself refused it
                raise self.error
            failed: asyncio.Future[list[Outcome]] = asyncio.get_running_loop().create_future()
            failed.set_exception(self.error)
            return failed
        return self.ingestor.submit_async(job)


@pytest.mark.parametrize(
    ("error", "at_once"),
    [
        (StorageUnavailable("database is down"), False),
        (sqlite3.OperationalError("database is locked"), False),
        (StorageUnavailable("database is down"), True),
    ],
    ids=["ours", "driver's", "raised at once"],
)
def test_failed_commit_is_retried_and_answered_once(
    ws: Workspace,
    ingestor: Ingestor,
    broker: str,
    key: str,
    replies: Replies,
    publish: Any,
    error: Exception,
    at_once: bool,
) -> None:
    failing = FailingIngestor(ingestor, failures=3, error=error, at_once=at_once)
    with running(MqttBridge(ws, failing, broker)):  # type: ignore[arg-type]
        publish(data_topic("p", "dev-1"), sign_ei(_payload(13), key))
        [reply] = replies.wait_for(1)
        time.sleep(0.2)
    assert failing.failures == 0 and len(replies.received) == 1
    assert [s.id for s in _samples(ws)] == [reply.body["sample_id"]]


def test_bridge_reconnects_when_the_broker_comes_back(
    ws: Workspace, ingestor: Ingestor, mosquitto: Mosquitto, key: str
) -> None:
    with running(MqttBridge(ws, ingestor, mosquitto.url)):
        mosquitto.stop()
        time.sleep(0.3)
        mosquitto.start()  # a new broker process: the bridge must connect and subscribe again
        collector = Replies(mosquitto.url)
        sender = _client(mosquitto.url)
        try:
            deadline = time.monotonic() + REPLY_TIMEOUT
            seed = 20
            while not collector.received and time.monotonic() < deadline:
                # Until the bridge has subscribed again the broker drops what nobody wants.
                sender.publish(data_topic("p", "dev-1"), sign_ei(_payload(seed), key), qos=1)
                seed += 1
                time.sleep(0.2)
            [reply, *_] = collector.wait_for(1)
        finally:
            sender.disconnect()
            sender.loop_stop()
            collector.close()
    assert reply.body["ok"], reply


def test_stop_while_commits_fail_leaves_the_message_to_the_next_start(
    ws: Workspace, ingestor: Ingestor, broker: str, key: str, replies: Replies, publish: Any
) -> None:
    failing = FailingIngestor(ingestor, failures=1_000_000)
    with running(MqttBridge(ws, failing, broker)):  # type: ignore[arg-type]
        publish(data_topic("p", "dev-1", "later"), sign_ei(_payload(14), key))
        deadline = time.monotonic() + REPLY_TIMEOUT
        while failing.failures == 1_000_000 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert failing.failures < 1_000_000 and replies.received == [] and _samples(ws) == []

    with running(MqttBridge(ws, ingestor, broker)):
        [reply] = replies.wait_for(1)
    assert [(s.id, s.label) for s in _samples(ws)] == [(reply.body["sample_id"], "later")]


def test_messages_are_still_stored_when_the_parser_process_dies(
    ws: Workspace,
    ingestor: Ingestor,
    broker: str,
    key: str,
    replies: Replies,
    publish: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with running(MqttBridge(ws, ingestor, broker)) as bridge:
        publish(data_topic("p", "dev-1"), sign_ei(_payload(15), key))
        replies.wait_for(1)
        assert bridge._parser is not None
        bridge._parser.kill()
        publish(data_topic("p", "dev-1"), sign_ei(_payload(16), key))
        got = replies.wait_for(2)
    assert [reply.body["ok"] for reply in got] == [True, True], got
    assert sorted(s.id for s in _samples(ws)) == sorted(r.body["sample_id"] for r in got)
    assert "parsing in the server process now" in caplog.text


@pytest.fixture
def readable() -> Iterator[Path]:
    """A folder mosquitto can read from: started as root, it reads certificates and password
    files as its own user, so not from tmp_path."""
    folder = Path(tempfile.mkdtemp(prefix="edgeops-mqtt-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def test_bridge_logs_in_with_the_user_and_password_of_its_url(
    ws: Workspace, ingestor: Ingestor, tmp_path: Path, readable: Path
) -> None:
    if not MOSQUITTO.exists():
        pytest.skip(f"{MOSQUITTO} not found (apt-get install mosquitto)")
    passwords = readable / "passwords"
    subprocess.run(
        [MOSQUITTO.parent.parent / "bin" / "mosquitto_passwd", "-c", "-b", passwords,  # Debian's
         "edgeops", "s3cret:@/"],
        check=True, capture_output=True,
    )  # fmt: skip
    passwords.chmod(0o644)
    server = Mosquitto(tmp_path, password_file=passwords)
    server.start()
    try:
        wrong = server.url.replace("mqtt://", "mqtt://edgeops:wrong@")
        with pytest.raises(StorageUnavailable, match=r"bad user name or password|not authorized"):
            MqttBridge(ws, ingestor, wrong).start()
        right = server.url.replace("mqtt://", "mqtt://edgeops:s3cret%3A%40%2F@")
        with running(MqttBridge(ws, ingestor, right)):
            pass  # connected and subscribed
    finally:
        server.stop()


def test_bridge_over_tls_checks_the_broker_certificate(
    ws: Workspace,
    ingestor: Ingestor,
    key: str,
    tmp_path: Path,
    readable: Path,
    monkeypatch: pytest.MonkeyPatch,
    self_signed: Callable[[Path], tuple[Path, Path]],
) -> None:
    if not MOSQUITTO.exists():
        pytest.skip(f"{MOSQUITTO} not found (apt-get install mosquitto)")
    certificate = self_signed(readable)
    for path in certificate:
        path.chmod(0o644)  # a throwaway key, for this test's broker only
    server = Mosquitto(tmp_path, tls=certificate)
    server.start()
    try:
        with pytest.raises(StorageUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            MqttBridge(ws, ingestor, server.tls_url).start()  # not trusted yet

        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # trusted from now on
        collector = Replies(server.url)
        sender = _client(server.url)
        try:
            with running(MqttBridge(ws, ingestor, server.tls_url)):
                info = sender.publish(data_topic("p", "dev-1"), sign_ei(_payload(17), key), qos=1)
                info.wait_for_publish(5)
                [reply] = collector.wait_for(1)
        finally:
            sender.disconnect()
            sender.loop_stop()
            collector.close()
    finally:
        server.stop()
    assert reply.body["ok"], reply
