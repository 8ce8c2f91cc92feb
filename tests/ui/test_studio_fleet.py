"""The fleet pages in a real browser: devices checked in over the device API, a signed release,
a rollout started from the form whose stage progress updates live while devices report, then
paused; a viewer sees no buttons and a forged pause is refused."""

import contextlib
from typing import Any

import httpx
import pytest
from tests.ui.conftest import Studio

from edgeops.errors import Conflict
from edgeops.workspace import Workspace

pytestmark = pytest.mark.browser

PROJECT = "fleetlab"  # its own project: rollouts are one at a time per device type
DEVICES = ("gw-1", "gw-2", "gw-3", "gw-4")


def _signed_project(ws: Workspace) -> None:
    """The project, with update signing keys (the targets key online, as servers keep it)."""
    if PROJECT not in [p.name for p in ws.projects.list()]:
        ws.projects.create(PROJECT)
    with contextlib.suppress(Conflict):  # the other test made them
        ws.fleet.signing_init(project=PROJECT, online_targets=True)


def _seed(studio: Studio) -> dict[str, str]:
    """Four gateways (one degraded), a signed release; returns each device's key."""
    keys = {}
    with studio.workspace() as ws:
        _signed_project(ws)
        ws.fleet.create_release(
            "gateway", "1.0.0", {"model.bin": b"\x01" * 512}, project=PROJECT,
            changelog="first field model",
        )  # fmt: skip
        for device in DEVICES:
            _, keys[device] = ws.fleet.register(
                device, "gateway", project=PROJECT, tags=["ui"], groups=["lab"]
            )
    for device, key in keys.items():
        health = {"status": "degraded" if device == "gw-4" else "ok"}
        answer = httpx.post(
            f"{studio.url}/api/v1/projects/{PROJECT}/device/checkin",
            json={"device_type": "gateway", "health": health}, headers={"x-api-key": key},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
    return keys


def _report_healthy(studio: Studio, keys: dict[str, str]) -> list[str]:
    """The devices the rollout has offered 1.0.0 report it installed and healthy."""
    with studio.workspace() as ws:
        offered = [
            d["device_id"] for d in ws.fleet.devices(project=PROJECT)
            if d["target_release"] == "1.0.0" and d["installed_release"] != "1.0.0"
        ]  # fmt: skip
    for device in offered:
        answer = httpx.post(
            f"{studio.url}/api/v1/projects/{PROJECT}/device/status",
            json={"release": "1.0.0", "state": "healthy"}, headers={"x-api-key": keys[device]},
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
    return offered


@pytest.mark.slow
def test_start_a_rollout_watch_its_stages_and_pause_it(
    studio: Studio, page_as: Any, shoot: Any
) -> None:
    keys = _seed(studio)
    page = page_as("operator")
    page.goto(f"/projects/{PROJECT}/fleet")
    devices = page.get_by_role("region", name="Devices")
    assert devices.locator("tr[data-device=gw-1] td").nth(2).inner_text() == "online"
    assert devices.locator("tr[data-device=gw-4] td").nth(2).inner_text() == "degraded"
    devices.locator("[data-health=degraded]").click()  # the health summary filters the list
    assert page.locator("tr[data-device]").all_inner_texts()[0].startswith("gw-4")
    assert page.locator("tr[data-device]").count() == 1
    page.goto(f"/projects/{PROJECT}/fleet")
    releases = page.get_by_role("region", name="Releases")
    assert "gateway/1.0.0" in releases.inner_text()
    assert releases.locator(".badge").inner_text() == "signed"  # verified against the root keys
    start = page.get_by_role("region", name="Rollouts")
    start.get_by_label("Release", exact=True).select_option("gateway/1.0.0")
    start.get_by_label("Group", exact=True).select_option("lab")
    start.get_by_label("Stages (%)").fill("50,100")
    start.get_by_label("Dwell per stage").fill("0s")
    start.get_by_role("button", name="Start rollout").click()
    page.wait_for_url("**/fleet/rollouts/*")
    state = page.locator("#rollout-progress [data-state]")
    assert state.inner_text() in ("pending", "running")  # the server's scheduler may be first

    with studio.workspace() as ws:
        ws.fleet.advance()  # the scheduler's step: stage 1 offers the release to half the group
    progress = page.locator("#rollout-progress")
    progress.get_by_text("2 of 4 devices reached").wait_for()  # polled, no reload
    assert len(_report_healthy(studio, keys)) == 2
    with studio.workspace() as ws:
        ws.fleet.advance()  # stage 1 healthy, no dwell: on to 100 %
    progress.get_by_text("stage 2 of 2").wait_for()
    progress.get_by_text("4 of 4 devices reached").wait_for()
    members = {
        row.get_attribute("data-member"): row.locator(".badge").inner_text()
        for row in progress.locator("tr[data-member]").all()
    }
    assert sorted(members.values()) == ["offered", "offered", "succeeded", "succeeded"]
    shoot(page, "stage-2")

    page.get_by_role("button", name="Pause").click()
    page.get_by_role("status").get_by_text("is paused").wait_for()
    assert state.inner_text() == "paused"
    assert page.get_by_role("button", name="Resume").is_visible()
    assert page.get_by_role("button", name="Pause").count() == 0
    shoot(page, "paused")
    with studio.workspace() as ws:
        rollout = next(
            r for r in ws.fleet.rollouts(project=PROJECT) if r["release"] == "gateway/1.0.0"
        )
        assert rollout["state"] == "paused" and rollout["reason"] == "paused by user:operator-user"
        events = ws.audit.events(project=PROJECT, action="rollout.pause")
        assert events[0].actor == "user:operator-user"


def test_viewer_sees_no_rollout_buttons_and_a_forged_pause_is_refused(
    studio: Studio, page_as: Any, shoot: Any
) -> None:
    with studio.workspace() as ws:
        _signed_project(ws)
        ws.fleet.create_release("sensor", "2.0.0", {"fw.bin": b"\x02" * 256}, project=PROJECT)
        ws.fleet.register("sensor-1", "sensor", project=PROJECT)
        rollout = ws.fleet.create_rollout("sensor/2.0.0", project=PROJECT)
    page = page_as("viewer", width=820, height=1180)  # a tablet, portrait
    page.goto(f"/projects/{PROJECT}/fleet")
    assert page.get_by_role("button", name="Start rollout").count() == 0
    # Wide tables scroll inside their box; the page itself fits the tablet's width.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shoot(page, "tablet")
    page.goto(f"/projects/{PROJECT}/fleet/rollouts/{rollout['id']}")
    page.locator("#rollout-progress [data-state]").wait_for()
    for name in ("Pause", "Resume", "Abort", "Roll back"):
        assert page.get_by_role("button", name=name).count() == 0
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    for action in ("pause", "abort"):
        answer = page.request.post(
            f"/projects/{PROJECT}/fleet/rollouts/{rollout['id']}/{action}", form={"csrf": token}
        )
        assert answer.status == 403
    with studio.workspace() as ws:
        # the server's scheduler may have started it meanwhile; nobody paused or aborted it
        assert ws.fleet.rollout(rollout["id"], project=PROJECT)["state"] in ("pending", "running")
        assert not ws.audit.events(project=PROJECT, actor="user:viewer-user")
