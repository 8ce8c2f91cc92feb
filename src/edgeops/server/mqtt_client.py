"""The bridge's MQTT v5 connection: QoS 1 in and out, PUBACKs sent by hand, writes in batches.

A general client (paho) reads a packet with several system calls, wakes its network thread
through a socket pair for every packet another thread sends, and writes each packet with a
system call of its own: at thousands of messages a second that costs more than storing them.
This one reads whatever the socket holds at once, hands the bridge all the messages it found in
one call, and writes a batch of replies and PUBACKs with one `sendall`. It speaks only what the
bridge needs (written from the MQTT 5.0 specification): CONNECT with a persistent session,
SUBSCRIBE, PUBLISH at QoS 0/1 both ways, PUBACK, PINGREQ, DISCONNECT; it reconnects by itself.
"""

import contextlib
import logging
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

RECONNECT_MAX_S = 5.0
# What one read may take: all the kernel holds, so that a sender's messages come as one batch
# (one job, one audit event) rather than one at a time (a fleet of 100 devices: a third of
# the CPU per message, measured).
READ_BYTES = 1024 * 1024

_CONNACK, _PUBLISH, _PUBACK, _SUBACK, _PINGRESP, _DISCONNECT = 0x20, 0x30, 0x40, 0x90, 0xD0, 0xE0
_PINGREQ = b"\xc0\x00"
_CORRELATION_DATA, _RECEIVE_MAXIMUM = 0x09, 0x21
# Property identifier → how its value is encoded (MQTT 5.0, section 2.2.2.2).
_BYTE, _TWO, _FOUR, _VARINT, _STRING, _BINARY, _PAIR = range(7)
_PROPERTY_KINDS = {
    **dict.fromkeys((0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A), _BYTE),
    **dict.fromkeys((0x13, 0x21, 0x22, 0x23), _TWO),
    **dict.fromkeys((0x02, 0x11, 0x18, 0x27), _FOUR),
    0x0B: _VARINT,
    **dict.fromkeys((0x03, 0x08, 0x12, 0x15, 0x1A, 0x1C, 0x1F), _STRING),
    **dict.fromkeys((0x09, 0x16), _BINARY),
    0x26: _PAIR,
}
_REASONS = {
    0x80: "unspecified error", 0x84: "unsupported protocol version",
    0x85: "client identifier not valid", 0x86: "bad user name or password",
    0x87: "not authorized", 0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned",
    0x8E: "session taken over", 0x8F: "topic filter invalid", 0x97: "quota exceeded",
    0x9F: "connection rate exceeded", 0xA2: "wildcard subscriptions not supported",
}  # fmt: skip


class ProtocolError(Exception):
    """The broker sent something this client cannot read, or refused it."""


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    client_id: str
    username: str | None
    password: str | None = field(repr=False)
    tls: bool
    subscriptions: tuple[str, ...]  # QoS 1, retained messages not sent
    receive_maximum: int  # messages the broker may have in flight to us, unacknowledged
    session_expiry_s: int
    keepalive_s: int = 30
    connect_timeout_s: float = 5.0


