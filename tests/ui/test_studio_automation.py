"""The automation pages in a real browser: a workflow with an approval step, run from the studio
by the server's own workers, approved by an operator, and its step timeline and logs; a viewer
sees no run/approve buttons and a forged approval is refused."""

from typing import Any

import pytest
from tests.ui.conftest import PROJECT, Studio

pytestmark = pytest.mark.browser

SPEC = """
name: {name}
description: ship after a person says yes
steps:
  - id: check
    type: notify
    with: {{message: "candidate ready"}}
  - id: sign-off
    type: approve
    with: {{role: operator, timeout: 1h, message: "Ship the candidate to the field?"}}
  - id: announce
    type: notify
    with: {{message: "shipped"}}
"""


def _waiting_run(studio: Studio, name: str) -> int:
    """A stored workflow and a run of it parked at its approval step (the server's workers
    run it)."""
    with studio.workspace() as ws:
        ws.automation.apply(SPEC.format(name=name), project=PROJECT)
        run = ws.automation.run(name, project=PROJECT, actor="user:admin-user")
        assert run is not None
        return int(run["id"])


@pytest.mark.slow
def test_run_a_workflow_and_approve_its_step(studio: Studio, page_as: Any, shoot: Any) -> None:
    with studio.workspace() as ws:
        ws.automation.apply(SPEC.format(name="ship"), project=PROJECT)
    page = page_as("operator")
    page.goto(f"/projects/{PROJECT}/automation")
    workflows = page.get_by_role("region", name="Workflows")
    assert "check → sign-off → announce" in workflows.inner_text()
    assert workflows.get_by_role("button", name="Store workflow").count() == 0  # no write
    page.get_by_role("link", name="ship", exact=True).click()
    assert "Ship the candidate" in page.locator("pre.spec").inner_text()
    page.get_by_role("button", name="Run now").click()
    page.wait_for_url("**/automation/runs/*")
    run_id = int(page.url.rsplit("/", 1)[1])
    # The page polls while the server's workers run `check`, then reloads at the approval.
    page.get_by_role("heading", name="Step sign-off waits for approval").wait_for()
    assert page.locator("[data-step=check] .badge").inner_text() == "done"
    assert page.locator("[data-step=sign-off] .badge").inner_text() == "waiting"
    status = page.get_by_role("region", name="Status").inner_text()
    assert "Ship the candidate to the field?" in status and "Needs a operator" in status
    shoot(page, "waiting")
    page.get_by_label("Comment").fill("looks good")
    page.get_by_role("button", name="Approve").click()
    page.get_by_role("status").get_by_text(f"run {run_id}: approved").wait_for()
    page.locator("[data-status=succeeded]").wait_for()  # polled until the last step ran
    assert page.locator("[data-step=announce] .badge").inner_text() == "done"
    logs = page.get_by_role("region", name="Logs").inner_text()
    assert "approved by user:operator-user: looks good" in logs and "notified: shipped" in logs
    shoot(page, "succeeded")
    with studio.workspace() as ws:
        run = ws.automation.get_run(run_id, project=PROJECT)
        assert run["status"] == "succeeded" and run["trigger"]["by"] == "user:operator-user"
        step = {s["step"]: s for s in run["steps"]}["sign-off"]
        assert step["output"]["approved_by"] == "user:operator-user"


def test_viewer_cannot_run_or_approve_even_by_forging(studio: Studio, page_as: Any) -> None:
    run_id = _waiting_run(studio, "guarded")
    page = page_as("viewer", width=820, height=1180)  # a tablet, portrait
    page.goto(f"/projects/{PROJECT}/automation/runs/{run_id}")
    page.get_by_role("heading", name="Step sign-off waits for approval").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for name in ("Approve", "Reject", "Cancel run"):
        assert page.get_by_role("button", name=name).count() == 0
    page.goto(f"/projects/{PROJECT}/automation/workflows/guarded")
    assert page.get_by_role("button", name="Run now").count() == 0
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    base = f"/projects/{PROJECT}/automation"
    for url in (f"{base}/runs/{run_id}/approve", f"{base}/workflows/guarded/run"):
        assert page.request.post(url, form={"csrf": token}).status == 403
    # A data scientist may run workflows but not approve: the server says so too.
    scientist = page_as("data-scientist")
    scientist.goto(f"{base}/runs/{run_id}")
    assert scientist.get_by_role("button", name="Approve").count() == 0
    token = scientist.locator("input[name=csrf]").first.get_attribute("value")
    assert (
        scientist.request.post(f"{base}/runs/{run_id}/approve", form={"csrf": token}).status == 403
    )
    with studio.workspace() as ws:
        run = ws.automation.get_run(run_id, project=PROJECT)
        assert run["status"] == "waiting"
        assert len(ws.automation.runs(project=PROJECT, workflow="guarded")) == 1
