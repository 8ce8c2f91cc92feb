"""The device's TUF fetcher leaves no unread bytes on a pooled connection: an error answer's
body (TUF clients ask for the next root, which is usually missing) must not be read as the start
of the next answer on that connection."""

import socket
import threading
import time

import pytest
from tuf.api import exceptions

from edgeops.fleet.tuf_client import KeyFetcher

MISSING = b'{"error":"no update metadata \'2.root.json\'"}'
FOUND = b'{"signed":{}}'


def _serve(listener: socket.socket) -> None:
    """One keep-alive connection: a 404 whose body comes a moment after its head (as a busy
    server's second write may), then a 200."""
    connection, _ = listener.accept()
    with connection:
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\n"
                           b"content-length: %d\r\n\r\n" % len(MISSING))  # fmt: skip
        time.sleep(0.3)
        connection.sendall(MISSING)
        connection.recv(65536)
        connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s"
                           % (len(FOUND), FOUND))  # fmt: skip
        connection.recv(65536)  # until the client goes away


def test_an_error_body_never_reaches_the_next_answer() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=_serve, args=(listener,), daemon=True)
        server.start()
        base = f"http://127.0.0.1:{listener.getsockname()[1]}"
        fetcher = KeyFetcher("eok_device_key", timeout_s=10)
        with pytest.raises(exceptions.DownloadHTTPError, match="404"):
            fetcher.fetch(f"{base}/2.root.json")
        assert b"".join(fetcher.fetch(f"{base}/timestamp.json")) == FOUND
