import asyncio
import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from tests.governance.test_fairness import write_project
from typer.testing import CliRunner

from edgeops.cli.main import app
from edgeops.data import projects
from edgeops.data.formats.ei import sign_ei
from edgeops.demo import HMAC_KEY, SENSORS, basic_motions
from edgeops.governance import retention
from edgeops.store.tables import Sample, utcnow


def add_recordings(ws, folder: Path, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    """`count` new recordings (scaled copies of the demo's, so new content), imported now."""
    recordings, labels = basic_motions()
    paths = []
    for number in range(count):
        payload = {"device_name": "watch-c", "device_type": "SMARTWATCH", "interval_ms": 100,
                   "sensors": SENSORS, "values": (recordings[number] * 1.5).tolist()}  # fmt: skip
        path = folder / f"{labels[number].lower()}.late{number}.json"
        path.write_bytes(sign_ei(payload, HMAC_KEY))
        paths.append(path)
    before = {s.id for s in ws.data.samples()}
    ws.data.import_files(paths, hmac_key=HMAC_KEY, category="training")
    return sorted({s.id for s in ws.data.samples()} - before)


def test_retention_deletes_old_samples_except_what_a_release_pins(tmp_path: Path) -> None:
    ws, recipe = write_project(tmp_path, biased=False)
    with ws:
        shipped = ws.data.versions()[0]
        ws.train(recipe, seed=1)
        ws.fleet.signing_init(keys_dir=tmp_path / "keys")
        ws.fleet.create_release("SMARTWATCH", "1.0.0", {"model.bin": b"weights"}, model="v1",
                                keys_dir=tmp_path / "keys")  # fmt: skip
        late = add_recordings(ws, tmp_path, 4)
        later = ws.data.commit("late recordings")
        now = utcnow()
        with ws.session() as session:  # everything is 100 days old but two late ones (10 days)
            session.execute(update(Sample).values(created_at=now - timedelta(days=100)))
            session.execute(update(Sample).where(Sample.id.in_(late[2:]))
                            .values(created_at=now - timedelta(days=10)))  # fmt: skip
            session.commit()
            retention.set_policy(session, projects.get(session, "fair"), 30, "tester")
        old = [s for s in ws.data.samples() if s.id in late[:2]]

        (plan,) = retention.apply(ws, dry_run=True, now=now)
        assert plan["expired"] == late[:2] and plan["kept_pinned"] == shipped.sample_count
        assert plan["pinned_by_versions"] == [shipped.id]
        assert len(ws.data.samples()) == shipped.sample_count + 4  # a dry run changes nothing

        (done,) = retention.apply(ws, now=now)
        assert done["samples_deleted"] == 2 and done["blobs_deleted"] == 4
        assert [v["id"] for v in done["dataset_versions_redacted"]] == [later.id]
        left = {s.id for s in ws.data.samples()}
        assert left.isdisjoint(late[:2]) and set(late[2:]) <= left
        for sample in old:
            assert not ws.blobs.exists(sample.original_hash)
            assert not ws.blobs.exists(sample.content_hash)
        assert len(ws.data.read_version(shipped.id)) == shipped.sample_count  # pinned: whole
        assert len(ws.data.read_version(later.id)) == later.sample_count - 2
        assert ws.models.get("v1").version is not None
        (event,) = ws.audit.events(action="retention.apply")
        assert event.details["samples_deleted"] == 2 and ws.audit.verify().ok
        assert retention.apply(ws, now=now)[0]["expired"] == []  # nothing more to do
        # 60 days on, the late ones expire too; the release still pins the shipped version.
        (after,) = retention.apply(ws, now=now + timedelta(days=60))
        assert after["samples_deleted"] == 2 and after["kept_pinned"] == shipped.sample_count
        with ws.session() as session:
            assert len(session.scalars(select(Sample)).all()) == shipped.sample_count


def test_retention_cli(tmp_path: Path) -> None:
    ws, _ = write_project(tmp_path, biased=False)
    ws.close()
    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    result = runner.invoke(app, [*home, "privacy", "retention", "show", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["raw_sample_days"] is None
    result = runner.invoke(app, [*home, "privacy", "retention", "set", "--days", "0"])
    assert result.exit_code == 2 and "between 1 and" in result.stderr
    result = runner.invoke(app, [*home, "privacy", "retention", "apply", "-p", "fair"])
    assert result.exit_code == 2 and "no retention policy" in result.stderr
    result = runner.invoke(app, [*home, "privacy", "retention", "apply"])  # every project's
    assert result.exit_code == 0 and "no project has a retention policy" in result.stdout
    result = runner.invoke(app, [*home, "privacy", "retention", "set", "--days", "7", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["raw_sample_days"] == 7
    result = runner.invoke(app, [*home, "privacy", "retention", "apply", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    (report,) = json.loads(result.stdout)
    assert report["expired"] == [] and report["dry_run"]  # everything was imported just now
    result = runner.invoke(app, [*home, "privacy", "retention", "clear"])
    assert result.exit_code == 0
    result = runner.invoke(app, [*home, "audit", "log", "--json"])
    assert result.exit_code == 0, result.output
    actions = [e["action"] for e in json.loads(result.stdout)]
    assert "retention.set" in actions and "retention.clear" in actions


def test_the_server_task_applies_every_policy(tmp_path: Path) -> None:
    ws, _ = write_project(tmp_path, biased=False)
    with ws:
        with ws.session() as session:
            session.execute(update(Sample).where(Sample.id <= 3)
                            .values(created_at=utcnow() - timedelta(days=8)))  # fmt: skip
            session.commit()
            retention.set_policy(session, projects.get(session, "fair"), 7, "tester")

        async def one_round() -> None:
            task = asyncio.create_task(retention.run_periodically(ws, 3600))
            while not ws.audit.events(action="retention.apply"):
                await asyncio.sleep(0.05)
            task.cancel()

        asyncio.run(one_round())
        assert sorted(s.id for s in ws.data.samples())[:2] == [4, 5]


def test_a_workflow_step_applies_the_policy(tmp_path: Path) -> None:
    ws, _ = write_project(tmp_path, biased=False)
    with ws:
        ws.settings.project = "fair"
        now = utcnow()
        with ws.session() as session:
            session.execute(update(Sample).where(Sample.id <= 3)
                            .values(created_at=now - timedelta(days=31)))  # fmt: skip
            session.commit()
            retention.set_policy(session, projects.get(session, "fair"), 30, "tester")
        ws.automation.apply({"name": "housekeeping", "triggers": [{"type": "manual"}],
                             "steps": [{"id": "expire", "type": "retention"}]})  # fmt: skip
        run = ws.automation.run("housekeeping", actor="cron-bot", now=now)
        assert run is not None
        ws.automation.run_until_idle(now)
        done = ws.automation.get_run(run["id"])
        assert done["status"] == "succeeded", done
        (step,) = done["steps"]
        assert step["output"] == {"expired": 3, "deleted": 3, "kept_pinned": 0}
        assert min(s.id for s in ws.data.samples()) == 4
        (event,) = ws.audit.events(action="retention.apply")
        assert event.actor == f"workflow:housekeeping#{run['id']}"  # the run acted
