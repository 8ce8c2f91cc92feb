"""Slow and oversized bodies are cut off with a JSON answer."""

import json
import socket

import pytest
from tests.server.conftest import Server

from edgeops.server.app import ServerLimits


def _raw_request(server: Server, head: bytes, body: bytes) -> tuple[int, dict[str, str]]:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head + body)  # then stall: the rest of the body never comes
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


@pytest.mark.parametrize("server_limits", [ServerLimits(body_timeout_s=0.5)])
def test_a_body_that_stalls_gets_408(server: Server) -> None:
    key = server.make_key("device", device_id="slow")
    head = (
        b"POST /api/training/data HTTP/1.1\r\nHost: x\r\nx-file-name: a.json\r\n"
        + f"x-api-key: {key}\r\n".encode()
        + b"content-length: 1000\r\n\r\n"
    )
    status, body = _raw_request(server, head, b'{"payload": ')
    assert status == 408 and "not received within 0.5 s" in body["error"]


@pytest.mark.parametrize("server_limits", [ServerLimits(max_body_bytes=100)])
def test_a_lying_content_length_is_caught_while_reading(server: Server) -> None:
    """Chunked bodies carry no length: the limit is enforced on the bytes as they arrive."""
    key = server.make_key("device", device_id="big")
    head = (
        b"POST /api/training/data HTTP/1.1\r\nHost: x\r\nx-file-name: a.json\r\n"
        + f"x-api-key: {key}\r\n".encode()
        + b"transfer-encoding: chunked\r\n\r\n"
    )
    chunk = b"x" * 300
    status, body = _raw_request(server, head, b"%x\r\n%s\r\n0\r\n\r\n" % (len(chunk), chunk))
    assert status == 413 and "limit" in body["error"]
