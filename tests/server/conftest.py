"""A real server per test module: uvicorn on a free port, talked to over HTTP."""

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from edgeops.governance import keys
from edgeops.server.app import ServerLimits, create_app
from edgeops.store.tables import Project
from edgeops.workspace import Workspace


@dataclass
class Server:
    url: str
    ws: Workspace
    project: Project
    make_key: Callable[..., str]

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"x-api-key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(ws: Workspace, limits: ServerLimits, port: int | None = None) -> uvicorn.Server:
    port = port or _free_port()
    config = uvicorn.Config(create_app(ws, limits), host="127.0.0.1", port=port, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return server


def key_maker(ws: Workspace, project: Project) -> Callable[..., str]:
    def make_key(role: str = "admin", device_id: str | None = None, own: bool = True) -> str:
        with ws.session() as session:
            _, secret = keys.create_key(
                session,
                role=role,
                project=project if own or role != "admin" else None,
                name=f"test-{role}",
                actor="test",
                device_id=device_id,
            )
            session.commit()
        return secret

    return make_key


@pytest.fixture
def server_limits() -> ServerLimits:
    return ServerLimits()


@pytest.fixture
def server(tmp_path: Path, server_limits: ServerLimits) -> Iterator[Server]:
    ws = Workspace(tmp_path / "home")
    project = ws.projects.create("p")
    running = start_server(ws, server_limits)
    port = running.config.port
    try:
        yield Server(f"http://127.0.0.1:{port}", ws, project, key_maker(ws, project))
    finally:
        running.should_exit = True
        time.sleep(0.05)
        ws.close()
