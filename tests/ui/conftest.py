"""The studio in a real browser: a real `edgeops serve` process on a free port with seeded data
(a project, users of several roles, the BasicMotions recordings), and Debian's Chromium driven
headless by Playwright, one signed-in browser context per role.

Use `studio` for the server and `page_as(role)` for a signed-in page; `shoot(page, name)` saves
a screenshot under test-artifacts/ui/."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from edgeops.demo import HMAC_KEY, write_recordings
from edgeops.server.ui import session
from edgeops.store.tables import User
from edgeops.workspace import Workspace

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
PASSWORD = "correct horse battery staple"
ROLES = ("admin", "data-scientist", "ml-engineer", "operator", "viewer")
PROJECT = "motions"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"


def user_of(role: str) -> str:
    """The seeded user who has `role` (e.g. `viewer-user`)."""
    return f"{role}-user"


@dataclass
class Studio:
    url: str
    home: Path

    def workspace(self) -> Workspace:
        """The served workspace, opened next to the server (same SQLite file)."""
        return Workspace(self.home, create=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(home: Path) -> None:
    """A project with 80 recordings of four motions, one committed version, a user per role,
    and a second project for the switcher."""
    with Workspace(home) as ws:
        ws.projects.create(PROJECT, "BasicMotions from a smartwatch")
        ws.projects.create("spare")
        folder = home.parent / "recordings"
        ws.data.import_files(write_recordings(folder), project=PROJECT, hmac_key=HMAC_KEY)
        ws.data.commit("first recordings", project=PROJECT)
        for role in ROLES:
            ws.users.create(user_of(role), PASSWORD, role)


@pytest.fixture(scope="session")
def studio() -> Iterator[Studio]:
    """`edgeops serve` as a user starts it, on seeded data; stopped at the end of the session."""
    base = Path(tempfile.mkdtemp(prefix="edgeops-studio-"))
    home = base / "home"
    seed(home)
    port = _free_port()
    env = {**os.environ, "EDGEOPS_HOME": str(home), "EDGEOPS_USER": "studio-test"}
    env.pop("EDGEOPS_DATABASE_URL", None)
    env.pop("EDGEOPS_BLOB_URL", None)
    log = (base / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeops", "serve", "--port", str(port)],
        env=env, cwd=base, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, base / "serve.log")
        yield Studio(url, home)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"edgeops serve exited:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("edgeops serve did not become ready within 60 s")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless (never `playwright install`: see ENVIRONMENT.md)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing in CI: `make services` installs it")
        pytest.skip("Chromium not found at /usr/bin/chromium (`make services` installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def _signed_in_states(studio: Studio) -> dict[str, Any]:
    """A session cookie per role, signed with the served workspace's secret exactly as the
    sign-in form signs it (the form itself is tested once; argon2 per role per test is slow)."""
    secret = session.load_secret(studio.home)
    host = studio.url.split("//")[1].split(":")[0]
    states: dict[str, Any] = {}
    with studio.workspace() as ws, ws.session() as db:
        for role in ROLES:
            user = db.scalar(select(User).where(User.name == user_of(role)))
            assert user is not None
            value = session.encode(secret, user.name, user.password_hash)
            cookie = {
                "name": session.COOKIE, "value": value, "domain": host, "path": "/",
                "httpOnly": True, "sameSite": "Strict", "secure": False,
                "expires": time.time() + session.LIFETIME_S,
            }  # fmt: skip
            states[role] = {"cookies": [cookie], "origins": []}
    return states


def sign_in(page: Any, user: str, password: str = PASSWORD, navigate: bool = True) -> None:
    """Fill in and submit the sign-in form (on /login, or on the page shown if not `navigate`)."""
    if navigate:
        page.goto("/login")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.fixture
def page_as(
    studio: Studio, browser: Any, _signed_in_states: dict[str, Any]
) -> Iterator[Callable[..., Any]]:
    """`page_as(role, width=1280)`: a new page signed in as that role's user."""
    contexts: list[Any] = []

    def open_page(role: str, width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(
            base_url=studio.url, viewport={"width": width, "height": height},
            storage_state=_signed_in_states[role],
        )  # fmt: skip
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """`shoot(page, name)`: a full-page screenshot, test-artifacts/ui/<test>-<name>.png."""

    def take(page: Any, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
