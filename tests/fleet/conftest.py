"""A real server with a signed project, and real `tuf.ngclient` updaters talking to it."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from tests.server.conftest import key_maker, start_server
from tuf.ngclient import FetcherInterface, Updater

from edgeops.fleet.tuf_client import KeyFetcher, metadata_url, targets_url
from edgeops.server.app import ServerLimits
from edgeops.workspace import Workspace

FIRMWARE = bytes(range(256)) * 64  # 16 KiB


@dataclass
class FleetServer:
    url: str
    ws: Workspace
    make_key: Callable[..., str]
    tmp: Path

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"x-api-key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def root_v1(self) -> bytes:
        """What a device is provisioned with: the project's first root metadata."""
        with self.client(self.make_key("viewer")) as client:
            answer = client.get("/api/v1/projects/p/tuf/metadata/1.root.json")
        answer.raise_for_status()
        return answer.content

    def updater(
        self, key: str, name: str = "device", fetcher: FetcherInterface | None = None
    ) -> Updater:
        """An updater with its own cache folder `name` (the same name resumes its trust)."""
        folder = self.tmp / "devices" / name
        (folder / "metadata").mkdir(parents=True, exist_ok=True)
        (folder / "targets").mkdir(exist_ok=True)
        root = folder / "metadata" / "root.json"
        bootstrap = None if root.exists() else self.root_v1()
        return Updater(
            str(folder / "metadata"), metadata_url(self.url, "p"),
            str(folder / "targets"), targets_url(self.url, "p"),
            fetcher=fetcher or KeyFetcher(key), bootstrap=bootstrap,
        )  # fmt: skip


@pytest.fixture
def fleet_limits() -> ServerLimits:
    return ServerLimits()


@pytest.fixture
def fleet(tmp_path: Path, fleet_limits: ServerLimits) -> Iterator[FleetServer]:
    ws = Workspace(tmp_path / "home")
    project = ws.projects.create("p")
    ws.fleet.signing_init(now=datetime.now(UTC))
    running = start_server(ws, fleet_limits)
    try:
        yield FleetServer(
            f"http://127.0.0.1:{running.config.port}", ws, key_maker(ws, project), tmp_path
        )
    finally:
        running.should_exit = True
        time.sleep(0.05)
        ws.close()
