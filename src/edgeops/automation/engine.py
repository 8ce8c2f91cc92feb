"""Runs: create one for a trigger (with its exact input versions), start it within the
workflow's concurrency, turn finished steps into the next ready jobs, finish, cancel, retry,
approve. Every function takes the session and `now`; the caller commits."""

import hashlib
import json
import operator
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from edgeops.automation import queue
from edgeops.automation.catalog import STEP_TYPES
from edgeops.automation.spec import CONDITION, REFERENCE, WorkflowSpec, dependencies, parse
from edgeops.data import versions
from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.recipes.spec import Recipe, recipe_hash, validate
from edgeops.store.tables import Job, Project, Sample, StepOutput, Workflow, WorkflowRun

ACTIVE = ("running", "waiting")
FINISHED = ("succeeded", "failed", "stopped", "cancelled")
_COMPARE = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def spec_of(workflow: Workflow) -> WorkflowSpec:
    return parse(workflow.spec)


def recipe_hashes(spec: WorkflowSpec) -> dict[str, str]:
    """Each step's recipe as the blocks registered now resolve it: a new block version makes a
    new hash even when the workflow itself did not change."""
    return {
        step.id: recipe_hash(validate(Recipe.model_validate(step.params["recipe"])))
        for step in spec.steps
        if isinstance(step.params.get("recipe"), dict)
    }


def input_versions(session: Session, project: Project, workflow: Workflow) -> dict[str, Any]:
    from edgeops import __version__

    head = versions.head(session, project)
    samples = session.scalar(select(func.count()).where(Sample.project_id == project.id))
    return {
        "workflow_version": workflow.version,
        "dataset_version": head.id if head else None,
        "samples": samples or 0,
        "recipes": recipe_hashes(spec_of(workflow)),
        "edgeops": __version__,
    }


def create_run(
    session: Session,
    project: Project,
    workflow: Workflow,
    trigger: dict[str, Any],
    actor: str,
    now: datetime,
    dedupe_key: str | None = None,
) -> WorkflowRun | None:
    """A queued run of `workflow`; None when a run with `dedupe_key` exists (already fired)."""
    if not workflow.enabled:
        raise Conflict(f"workflow {workflow.name!r} is disabled: enable it to run it")
    taken = select(WorkflowRun.id).where(WorkflowRun.dedupe_key == dedupe_key)
    if dedupe_key is not None and session.scalar(taken):
        return None
    run = WorkflowRun(
        project_id=project.id,
        workflow_id=workflow.id,
        workflow_name=workflow.name,
        trigger=trigger,
        inputs=input_versions(session, project, workflow),
        status="queued",
        reason="",
        outputs={},
        dedupe_key=dedupe_key,
        created_at=now,
        created_by=actor,
    )
    session.add(run)
    session.flush()
    audit.record(
        session,
        actor,
        "workflow.run",
        f"run:{run.id}",
        project.id,
        {
            "workflow": workflow.name,
            "version": workflow.version[:12],
            "trigger": trigger.get("kind"),
        },
    )
    return run


def start_queued(session: Session, now: datetime) -> list[WorkflowRun]:
    """Start queued runs, oldest first, while their workflow has fewer active runs than its
    `concurrency`."""
    started = []
    queued = session.scalars(
        select(WorkflowRun).where(WorkflowRun.status == "queued").order_by(WorkflowRun.id)
    ).all()
    for run in queued:
        workflow = session.get(Workflow, run.workflow_id, with_for_update=True)
        assert workflow is not None
        active = session.scalar(
            select(func.count()).where(
                WorkflowRun.project_id == run.project_id,
                WorkflowRun.workflow_name == run.workflow_name,
                WorkflowRun.status.in_(ACTIVE),
            )
        )
        if (active or 0) >= spec_of(workflow).concurrency:
            continue
        run.status, run.started_at = "running", run.started_at or now
        advance(session, run, now)
        started.append(run)
    return started


def _resolve(value: Any, outputs: dict[str, dict[str, Any]], trigger: dict[str, Any]) -> Any:
    def lookup(source: str, name: str) -> Any:
        found = trigger if source == "trigger" else outputs.get(source, {})
        return found.get(name)

    if isinstance(value, str):
        whole = REFERENCE.fullmatch(value.strip())
        if whole:
            return lookup(*whole.groups())
        return REFERENCE.sub(lambda m: str(lookup(m.group(1), m.group(2))), value)
    if isinstance(value, list):
        return [_resolve(item, outputs, trigger) for item in value]
    if isinstance(value, dict):
        return {key: _resolve(item, outputs, trigger) for key, item in value.items()}
    return value


