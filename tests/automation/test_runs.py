"""Runs end to end: manual trigger, wiring, caching, gates, approvals, cancel and retry."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from tests.automation.conftest import T0, add_samples, workflow

from edgeops.errors import Conflict, NotFound
from edgeops.store.tables import ModelVersion
from edgeops.workspace import Workspace


def _models(ws: Workspace) -> int:
    with ws.session() as session:
        return int(session.scalar(select(func.count()).select_from(ModelVersion)) or 0)


def test_manual_run_completes_and_records_who_and_what(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(workflow(extra_steps="""
  - id: promote
    type: promote
    with: {model: "${gate.candidate}", alias: staging}
"""))  # fmt: skip
    run = ws.automation.run("retrain", actor="alice", now=T0)
    assert run is not None and run["trigger"] == {"kind": "manual", "by": "alice"}
    ws.automation.run_until_idle(T0)
    done = ws.automation.get_run(run["id"])
    assert done["status"] == "succeeded", done
    steps = {s["step"]: s for s in done["steps"]}
    version = steps["data"]["output"]["version"]
    assert steps["train"]["output"]["data"] == version  # wired from the commit step
    assert steps["gate"]["output"]["passed"] is True
    assert ws.models.show("staging")["number"] == 1
    lineage = done["lineage"]
    assert lineage["trigger"] == "manual" and lineage["workflow_version"]
    assert list(lineage["recipes"]) == ["train"]
    assert lineage["produced"]["train"]["model"] == "v1"
    actions = [e.action for e in ws.audit.events()]
    assert "workflow.run" in actions and "model.alias" in actions


def test_same_inputs_skip_the_step_and_make_no_second_model(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(workflow())
    for _ in range(2):
        ws.automation.run("retrain", now=T0)
        ws.automation.run_until_idle(T0)
    _, second = sorted(ws.automation.runs(), key=lambda r: r["id"])
    steps = {s["step"]: s for s in ws.automation.get_run(second["id"])["steps"]}
    assert steps["train"]["cached"] is True
    assert steps["train"]["output"]["model"] == "v1"
    assert _models(ws) == 1


def test_failing_gate_stops_the_run_with_a_reason(ws: Workspace, tmp_path: Path) -> None:
    ws.settings.project = "test"
    add_samples(ws, tmp_path / "noisy", 16, apart=0.05)  # labels barely differ
    data = workflow(extra_steps="""
  - id: promote
    type: promote
    with: {model: "${gate.candidate}"}
""")  # fmt: skip
    data["steps"][2]["with"]["min_accuracy"] = 0.99
    ws.automation.apply(data)
    run = ws.automation.run("retrain", now=T0)
    assert run is not None
    ws.automation.run_until_idle(T0)
    done = ws.automation.get_run(run["id"])
    assert done["status"] == "stopped", done
    assert (
        done["reason"].startswith("gate: v1 accuracy ")
        and "below the minimum 0.99" in done["reason"]
    )
    assert {s["step"]: s["status"] for s in done["steps"]}["gate"] == "failed"
    assert "promote" not in {s["step"] for s in done["steps"]}
    with pytest.raises(NotFound):
        ws.models.show("production")


APPROVE = """
  - id: approve
    type: approve
    with: {role: operator, timeout: 1h}
  - id: promote
    type: promote
    with: {model: "${gate.candidate}"}
"""


def test_approval_waits_for_the_right_role_then_promotes(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(workflow(extra_steps=APPROVE))
    run = ws.automation.run("retrain", now=T0)
    assert run is not None
    ws.automation.run_until_idle(T0)
    assert ws.automation.get_run(run["id"])["status"] == "waiting"
    with pytest.raises(Conflict, match="needs a operator"):
        ws.automation.decide(run["id"], True, actor="dana", role="data-scientist", now=T0)
    ws.automation.decide(run["id"], True, actor="olga", role="operator", now=T0)
    ws.automation.run_until_idle(T0)
    done = ws.automation.get_run(run["id"])
    assert done["status"] == "succeeded"
    assert {s["step"]: s for s in done["steps"]}["approve"]["output"]["approved_by"] == "olga"
    assert ws.models.show("production")["number"] == 1
    assert any(e.action == "workflow.approved" and e.actor == "olga" for e in ws.audit.events())


def test_unanswered_approval_times_out_and_stops_the_run(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(workflow(extra_steps=APPROVE))
    run = ws.automation.run("retrain", now=T0)
    assert run is not None
    ws.automation.run_until_idle(T0)
    ws.automation.run_until_idle(T0 + timedelta(minutes=59))
    assert ws.automation.get_run(run["id"])["status"] == "waiting"
    ws.automation.run_until_idle(T0 + timedelta(minutes=61))
    done = ws.automation.get_run(run["id"])
    assert done["status"] == "stopped" and "no approval before the timeout" in done["reason"]


def test_cancel_then_retry_resumes_without_redoing_done_steps(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(workflow(extra_steps=APPROVE))
    run = ws.automation.run("retrain", now=T0)
    assert run is not None
    ws.automation.run_until_idle(T0)
    ws.automation.cancel(run["id"])
    cancelled = ws.automation.get_run(run["id"])
    assert cancelled["status"] == "cancelled"
    with pytest.raises(Conflict):
        ws.automation.cancel(run["id"])
    ws.automation.retry(run["id"])
    ws.automation.run_until_idle(T0)
    again = ws.automation.get_run(run["id"])
    assert again["status"] == "waiting"
    train = {s["step"]: s for s in again["steps"]}["train"]
    assert train["attempts"] == 1 and not train["cached"]  # kept from before, not run again
    assert _models(ws) == 1


def test_concurrency_limit_queues_the_second_run(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(workflow(extra_steps=APPROVE))
    first = ws.automation.run("retrain", now=T0)
    second = ws.automation.run("retrain", now=T0)
    assert first is not None and second is not None
    ws.automation.run_until_idle(T0)
    assert ws.automation.get_run(first["id"])["status"] == "waiting"
    assert ws.automation.get_run(second["id"])["status"] == "queued"
    ws.automation.decide(first["id"], False, comment="not now", now=T0)
    ws.automation.run_until_idle(T0)
    assert ws.automation.get_run(first["id"])["status"] == "stopped"
    assert ws.automation.get_run(second["id"])["status"] == "waiting"


def test_failing_step_is_retried_with_backoff_then_fails_the_run(auto_ws: Workspace) -> None:
    ws = auto_ws
    data = workflow()
    data["steps"][1]["with"]["data"] = "0" * 64  # no such dataset version
    data["steps"][1]["retries"] = 1
    ws.automation.apply(data)
    run = ws.automation.run("retrain", now=T0)
    assert run is not None
    ws.automation.run_until_idle(T0)
    assert ws.automation.get_run(run["id"])["status"] == "running"  # waiting for the backoff
    ws.automation.run_until_idle(T0 + timedelta(seconds=6))
    done = ws.automation.get_run(run["id"])
    assert done["status"] == "failed" and "step train failed after 2 attempts" in done["reason"]
    assert "attempt 1 failed" in ws.automation.logs(run["id"])
