"""The agent's loop: check in, and for an offer download → verify (TUF) → install into the
inactive slot → switch → health check → confirm or revert, reporting each step."""

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from tuf.ngclient import FetcherInterface

from edgeops.fleet.agent import verify
from edgeops.fleet.agent.durable import CrashPoint, never
from edgeops.fleet.agent.health import HealthCheck, selftest
from edgeops.fleet.agent.slots import Recovery, SlotStore
from edgeops.fleet.tuf_client import KeyFetcher

log = logging.getLogger("edgeops.agent")
AGENT = "edgeops-agent 0.1.0"
BACKOFF_START_S, BACKOFF_CAP_S = 5.0, 600.0


class Stop(Exception):
    """401/403: the device needs a new key; retrying will not help."""


@dataclass(frozen=True)
class AgentConfig:
    server: str
    project: str
    device_key: str
    device_type: str
    folder: Path

    @property
    def base(self) -> str:
        return f"{self.server.rstrip('/')}/api/v1/projects/{self.project}"


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Agent:
    """One device. `fetcher` moves TUF's bytes (the key-carrying one by default), `health`
    judges a new release, `crash` is where tests cut the power."""

    def __init__(
        self, config: AgentConfig, *, http: httpx.Client | None = None,
        fetcher: FetcherInterface | None = None, health: HealthCheck = selftest,
        crash: CrashPoint = never,
    ) -> None:  # fmt: skip
        self.config = config
        self.http = http or httpx.Client(timeout=30)
        self.fetcher = fetcher or KeyFetcher(config.device_key)
        self.health = health
        self.slots = SlotStore(config.folder, crash)
        self.places = verify.TufPlaces.under(config.folder, config.server, config.project)
        self.reports: list[tuple[str, str, str]] = []  # (release, state, detail), as sent

    # -- talking to the server ---------------------------------------------------------------
    def _post(self, route: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.http.post(f"{self.config.base}{route}", json=dict(body),
                                headers={"x-api-key": self.config.device_key})  # fmt: skip
        if answer.status_code in (401, 403):
            raise Stop(f"{route}: {answer.status_code} {answer.text[:200]}")
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def report(self, release: str, state: str, detail: str = "") -> None:
        """One status report; losing one is not worth failing the update over."""
        self.reports.append((release, state, detail[:500]))
        try:
            self._post("/device/status", {"release": release, "state": state,
                                          "detail": detail[:500]})  # fmt: skip
        except httpx.HTTPError as exc:
            log.warning("status report %s/%s not delivered: %s", release, state, exc)

    def check_in(self) -> dict[str, Any]:
        return self._post("/device/checkin", {
            "installed": self.slots.installed(), "device_type": self.config.device_type,
            "health": {"status": "ok"}, "attributes": {"agent": AGENT},
        })  # fmt: skip

    # -- the update --------------------------------------------------------------------------
    def boot(self) -> Recovery:
        """At start: finish what a power cut interrupted (see SlotStore.recover)."""
        journal = self.slots.journal() or {}
        recovery = self.slots.recover()
        release = str(journal.get("release", ""))
        if recovery == "trial":
            self._judge(release)
        elif recovery == "reverted":
            self.report(release, "rolled-back", "kept dying before its health check passed")
        return recovery

    def poll(self, now: datetime) -> str:
        """Check in once and carry out the offer, if any. Returns what happened."""
        answer = self.check_in()
        offer = answer.get("update")
        if not offer or offer.get("release") == self.slots.installed():
            return "up to date"
        outcome = self.update(offer, now)
        self.check_in()  # so the server learns at once what the device runs now
        return outcome

    def update(self, offer: Mapping[str, Any], now: datetime) -> str:
        release = str(offer["release"])
        if offer.get("device_type", self.config.device_type) != self.config.device_type:
            self.report(release, "failed", "offer for another device type")
            return "failed"
        self.report(release, "downloading")
        try:
            verified = verify.fetch(offer, self.config.device_type, self.places, self.fetcher,
                                    now, self.slots.read)  # fmt: skip
        except Exception as exc:  # any refusal keeps the old release running
            cause = f" ({type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ else ""
            log.warning("update %s refused: %s: %s%s", release, type(exc).__name__, exc, cause)
            self.report(release, "failed", type(exc).__name__)
            return "failed"
        self.report(release, "installing")
        try:
            self.slots.stage(release, verified.files, verified.kinds)
            self.slots.switch()
        except OSError as exc:
            self.report(release, "failed", f"install: {type(exc).__name__}")
            return "failed"
        verify.clear_downloads(self.places)  # kept until now so a retry need not download
        self.report(release, "installed")
        return self._judge(release)

    def _judge(self, release: str) -> str:
        """Health-check the release on trial; keep it or go back by ourselves."""
        problem = self.health(self.slots)
        if problem is None:
            self.slots.confirm()
            self.report(release, "healthy")
            return "healthy"
        self.slots.revert()
        self.report(release, "rolled-back", problem)
        return "rolled-back"

    # -- the loop ----------------------------------------------------------------------------
    def run(
        self, *, once: bool = False, clock: Callable[[], datetime] = wall_clock,
        sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
    ) -> None:  # fmt: skip
        """Boot, then poll every `next_checkin_s` (±10 %), backing off on server trouble."""
        rng = rng or random.Random()
        self.boot()
        backoff = BACKOFF_START_S
        while True:
            try:
                outcome = self.poll(clock())
                log.info("check-in: %s (running %s)", outcome, self.slots.installed())
                wait, backoff = 60.0 * rng.uniform(0.9, 1.1), BACKOFF_START_S
            except httpx.HTTPStatusError as exc:
                if once or (exc.response.status_code < 500 and exc.response.status_code != 429):
                    raise
                retry = exc.response.headers.get("retry-after", "")
                wait = float(retry) if retry.isdigit() else backoff * rng.uniform(0.8, 1.2)
                backoff = min(backoff * 2, BACKOFF_CAP_S)
            except httpx.TransportError as exc:
                if once:
                    raise
                log.warning("server unreachable: %s", exc)
                wait, backoff = backoff * rng.uniform(0.8, 1.2), min(backoff * 2, BACKOFF_CAP_S)
            if once:
                return
            sleep(wait)
