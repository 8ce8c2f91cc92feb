"""The bridge's MQTT connection: its packet reader against an independent encoder, and its
behaviour (PUBACK order, the broker's receive maximum, reconnecting) against a scripted broker
on a real socket."""

import socket
import struct
import threading
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgeops.server import mqtt_client
from edgeops.server.mqtt_client import Connection, Message, Reply, Settings

TIMEOUT = 10.0

# --- an encoder written from the specification, independent of the one under test ---------


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value % 128, value // 128
        out.append(byte + 128 if value else byte)
        if not value:
            return bytes(out)


def utf8(text: str) -> bytes:
    return len(text.encode()).to_bytes(2, "big") + text.encode()


def publish(topic: str, payload: bytes, qos: int, packet_id: int, properties: bytes) -> bytes:
    body = utf8(topic) + (packet_id.to_bytes(2, "big") if qos else b"")
    body += varint(len(properties)) + properties + payload
    return bytes([0x30 | qos << 1]) + varint(len(body)) + body


def correlation_property(data: bytes) -> bytes:
    return b"\x09" + len(data).to_bytes(2, "big") + data


# Other properties a broker may put on a PUBLISH, which the reader must step over.
OTHER_PROPERTIES = st.lists(
    st.one_of(
        st.integers(0, 1).map(lambda v: b"\x01" + bytes([v])),  # payload format
        st.integers(0, 2**32 - 1).map(lambda v: b"\x02" + v.to_bytes(4, "big")),  # expiry
        st.text(max_size=20).map(lambda t: b"\x03" + utf8(t)),  # content type
        st.text(max_size=20).map(lambda t: b"\x08" + utf8(t)),  # response topic
        st.integers(1, 2**28 - 1).map(lambda v: b"\x0b" + varint(v)),  # subscription id
        st.tuples(st.text(max_size=10), st.text(max_size=10)).map(
            lambda kv: b"\x26" + utf8(kv[0]) + utf8(kv[1])  # user property
        ),
    ),
    max_size=4,
)


@given(st.integers(0, 268_435_455))
def test_variable_byte_integers_read_back(value: int) -> None:
    assert mqtt_client._read_varint(varint(value) + b"rest", 0) == (value, len(varint(value)))
    assert mqtt_client._varint(value) == varint(value)


@given(
    topic=st.text(min_size=1, max_size=60).filter(lambda t: "\x00" not in t),
    payload=st.binary(max_size=3000),
    qos=st.integers(0, 1),
    packet_id=st.integers(1, 65535),
    correlation=st.none() | st.binary(max_size=40),
    others=OTHER_PROPERTIES,
    cut=st.integers(0, 10_000),
)
def test_publish_packets_decode_whatever_way_the_bytes_arrive(
    topic: str,
    payload: bytes,
    qos: int,
    packet_id: int,
    correlation: bytes | None,
    others: list[bytes],
    cut: int,
) -> None:
    properties = b"".join(others)
    if correlation is not None:
        properties += correlation_property(correlation)
    packet = publish(topic, payload, qos, packet_id, properties)
    stream = bytearray(packet + b"\xd0\x00")  # and a PINGRESP after it
    cut = cut % len(packet)
    assert mqtt_client._split_packet(bytearray(packet[:cut]), 0) is None  # not all there yet
    found = mqtt_client._split_packet(stream, 0)
    assert found is not None
    kind, start, end = found
    assert end == len(packet)
    message = mqtt_client._decode_publish(kind, stream, start, end, connection=3)
    assert (message.topic, message.payload, message.qos) == (topic, payload, qos)
    assert message.packet_id == (packet_id if qos else 0)
    assert (message.correlation, message.connection) == (correlation, 3)
    assert mqtt_client._split_packet(stream, end) == (0xD0, end + 2, end + 2)


@given(st.binary(max_size=64))
def test_arbitrary_bytes_never_crash_the_packet_splitter(data: bytes) -> None:
    try:
        found = mqtt_client._split_packet(bytearray(data), 0)
    except mqtt_client.ProtocolError:
        return
    if found is not None:
        assert found[1] <= found[2] <= len(data)


# --- a scripted broker on a real socket ---------------------------------------------------


class Broker:
    """Accepts the client, answers CONNACK (with `receive_maximum`) and SUBACK, and lets the
    test send packets and read what the client wrote."""

    def __init__(self, receive_maximum: int = 20) -> None:
        self.receive_maximum = receive_maximum
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(TIMEOUT)
        self.port = self.server.getsockname()[1]
        self.peer: socket.socket | None = None
        self.buffer = bytearray()
        self.connects: list[bytes] = []
        self._accepting = threading.Thread(target=self.accept, daemon=True)
        self._accepting.start()

    def accept(self) -> None:
        peer, _ = self.server.accept()
        peer.settimeout(TIMEOUT)
        self.peer, self.buffer = peer, bytearray()
        kind, body = self.read()
        assert kind == 0x10
        self.connects.append(body)
        properties = b"\x21" + self.receive_maximum.to_bytes(2, "big")
        peer.sendall(
            b"\x20"
            + varint(3 + len(properties))
            + b"\x00\x00"
            + varint(len(properties))
            + properties
        )
        kind, body = self.read()
        assert kind == 0x82
        peer.sendall(b"\x90\x04" + body[:2] + b"\x00\x01")  # granted QoS 1 (one topic)

    def connected(self) -> socket.socket:
        self._accepting.join(TIMEOUT)
        assert self.peer is not None
        return self.peer

    def read(self) -> tuple[int, bytes]:
        assert self.peer is not None
        while (found := mqtt_client._split_packet(self.buffer, 0)) is None:
            data = self.peer.recv(65536)
            assert data, "the client closed the connection"
            self.buffer += data
        kind, start, end = found
        body = bytes(self.buffer[start:end])
        del self.buffer[:end]
        return kind, body

    def nothing_more(self) -> bool:
        assert self.peer is not None
        self.peer.settimeout(0.2)
        try:
            return mqtt_client._split_packet(self.buffer, 0) is None and not self.peer.recv(
                1, socket.MSG_PEEK
            )
        except TimeoutError:
            return True
        finally:
            self.peer.settimeout(TIMEOUT)

    def again(self, drop: bool = True) -> None:
        """Take the client's next connection (dropping this one first, with `drop`)."""
        assert self.peer is not None
        if drop:
            self.peer.close()
        self.peer = None
        self._accepting = threading.Thread(target=self.accept, daemon=True)
        self._accepting.start()

    def close(self) -> None:
        if self.peer is not None:
            self.peer.close()
        self.server.close()


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.changed = threading.Condition()

    def __call__(self, messages: list[Message]) -> None:
        with self.changed:
            self.messages.extend(messages)
            self.changed.notify_all()

    def wait_for(self, count: int) -> list[Message]:
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.messages) >= count, TIMEOUT)
            return list(self.messages)


