"""`ws.automation`: workflows, runs and workers of a workspace, for the SDK, CLI and API."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.automation import cron, engine, spec, triggers
from edgeops.automation.worker import Worker
from edgeops.data import projects
from edgeops.errors import InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.store.tables import Job, Project, Workflow, WorkflowRun

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

log = logging.getLogger(__name__)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def workflow_record(workflow: Workflow, now: datetime | None = None) -> dict[str, Any]:
    parsed = engine.spec_of(workflow)
    triggers_out = []
    for trigger in parsed.triggers:
        shown = trigger.model_dump(exclude_defaults=True)
        if trigger.cron is not None:
            upcoming = cron.next_after(trigger.cron, trigger.timezone, now or datetime.now(UTC))
            shown["next"] = _iso(upcoming)
        triggers_out.append(shown)
    return {
        "name": workflow.name,
        "version": workflow.version,
        "enabled": workflow.enabled,
        "description": parsed.description,
        "concurrency": parsed.concurrency,
        "triggers": triggers_out,
        "steps": [
            {
                "id": s.id,
                "type": s.type,
                "when": s.when,
                "needs": spec.dependencies(s, parsed.steps[i - 1].id if i else None),
            }
            for i, s in enumerate(parsed.steps)
        ],
        "created_at": _iso(workflow.created_at),
        "created_by": workflow.created_by,
    }


def job_record(job: Job) -> dict[str, Any]:
    return {
        "step": job.step,
        "type": job.kind,
        "status": job.status,
        "attempts": job.attempts,
        "cached": job.cached,
        "error": job.error,
        "output": job.output,
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


def run_record(run: WorkflowRun, jobs: list[Job] | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": run.id,
        "workflow": run.workflow_name,
        "status": run.status,
        "reason": run.reason,
        "trigger": run.trigger,
        "inputs": run.inputs,
        "created_by": run.created_by,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
    }
    if jobs is not None:
        record["steps"] = [job_record(job) for job in jobs]
        record["lineage"] = {
            "trigger": run.trigger.get("kind"),
            "workflow_version": run.inputs.get("workflow_version"),
            "dataset_version": run.inputs.get("dataset_version"),
            "recipes": run.inputs.get("recipes"),
            "edgeops": run.inputs.get("edgeops"),
            "produced": {job.step: job.output for job in jobs if job.status == "done"},
        }
    return record


class Automation:
    """Workflows (versioned specs), their runs, approvals and workers."""

    def __init__(self, ws: "Workspace") -> None:
        self._ws = ws

    @contextmanager
    def _open(self, project: str | None) -> Iterator[tuple[Session, Project]]:
        with self._ws.session() as session:
            yield session, projects.get(session, project or self._ws.settings.project)

    def _workflow(self, session: Session, project: Project, name: str) -> Workflow:
        found = [w for w in triggers.current_workflows(session, project.id) if w.name == name]
        if not found:
            raise NotFound(
                f"project {project.name!r} has no workflow {name!r} (see `edgeops workflow list`)"
            )
        return found[0]

    # workflows -------------------------------------------------------------------------

    def apply(
        self,
        source: Path | str | dict[str, Any],
        *,
        project: str | None = None,
        enabled: bool = True,
    ) -> dict[str, Any]:
        """Store a workflow (a file, YAML text or data); a new version only if it changed."""
        if isinstance(source, Path):
            parsed = spec.load_file(source)
        elif isinstance(source, str):
            parsed = spec.load(source)
        else:
            parsed = spec.parse(source)
        version = spec.version_of(parsed)
        with self._open(project) as (session, proj):
            current = [
                w for w in triggers.current_workflows(session, proj.id) if w.name == parsed.name
            ]
            if current and current[0].version == version and current[0].enabled == enabled:
                return {**workflow_record(current[0]), "changed": False}
            workflow = Workflow(
                project_id=proj.id,
                name=parsed.name,
                version=version,
                spec=spec.canonical_data(parsed),
                enabled=enabled,
                created_at=datetime.now(UTC),
                created_by=self._ws.actor,
            )
            if current and current[0].version == version:  # only enabled changed
                workflow = current[0]
                workflow.enabled = enabled
            else:
                session.add(workflow)
            session.flush()
            audit.record(
                session,
                self._ws.actor,
                "workflow.apply",
                f"workflow:{parsed.name}",
                proj.id,
                {"version": version[:12], "enabled": enabled},
            )
            session.commit()
            return {**workflow_record(workflow), "changed": True}

    def workflows(self, *, project: str | None = None) -> list[dict[str, Any]]:
        with self._open(project) as (session, proj):
            found = sorted(triggers.current_workflows(session, proj.id), key=lambda w: w.name)
            return [workflow_record(w) for w in found]

    def show(self, name: str, *, project: str | None = None) -> dict[str, Any]:
        with self._open(project) as (session, proj):
            workflow = self._workflow(session, proj, name)
            older = session.scalars(
                select(Workflow)
                .where(Workflow.project_id == proj.id, Workflow.name == name)
                .order_by(Workflow.id.desc())
            ).all()
            return {
                **workflow_record(workflow),
                "spec": workflow.spec,
                "versions": [
                    {"version": w.version, "created_at": _iso(w.created_at)} for w in older
                ],
            }

    # runs ------------------------------------------------------------------------------

    def run(
        self,
        name: str,
        *,
        project: str | None = None,
        actor: str | None = None,
        now: datetime | None = None,
        trigger: dict[str, Any] | None = None,
        dedupe_key: str | None = None,
    ) -> dict[str, Any] | None:
        """Queue a run (manual, unless `trigger` says otherwise; records who asked)."""
        who = actor or self._ws.actor
        with self._open(project) as (session, proj):
            workflow = self._workflow(session, proj, name)
            made = triggers.fire(
                session,
                workflow,
                trigger or {"kind": "manual", "by": who},
                now or datetime.now(UTC),
                dedupe_key,
                who,
            )
            if made is None:
                return None
            engine.start_queued(session, now or datetime.now(UTC))
            session.commit()
            return run_record(made)

    def webhook(
        self,
        name: str,
        payload: dict[str, Any],
        *,
        project: str | None = None,
        actor: str | None = None,
        now: datetime | None = None,
    ) -> dict[str, Any] | None:
        """A git push (GitHub/Gitea/GitLab style payload): a `code` run, once per commit."""
        commit = payload.get("after") or payload.get("checkout_sha") or payload.get("commit")
        ref = payload.get("ref")
        if commit is not None and not isinstance(commit, str):
            raise InvalidInput("webhook: 'after' must be a commit id")
        trigger = {"kind": "code", "changed": ["git"], "commit": commit, "ref": ref}
        with self._open(project) as (_, proj):
            key = f"git:{proj.id}:{name}:{commit}" if commit else None
        return self.run(
            name, project=project, actor=actor, now=now, trigger=trigger, dedupe_key=key
        )

    def on_alert(self, alert: dict[str, Any], now: datetime | None = None) -> list[int]:
        """The monitoring listener: start runs of workflows with a matching alert trigger."""
        try:
            with self._ws.session() as session:
                runs = triggers.on_alert(session, int(alert["id"]), now or datetime.now(UTC))
                engine.start_queued(session, now or datetime.now(UTC))
                session.commit()
                return [run.id for run in runs]
        except Exception:  # a broken trigger must not break the monitor; tick retries it
            log.exception("alert %s: starting workflows failed", alert.get("id"))
            return []

    def alert_listener(self, alert: dict[str, Any]) -> None:
        """What `ws.monitoring.subscribe` calls when an alert opens."""
        self.on_alert(alert)

    def runs(
        self,
        *,
        project: str | None = None,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        with self._open(project) as (session, proj):
            query = select(WorkflowRun).where(WorkflowRun.project_id == proj.id)
            if workflow is not None:
                query = query.where(WorkflowRun.workflow_name == workflow)
            if status is not None:
                query = query.where(WorkflowRun.status == status)
            found = session.scalars(query.order_by(WorkflowRun.id.desc()).limit(limit))
            return [run_record(run) for run in found]

    def _jobs(self, session: Session, run: WorkflowRun) -> list[Job]:
        return list(session.scalars(select(Job).where(Job.run_id == run.id).order_by(Job.id)))

    def get_run(self, run_id: int, *, project: str | None = None) -> dict[str, Any]:
        with self._open(project) as (session, proj):
            run = engine.get_run(session, proj, run_id)
            return run_record(run, self._jobs(session, run))

    def logs(self, run_id: int, *, project: str | None = None) -> str:
        with self._open(project) as (session, proj):
            run = engine.get_run(session, proj, run_id)
            parts = [
                f"== {job.step} ({job.kind}) {job.status}\n{job.log}"
                + (f"error: {job.error}\n" if job.error else "")
                for job in self._jobs(session, run)
            ]
            return "".join(parts)

    def _change(self, run_id: int, project: str | None, action: Any) -> dict[str, Any]:
        with self._open(project) as (session, proj):
            run = engine.get_run(session, proj, run_id)
            action(session, run)
            session.commit()
            return run_record(run, self._jobs(session, run))

    def cancel(self, run_id: int, *, project: str | None = None) -> dict[str, Any]:
        now = datetime.now(UTC)
        return self._change(run_id, project, lambda s, r: engine.cancel(s, r, self._ws.actor, now))

    def retry(self, run_id: int, *, project: str | None = None) -> dict[str, Any]:
        def again(session: Session, run: WorkflowRun) -> None:
            engine.retry(session, run, self._ws.actor, now)
            engine.start_queued(session, now)

        now = datetime.now(UTC)
        return self._change(run_id, project, again)

    def decide(
        self,
        run_id: int,
        approved: bool,
        *,
        project: str | None = None,
        actor: str | None = None,
        role: str = "admin",
        comment: str = "",
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Approve or reject the step the run waits on (the local CLI acts as an admin)."""
        moment = now or datetime.now(UTC)
        who = actor or self._ws.actor

        def act(session: Session, run: WorkflowRun) -> None:
            engine.decide(session, run, who, role, approved, moment, comment)
            engine.start_queued(session, moment)

        return self._change(run_id, project, act)

    # workers ---------------------------------------------------------------------------

    def worker(self, **options: Any) -> Worker:
        return Worker(self._ws, **options)

    def run_until_idle(self, now: datetime | None = None) -> int:
        """Tick the triggers and run every due job in this process; the jobs run."""
        return Worker(self._ws).run_until_idle(now)
