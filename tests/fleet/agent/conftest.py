"""Agents on a real server: a registered device with its own folder, trust root and agent."""

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from tests.fleet.conftest import FleetServer

from edgeops.fleet.agent.agent import Agent, AgentConfig
from edgeops.fleet.agent.health import HealthCheck, integrity
from edgeops.fleet.agent.verify import TufPlaces, provision_root
from edgeops.fleet.simulator.attacks import Interceptor

MakeAgent = Callable[..., tuple[Agent, Interceptor]]


def offer_to_all(fleet: FleetServer, release: str, now: datetime) -> None:
    """A one-stage rollout of `release` to every device, started at once."""
    fleet.ws.fleet.create_rollout(release, stages="100", dwell="0s", now=now)
    fleet.ws.fleet.advance(now)


@pytest.fixture
def now() -> datetime:
    """The devices' and the scheduler's clock (metadata is signed by the wall clock)."""
    return datetime.now(UTC)


@pytest.fixture
def make_agent(fleet: FleetServer, tmp_path: Path) -> MakeAgent:
    root = fleet.root_v1()
    http = httpx.Client(timeout=30)

    def make(device_id: str = "d1", health: HealthCheck = integrity) -> tuple[Agent, Interceptor]:
        _, key = fleet.ws.fleet.register(device_id, "pi4")
        config = AgentConfig(fleet.url, "p", key, "pi4", tmp_path / "agents" / device_id)
        provision_root(TufPlaces.under(config.folder, fleet.url, "p"), root)
        interceptor = Interceptor(key)
        return Agent(config, http=http, fetcher=interceptor, health=health), interceptor

    return make