@dataclass
class Message:
    """One PUBLISH from the broker; pass it to `Connection.answer` once it is handled."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int
    correlation: bytes | None
    connection: int  # which connection brought it: a PUBACK belongs on that one only
    done: bool = False


@dataclass
class Reply:
    topic: str
    payload: bytes
    correlation: bytes | None = None


class Connection:
    """One session with the broker, kept up by a reader thread until `close`."""

    def __init__(self, settings: Settings, on_messages: Callable[[list[Message]], None]) -> None:
        self.settings = settings
        self._on_messages = on_messages
        self._lock = threading.Lock()  # the socket's writes and everything below
        self._sock: socket.socket | None = None
        self._connection = 0
        self._arrived: deque[Message] = deque()  # QoS 1 messages not yet acknowledged, in order
        self._broker_receive_maximum = 65535
        self._in_flight: dict[int, bytes] = {}  # our QoS 1 replies the broker has not acked
        self._waiting: deque[Reply] = deque()  # replies beyond the broker's receive maximum
        self._next_id = 0
        self._last_write = time.monotonic()
        self._pending = bytearray()  # read, not yet handled
        self._closing = threading.Event()
        self._reader = threading.Thread(target=self._read, name="edgeops-mqtt", daemon=True)

    def start(self) -> None:
        """Connect and subscribe; raise ProtocolError or OSError when that fails."""
        self._connect()
        self._reader.start()

    def answer(self, replies: Iterable[Reply], handled: Iterable[Message]) -> None:
        """Publish `replies` (QoS 1), then acknowledge the `handled` messages: PUBACKs leave in
        arrival order, so one waits for every message that came before it. One write."""
        with self._lock:
            out = bytearray()
            for reply in replies:
                if len(self._in_flight) < self._broker_receive_maximum:
                    out += self._publish_packet(reply)
                else:
                    self._waiting.append(reply)
            for message in handled:
                message.done = True
            while self._arrived and self._arrived[0].done:
                first = self._arrived.popleft()
                if first.connection == self._connection:
                    out += struct.pack("!BBH", _PUBACK, 2, first.packet_id)
            self._write(out)

    def settled(self, timeout_s: float) -> bool:
        """Wait until the broker has acknowledged every reply; False after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self._in_flight and not self._waiting:
                    return True
            time.sleep(0.01)
        return False

    def close(self, disconnect: bool = True) -> None:
        """End the session's connection (the broker keeps the session); without `disconnect`
        the connection just drops, as when the process dies."""
        self._closing.set()
        with self._lock:
            if self._sock is not None:
                if disconnect:
                    self._write(b"\xe0\x00")
                _close_quietly(self._sock)
        if self._reader.is_alive() and threading.current_thread() is not self._reader:
            self._reader.join()

    # Connecting.

    def _connect(self) -> None:
        settings = self.settings
        sock = socket.create_connection(
            (settings.host, settings.port), timeout=settings.connect_timeout_s
        )
        try:
            if settings.tls:
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=settings.host)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(self._connect_packet())
            buffer = bytearray()
            kind, body, _ = _read_packet(sock, buffer)
            if kind != _CONNACK or len(body) < 2:
                raise ProtocolError(f"expected CONNACK, got packet type {kind >> 4}")
            if body[1] >= 0x80:
                raise ProtocolError(_reason(body[1]))
            properties, _ = _properties(body, 2)
            receive_maximum = int.from_bytes(properties.get(_RECEIVE_MAXIMUM, b"\xff\xff"))
            sock.sendall(self._subscribe_packet())
            kept = bytearray()  # the session's queued messages may come before the SUBACK
            while True:
                kind, body, raw = _read_packet(sock, buffer)
                if kind == _SUBACK:
                    break
                kept += raw
            properties, offset = _properties(body, 2)
            failed = [code for code in body[offset:] if code >= 0x80]
            if failed:
                raise ProtocolError(f"subscription refused ({_reason(failed[0])})")
        except BaseException:
            _close_quietly(sock)
            raise
        sock.settimeout(settings.keepalive_s / 2)
        with self._lock:
            self._connection += 1
            self._arrived.clear()  # the broker sends those again: PUBACKs belong to the new ones
            self._broker_receive_maximum = receive_maximum
            self._sock = sock
            # Replies the broker had not acknowledged go again, marked as duplicates.
            again = bytearray()
            for packet in self._in_flight.values():
                again += bytes([packet[0] | 0x08]) + packet[1:]
            while self._waiting and len(self._in_flight) < receive_maximum:
                again += self._publish_packet(self._waiting.popleft())
            self._write(again)
        self._pending = kept + buffer

    def _connect_packet(self) -> bytes:
        settings = self.settings
        flags = 0  # clean start off: keep the session
        payload = _string(settings.client_id)
        if settings.username is not None:
            flags |= 0x80
            payload += _string(settings.username)
        if settings.password is not None:
            flags |= 0x40
            payload += _string(settings.password)
        properties = struct.pack(
            "!BIBH", 0x11, settings.session_expiry_s, _RECEIVE_MAXIMUM, settings.receive_maximum
        )
        variable = (
            _string("MQTT") + bytes([5, flags]) + struct.pack("!H", settings.keepalive_s)
            + _varint(len(properties)) + properties
        )  # fmt: skip
        return _packet(0x10, variable + payload)

    def _subscribe_packet(self) -> bytes:
        options = 0x01 | 0x20  # QoS 1; retain handling 2: never send retained messages
        topics = b"".join(
            _string(topic) + bytes([options]) for topic in self.settings.subscriptions
        )
        return _packet(0x82, struct.pack("!HB", 1, 0) + topics)

    # The reader thread.

    def _read(self) -> None:
        delay = 0.1
        while not self._closing.is_set():
            try:
                self._serve()
            except (OSError, ProtocolError) as exc:
                if self._closing.is_set():
                    return
                log.warning("MQTT connection to %s lost (%s); reconnecting", self._where(), exc)
            with self._lock:
                if self._sock is not None:
                    _close_quietly(self._sock)
                    self._sock = None
            while not self._closing.wait(delay):
                try:
                    self._connect()
                    delay = 0.1
                    break
                except (OSError, ProtocolError) as exc:
                    log.warning("MQTT broker at %s: %s; retrying", self._where(), exc)
                    delay = min(delay * 2, RECONNECT_MAX_S)

    def _serve(self) -> None:
        """Read until the connection fails or closes."""
        sock, buffer = self._sock, self._pending
        assert sock is not None
        connection, last_read = self._connection, time.monotonic()
        while not self._closing.is_set():
            messages: list[Message] = []
            acknowledged: list[int] = []
            offset = 0
            while (found := _split_packet(buffer, offset)) is not None:
                kind, start, end = found
                offset = end
                if kind & 0xF0 == _PUBLISH:
                    messages.append(_decode_publish(kind, buffer, start, end, connection))
                elif kind == _PUBACK:
                    acknowledged.append(int.from_bytes(buffer[start : start + 2]))
                elif kind == _DISCONNECT:
                    code = buffer[start] if end > start else 0
                    raise ProtocolError(f"the broker disconnected us ({_reason(code)})")
            del buffer[:offset]
            if acknowledged:
                self._acknowledged(acknowledged)
            if messages:
                with self._lock:
                    self._arrived.extend(m for m in messages if m.qos > 0)
                self._on_messages(messages)
            if time.monotonic() - self._last_write > self.settings.keepalive_s / 2:
                with self._lock:
                    self._write(_PINGREQ)
            try:
                data = sock.recv(READ_BYTES)
            except TimeoutError:
                # Idle, we ping every half keepalive: silence this long means a dead link.
                if time.monotonic() - last_read > self.settings.keepalive_s * 1.5:
                    raise ProtocolError("the broker stopped answering") from None
                continue
            if not data:
                raise ProtocolError("the broker closed the connection")
            buffer += data
            last_read = time.monotonic()

    def _acknowledged(self, packet_ids: list[int]) -> None:
        """The broker has our replies `packet_ids`: send as many waiting ones, in one write."""
        with self._lock:
            for packet_id in packet_ids:
                self._in_flight.pop(packet_id, None)
            out = bytearray()
            while self._waiting and len(self._in_flight) < self._broker_receive_maximum:
                out += self._publish_packet(self._waiting.popleft())
            self._write(out)

    # Writing (with the lock held).

    def _publish_packet(self, reply: Reply) -> bytes:
        while True:
            self._next_id = self._next_id % 65535 + 1
            if self._next_id not in self._in_flight:
                break
        properties = b""
        if reply.correlation is not None:
            properties = bytes([_CORRELATION_DATA]) + _binary(reply.correlation)
        body = (
            _string(reply.topic) + struct.pack("!H", self._next_id)
            + _varint(len(properties)) + properties + reply.payload
        )  # fmt: skip
        packet = _packet(_PUBLISH | 0x02, body)
        self._in_flight[self._next_id] = packet
        return packet

    def _write(self, data: bytes | bytearray) -> None:
        """Send `data`; on a broken connection drop it: the reader reconnects, the broker sends
        the unacknowledged messages again and the replies in flight go again."""
        if not data or self._sock is None:
            return
        try:
            self._sock.sendall(data)
            self._last_write = time.monotonic()
        except OSError:
            _close_quietly(self._sock)  # the reader sees it and reconnects

    def _where(self) -> str:
        return f"{'mqtts' if self.settings.tls else 'mqtt'}://{self.settings.host}:{self.settings.port}"