@pytest.fixture
def broker() -> Iterator[Broker]:
    scripted = Broker(receive_maximum=1)
    yield scripted
    scripted.close()


def _settings(port: int, keepalive_s: int = 30) -> Settings:
    return Settings(
        host="127.0.0.1", port=port, client_id="bridge", username="u", password="pw",
        tls=False, subscriptions=("edgeops/+/+/data",), receive_maximum=100,
        session_expiry_s=60, keepalive_s=keepalive_s,
    )  # fmt: skip


@pytest.fixture
def client(broker: Broker) -> Iterator[tuple[Connection, Inbox]]:
    inbox = Inbox()
    connection = Connection(_settings(broker.port), inbox)
    connection.start()
    yield connection, inbox
    connection.close()


def test_connect_asks_for_a_persistent_session_with_credentials(
    broker: Broker, client: tuple[Connection, Inbox]
) -> None:
    body = broker.connects[0]
    assert body[:7] == b"\x00\x04MQTT\x05"
    flags = body[7]
    assert flags & 0x02 == 0, "clean start must be off: the session keeps unacknowledged messages"
    assert flags & 0xC0 == 0xC0  # user name and password
    assert b"\x11\x00\x00\x00\x3c" in body and b"\x21\x00\x64" in body  # expiry 60 s, receive 100
    assert body.endswith(utf8("bridge") + utf8("u") + utf8("pw"))


def test_pubacks_leave_in_arrival_order_and_replies_respect_the_receive_maximum(
    broker: Broker, client: tuple[Connection, Inbox]
) -> None:
    connection, inbox = client
    peer = broker.connected()
    peer.sendall(b"".join(publish(f"t/{n}", b"x", 1, 10 + n, b"") for n in range(3)))
    first, second, third = inbox.wait_for(3)

    # The second and third are done first: nothing may be acknowledged before the first is.
    connection.answer([Reply("ack/1", b"one", b"c1"), Reply("ack/2", b"two")], [second, third])
    kind, body = broker.read()
    assert kind == 0x32 and body.startswith(utf8("ack/1"))  # the first reply (QoS 1)
    reply_id = int.from_bytes(body[7:9])
    assert body[9:] == varint(5) + correlation_property(b"c1") + b"one"
    assert broker.nothing_more(), "the second reply must wait: the broker allows one in flight"

    connection.answer([], [first])
    acks = [broker.read() for _ in range(3)]
    assert acks == [(0x40, struct.pack("!H", 10 + n)) for n in range(3)]

    peer.sendall(b"\x40\x02" + reply_id.to_bytes(2, "big"))  # the broker has the first reply
    kind, body = broker.read()
    assert kind == 0x32 and body.startswith(utf8("ack/2"))


def test_after_a_lost_connection_unacknowledged_replies_go_again_and_old_pubacks_do_not(
    broker: Broker, client: tuple[Connection, Inbox]
) -> None:
    connection, inbox = client
    broker.connected().sendall(publish("t/1", b"x", 1, 7, b""))
    [old] = inbox.wait_for(1)
    connection.answer([Reply("ack/1", b"one")], [])
    kind, body = broker.read()
    assert kind == 0x32

    broker.again()
    peer = broker.connected()  # the client reconnected by itself
    kind, resent = broker.read()
    assert kind == 0x3A and resent == body, "the reply the broker never acknowledged, as DUP"
    connection.answer([], [old])  # handled, but it came on the old connection: no PUBACK
    assert broker.nothing_more()
    peer.sendall(publish("t/1", b"x", 1, 7, b""))  # the broker sends it again
    _, again = inbox.wait_for(2)
    connection.answer([], [again])
    assert broker.read() == (0x40, struct.pack("!H", 7))


def test_a_broker_that_stops_answering_pings_is_left_for_a_new_connection(broker: Broker) -> None:
    connection = Connection(_settings(broker.port, keepalive_s=1), Inbox())
    connection.start()
    try:
        silent = broker.connected()
        assert broker.read() == (0xC0, b"")  # PINGREQ once idle for half the keep-alive
        broker.again(drop=False)  # and never a PINGRESP
        broker.connected()
        assert len(broker.connects) == 2
    finally:
        connection.close()
        silent.close()