def condition_holds(text: str, outputs: dict[str, dict[str, Any]], trigger: dict[str, Any]) -> bool:
    match = CONDITION.match(text)
    if match is None:
        raise InvalidInput(f"when: cannot read {text!r}")
    negate, reference, op, literal = match.groups()
    value = _resolve(reference, outputs, trigger)
    if op is None:
        result = bool(value)
    else:
        try:
            result = bool(_COMPARE[op](value, yaml.safe_load(literal)))
        except TypeError:
            raise InvalidInput(f"when: {text!r} compares {value!r} with {literal}") from None
    return not result if negate else result


def input_key(kind: str, project_id: int, params: dict[str, Any]) -> str:
    """The content address of a step's inputs: its type, project and resolved params."""
    text = json.dumps(
        {"type": kind, "project": project_id, "params": params},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def advance(session: Session, run: WorkflowRun, now: datetime) -> None:
    """Queue every step whose dependencies are done; skip steps whose condition is false or
    whose dependency was skipped; reuse recorded outputs of cacheable steps; finish the run
    when every step is done or skipped."""
    workflow = session.get(Workflow, run.workflow_id)
    assert workflow is not None
    spec = spec_of(workflow)
    jobs = {job.step: job for job in session.scalars(select(Job).where(Job.run_id == run.id))}
    outputs = {step: job.output for step, job in jobs.items() if job.status == "done"}
    for index, step in enumerate(spec.steps):
        if step.id in jobs:
            continue
        previous = spec.steps[index - 1].id if index else None
        needed = [jobs.get(name) for name in dependencies(step, previous)]
        if any(job is None or job.status not in ("done", "skipped") for job in needed):
            continue
        kind = STEP_TYPES[step.type]
        job = Job(
            run_id=run.id,
            step=step.id,
            kind=step.type,
            status="queued",
            attempts=0,
            max_attempts=step.retries + 1,
            available_at=now,
            params={},
            output={},
            cached=False,
            error="",
            log="",
        )
        jobs[step.id] = job
        session.add(job)
        if any(j is not None and j.status == "skipped" for j in needed):
            job.status, job.finished_at, job.log = "skipped", now, "a step it needs was skipped\n"
            continue
        if step.when and not condition_holds(step.when, outputs, run.trigger):
            job.status, job.finished_at, job.log = "skipped", now, f"when {step.when}: false\n"
            continue
        job.params = _resolve(step.params, outputs, run.trigger)
        if kind.cacheable:
            job.input_key = input_key(step.type, run.project_id, job.params)
            cached = session.get(StepOutput, job.input_key)
            if cached is not None:
                job.status, job.cached, job.output = "done", True, cached.output
                job.finished_at, job.log = now, "same inputs as an earlier run: output reused\n"
                outputs[step.id] = cached.output
    session.flush()
    if all(
        jobs.get(step.id) is not None and jobs[step.id].status in ("done", "skipped")
        for step in spec.steps
    ):
        run.status, run.finished_at = "succeeded", now
        run.outputs = {name: job.output for name, job in jobs.items() if job.status == "done"}


def finish_job(
    session: Session,
    job_id: int,
    worker: str,
    outcome: str,
    value: Any,
    lines: list[str],
    now: datetime,
) -> bool:
    """Record what a worker's step did: `done` (value: outputs), `waiting` (value: (deadline,
    role)), `stopped` (value: the reason), `error` (value: the message; retried with backoff
    while attempts remain). False when the worker had lost the job meanwhile: nothing changes."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status != "running" or job.lease_owner != worker:
        return False
    run = session.get(WorkflowRun, job.run_id, with_for_update=True)
    assert run is not None
    job.log += "".join(f"{line}\n" for line in lines)
    job.lease_owner = None
    if outcome == "done":
        job.status, job.output, job.finished_at, job.error = "done", value, now, ""
        if job.input_key and session.get(StepOutput, job.input_key) is None:
            session.add(
                StepOutput(
                    key=job.input_key, kind=job.kind, output=value, run_id=run.id, created_at=now
                )
            )
        if run.status == "running":
            advance(session, run, now)
    elif outcome == "waiting":
        deadline, role = value
        job.status, job.available_at = "waiting", deadline
        job.output = {"role": role, "deadline": deadline.isoformat()}
        run.status = "waiting" if run.status == "running" else run.status
    elif outcome == "stopped":
        job.status, job.error, job.finished_at = "failed", str(value), now
        end_run(session, run, "stopped", str(value), now)
    elif job.attempts < job.max_attempts:
        job.status, job.error = "queued", str(value)
        job.available_at = now + queue.backoff(job.attempts)
        job.log += f"attempt {job.attempts} failed: {value}; retry at {job.available_at}\n"
    else:
        job.status, job.error, job.finished_at = "failed", str(value), now
        end_run(
            session,
            run,
            "failed",
            f"step {job.step} failed after {job.attempts} attempts: {value}",
            now,
        )
    return True


def end_run(session: Session, run: WorkflowRun, status: str, reason: str, now: datetime) -> None:
    if run.status in FINISHED:
        return
    run.status, run.reason, run.finished_at = status, reason, now
    for job in session.scalars(
        select(Job).where(Job.run_id == run.id, Job.status.in_(("queued", "waiting", "running")))
    ):
        job.status, job.lease_owner, job.finished_at = "cancelled", None, now


def get_run(session: Session, project: Project, run_id: int) -> WorkflowRun:
    run = session.get(WorkflowRun, run_id)
    if run is None or run.project_id != project.id:
        raise NotFound(f"project {project.name!r} has no run {run_id} (see `edgeops runs list`)")
    return run


def cancel(session: Session, run: WorkflowRun, actor: str, now: datetime) -> None:
    if run.status in FINISHED:
        raise Conflict(f"run {run.id} already {run.status}")
    end_run(session, run, "cancelled", f"cancelled by {actor}", now)
    audit.record(session, actor, "workflow.cancel", f"run:{run.id}", run.project_id, {})


def retry(session: Session, run: WorkflowRun, actor: str, now: datetime) -> None:
    """Resume a failed, stopped or cancelled run: its failed steps run again; steps that were
    done stay done."""
    if run.status not in ("failed", "stopped", "cancelled"):
        raise Conflict(
            f"run {run.id} is {run.status}: only a failed, stopped or cancelled run can be retried"
        )
    session.execute(
        delete(Job).where(Job.run_id == run.id, Job.status.in_(("failed", "cancelled")))
    )
    run.status, run.reason, run.finished_at = "queued", "", None
    audit.record(session, actor, "workflow.retry", f"run:{run.id}", run.project_id, {})


def decide(
    session: Session,
    run: WorkflowRun,
    actor: str,
    role: str,
    approved: bool,
    now: datetime,
    comment: str = "",
) -> Job:
    """Approve or reject the step `run` waits on. A step that asks for a role takes that role
    (or admin)."""
    job = session.scalar(select(Job).where(Job.run_id == run.id, Job.status == "waiting"))
    if job is None or run.status != "waiting":
        raise Conflict(f"run {run.id} is {run.status} and waits for no approval")
    wanted = job.output.get("role")
    if wanted and role not in (wanted, "admin"):
        raise Conflict(f"step {job.step} needs a {wanted} (or admin) to decide; you are {role}")
    verdict = "approved" if approved else "rejected"
    audit.record(
        session,
        actor,
        f"workflow.{verdict}",
        f"run:{run.id}",
        run.project_id,
        {"step": job.step, "comment": comment},
    )
    job.log += f"{verdict} by {actor}{': ' + comment if comment else ''}\n"
    if approved:
        job.status, job.finished_at = "done", now
        job.output = {"approved_by": actor, "approved_at": now.isoformat()}
        run.status = "running"
        advance(session, run, now)
    else:
        job.status, job.finished_at, job.error = "failed", now, f"rejected by {actor}"
        end_run(
            session,
            run,
            "stopped",
            f"{job.step}: rejected by {actor}{': ' + comment if comment else ''}",
            now,
        )
    return job


def expire_approvals(session: Session, now: datetime) -> int:
    """Stop runs whose approval waited past its timeout."""
    expired = session.scalars(
        select(Job).where(Job.status == "waiting", Job.available_at <= now)
    ).all()
    for job in expired:
        run = session.get(WorkflowRun, job.run_id)
        assert run is not None
        job.status, job.finished_at, job.error = "failed", now, "approval timed out"
        end_run(session, run, "stopped", f"{job.step}: no approval before the timeout", now)
    return len(expired)