def _decode_publish(kind: int, buffer: bytearray, start: int, end: int, connection: int) -> Message:
    qos = (kind >> 1) & 0x03
    length = int.from_bytes(buffer[start : start + 2])
    offset = start + 2 + length
    topic = buffer[start + 2 : offset].decode()
    packet_id = 0
    if qos:
        packet_id = int.from_bytes(buffer[offset : offset + 2])
        offset += 2
    properties, offset = _properties(buffer, offset)
    correlation = properties.get(_CORRELATION_DATA)
    return Message(topic, bytes(buffer[offset:end]), qos, packet_id, correlation, connection)


def _properties(data: bytes | bytearray, offset: int) -> tuple[dict[int, bytes], int]:
    """Properties starting at `offset` (identifier → raw value; binary and string values
    without their length) and where they end."""
    length, offset = _read_varint(data, offset)
    end, found = offset + length, {}
    while offset < end:
        identifier, kind = data[offset], _PROPERTY_KINDS.get(data[offset])
        offset += 1
        if kind is None:
            raise ProtocolError(f"unknown property 0x{identifier:02x}")
        if kind == _VARINT:
            _, after = _read_varint(data, offset)
        elif kind in (_STRING, _BINARY, _PAIR):
            size = int.from_bytes(data[offset : offset + 2])
            if kind == _PAIR:
                size += 2 + int.from_bytes(data[offset + 2 + size : offset + 4 + size])
            after = offset + 2 + size
            if kind != _PAIR:
                offset += 2
        else:
            after = offset + {_BYTE: 1, _TWO: 2, _FOUR: 4}[kind]
        found[identifier] = bytes(data[offset:after])
        offset = after
    return found, end


