"""Each trigger kind starts a real run that completes; none fires twice for one occasion."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests.automation.conftest import RECIPE, T0, workflow

from edgeops.automation import cron
from edgeops.data import projects
from edgeops.store.tables import Alert
from edgeops.workspace import Workspace


def _finished(ws: Workspace, now: datetime) -> list[dict[str, object]]:
    ws.automation.run_until_idle(now)
    runs = ws.automation.runs()
    assert all(run["status"] == "succeeded" for run in runs), runs
    return runs


def test_schedule_fires_once_per_due_time_in_its_time_zone(auto_ws: Workspace) -> None:
    ws = auto_ws
    triggers = "[{type: schedule, cron: '0 3 * * *', timezone: Europe/Berlin}]"
    ws.automation.apply(workflow(triggers=triggers))
    assert _finished(ws, T0) == []  # first look: nothing from before the workflow existed
    assert _finished(ws, T0 + timedelta(hours=13, minutes=59)) == []  # 02:59 Berlin
    due = T0 + timedelta(hours=14)  # 03:00 Berlin is 02:00 UTC in winter
    runs = _finished(ws, due)
    assert [r["trigger"]["at"] for r in runs] == [due.isoformat()]  # type: ignore[index]
    # A restarted scheduler (a new worker) looking again at the same moment fires nothing.
    ws.automation.worker().run_until_idle(due + timedelta(minutes=5))
    assert len(ws.automation.runs()) == 1
    # Down for two days: one catch-up run, not one per missed day.
    runs = _finished(ws, due + timedelta(days=2, hours=1))
    assert len(runs) == 2


def test_cron_follows_daylight_saving_time() -> None:
    summer = datetime(2030, 7, 1, 12, tzinfo=UTC)
    fire = cron.next_after("0 3 * * *", "Europe/Berlin", summer)
    assert fire == datetime(2030, 7, 2, 1, tzinfo=UTC)  # UTC+2 in summer
    assert cron.next_after("30 6 * * 1-5", "UTC", datetime(2030, 1, 5, tzinfo=UTC)) == datetime(
        2030, 1, 7, 6, 30, tzinfo=UTC
    )  # Saturday → Monday


def test_data_trigger_waits_for_enough_samples_and_quiet(
    auto_ws: Workspace, more_samples: Callable[[Workspace, int, int], None]
) -> None:
    ws = auto_ws
    ws.automation.apply(workflow(triggers="[{type: data, new_samples: 4, debounce: 10m}]"))
    now = datetime.now(UTC)
    assert _finished(ws, now) == []
    more_samples(ws, 2, 100)
    assert _finished(ws, now + timedelta(hours=1)) == []  # 2 new samples: not enough
    more_samples(ws, 2, 102)
    assert _finished(ws, datetime.now(UTC)) == []  # enough, but still arriving (debounce)
    runs = _finished(ws, datetime.now(UTC) + timedelta(minutes=11))
    assert len(runs) == 1 and runs[0]["trigger"]["new_samples"] == 4  # type: ignore[index]
    assert runs[0]["inputs"]["samples"] == 20  # type: ignore[index]
    # The run's own commit is no new data for it: nothing more fires.
    assert len(_finished(ws, datetime.now(UTC) + timedelta(hours=2))) == 1


def test_data_trigger_on_a_new_dataset_version(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(workflow(triggers="[{type: data, new_version: true}]"))
    assert _finished(ws, T0) == []
    version = ws.data.commit("by hand")
    runs = _finished(ws, datetime.now(UTC) + timedelta(seconds=1))
    assert len(runs) == 1 and runs[0]["trigger"]["dataset_version"] == version.id  # type: ignore[index]


def test_code_trigger_fires_when_the_workflow_or_its_recipe_changes(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(workflow(triggers="[{type: code}]"))
    assert _finished(ws, T0) == []
    assert ws.automation.apply(workflow(triggers="[{type: code}]"))["changed"] is False
    assert _finished(ws, T0) == []
    changed = workflow(triggers="[{type: code}]")
    recipe = {**RECIPE, "learner": {"name": "trees", "params": {"trees": 6, "max_depth": 3}}}
    changed["steps"][1]["with"]["recipe"] = recipe  # type: ignore[index]
    ws.automation.apply(changed)
    runs = _finished(ws, T0)
    assert len(runs) == 1
    assert runs[0]["trigger"]["changed"] == ["workflow", "recipe of train"]  # type: ignore[index]
    assert _finished(ws, T0 + timedelta(minutes=1)) == runs


def test_git_webhook_runs_once_per_commit(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(workflow(triggers="[{type: code}]"))
    push = {"ref": "refs/heads/main", "after": "a" * 40}
    first = ws.automation.webhook("retrain", push, actor="git", now=T0)
    assert first is not None and first["trigger"]["commit"] == "a" * 40
    assert ws.automation.webhook("retrain", push, actor="git", now=T0) is None
    assert len(_finished(ws, T0)) == 1


def _alert(ws: Workspace, kind: str, severity: str) -> dict[str, object]:
    with ws.session() as session:
        project = projects.get(session, "test")
        alert = Alert(project_id=project.id, kind=kind, severity=severity, fingerprint=f"x:{kind}",
                      title=f"{kind} on v1", details={}, status="open", count=1)  # fmt: skip
        session.add(alert)
        session.commit()
        return {"id": alert.id, "kind": kind, "severity": severity}


def test_alert_trigger_runs_for_matching_alerts_only(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(workflow(triggers="[{type: alert, kind: drift, severity: warning}]"))
    assert _finished(ws, T0) == []
    assert ws.automation.on_alert(_alert(ws, "drift", "info"), now=T0) == []  # too mild
    assert ws.automation.on_alert(_alert(ws, "health", "critical"), now=T0) == []  # other kind
    drift = _alert(ws, "drift", "critical")
    started = ws.automation.on_alert(drift, now=T0)
    assert len(started) == 1
    runs = _finished(ws, T0)  # the tick sees the same alert: no second run
    assert len(runs) == 1 and runs[0]["trigger"]["alert"] == drift["id"]  # type: ignore[index]
    # An alert raised where no listener heard it (another process) is found by the tick.
    later = _alert(ws, "drift", "warning")
    runs = _finished(ws, T0 + timedelta(minutes=1))
    assert [r["trigger"]["alert"] for r in runs] == [later["id"], drift["id"]]  # type: ignore[index]
