"""Workflows and runs over real HTTP: roles, approvals, webhooks, errors as JSON."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.automation.conftest import add_samples, workflow
from tests.server.conftest import key_maker, start_server

from edgeops.server.app import ServerLimits
from edgeops.workspace import Workspace

APPROVE = """
  - id: approve
    type: approve
    with: {role: operator}
"""


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Workspace, str, object]]:
    ws = Workspace(tmp_path / "home")
    project = ws.projects.create("p")
    ws.settings.project = "p"
    add_samples(ws, tmp_path / "samples", 16)
    server = start_server(ws, ServerLimits())
    try:
        yield ws, f"http://127.0.0.1:{server.config.port}", key_maker(ws, project)
    finally:
        server.should_exit = True
        ws.close()


def test_runs_over_http_with_roles_and_approval(api: tuple[Workspace, str, object]) -> None:
    ws, url, make_key = api
    keys = {role: make_key(role) for role in ("ml-engineer", "viewer", "operator")}  # type: ignore[operator]

    def client(role: str) -> httpx.Client:
        return httpx.Client(base_url=url, headers={"x-api-key": keys[role]}, timeout=300)

    base = "/api/v1/projects/p"
    with client("ml-engineer") as ml:
        bad = ml.post(f"{base}/workflows", json={"spec": {"name": "x", "steps": []}})
        assert bad.status_code == 400 and "steps" in bad.json()["error"]
        stored = ml.post(f"{base}/workflows", json={"spec": workflow(extra_steps=APPROVE)})
        assert stored.status_code == 201 and stored.json()["changed"] is True
        assert ml.post(f"{base}/workflows/nope/runs").status_code == 404
        started = ml.post(f"{base}/workflows/retrain/runs")
        assert started.status_code == 201
        run = started.json()
        assert run["trigger"]["kind"] == "manual" and run["trigger"]["by"].startswith("key:")
    with client("viewer") as viewer:
        assert viewer.post(f"{base}/workflows/retrain/runs").status_code == 403
        assert viewer.get(f"{base}/runs").json()[0]["id"] == run["id"]
    ws.automation.run_until_idle()
    with client("ml-engineer") as ml:
        refused = ml.post(f"{base}/runs/{run['id']}/approve", json={})
        assert refused.status_code == 409 and "needs a operator" in refused.json()["error"]
    with client("operator") as operator:
        approved = operator.post(f"{base}/runs/{run['id']}/approve", json={"comment": "ok"})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "succeeded"
        shown = operator.get(f"{base}/runs/{run['id']}").json()
        assert shown["lineage"]["dataset_version"] is None  # nothing committed before the run
        assert shown["lineage"]["produced"]["data"]["version"]
        assert "approved by key:" in operator.get(f"{base}/runs/{run['id']}/logs").json()["logs"]
        push = {"ref": "refs/heads/main", "after": "b" * 40}
        hook = operator.post(f"{base}/workflows/retrain/webhook/git", json=push)
        assert hook.json()["started"] is True and hook.json()["run"]["trigger"]["kind"] == "code"
        again = operator.post(f"{base}/workflows/retrain/webhook/git", json=push)
        assert again.json()["started"] is False