def _split_packet(buffer: bytearray, offset: int) -> tuple[int, int, int] | None:
    """The packet at `offset` (its first byte, where its body starts and ends) if it is all
    in `buffer`."""
    if len(buffer) - offset < 2:
        return None
    length, shift, position = 0, 0, offset + 1
    while True:
        if position >= len(buffer):
            return None
        byte = buffer[position]
        length |= (byte & 0x7F) << shift
        position += 1
        if not byte & 0x80:
            break
        shift += 7
        if shift > 21:
            raise ProtocolError("malformed remaining length")
    if position + length > len(buffer):
        return None
    return buffer[offset], position, position + length


def _read_packet(sock: socket.socket, buffer: bytearray) -> tuple[int, bytes, bytes]:
    """Block until one whole packet is in: its first byte, body and bytes; what follows it
    stays in `buffer`."""
    while (found := _split_packet(buffer, 0)) is None:
        data = sock.recv(READ_BYTES)
        if not data:
            raise ProtocolError("the broker closed the connection")
        buffer += data
    kind, start, end = found
    raw = bytes(buffer[:end])
    del buffer[:end]
    return kind, raw[start:], raw


def _read_varint(data: bytes | bytearray, offset: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, byte = value >> 7, value & 0x7F
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    return _binary(text.encode())


def _binary(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _varint(len(body)) + body


def _reason(code: int) -> str:
    return _REASONS.get(code, f"reason code 0x{code:02x}")


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
