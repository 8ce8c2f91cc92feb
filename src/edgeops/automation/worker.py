"""Workers: claim a job, run its step while a heartbeat renews the lease, record the outcome;
and the scheduler tick (triggers, approvals that timed out, queued runs to start).

`edgeops serve` runs a few workers as threads beside the API; `edgeops worker` runs them on
other hosts. Any number may run against one database: claims never hand one job to two."""

import logging
import os
import socket
import threading
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from edgeops.automation import engine, queue, triggers
from edgeops.automation.catalog import STEP_TYPES
from edgeops.automation.steps import StepContext, StepStopped, WaitForApproval
from edgeops.recipes.executor import Executor
from edgeops.store.tables import Job, Project, WorkflowRun

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


class Worker:
    """One worker identity. `now` arguments let tests drive time; without them the clock is
    real and a heartbeat thread renews the lease of the running step."""

    def __init__(
        self,
        ws: "Workspace",
        name: str | None = None,
        lease_s: float = queue.LEASE_S,
        executor: Executor | None = None,
    ) -> None:
        self.ws = ws
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_s = lease_s
        self.executor = executor

    def tick(self, now: datetime | None = None) -> list[int]:
        """Fire due triggers, stop runs whose approval timed out, start queued runs."""
        moment = now or _now()
        with self.ws.session() as session:
            workflows = triggers.current_workflows(session)
        # Parse outside the transaction first: the first parse imports the recipes' blocks,
        # which must not happen while holding SQLite's write lock.
        for workflow in workflows:
            engine.recipe_hashes(engine.spec_of(workflow))
        with self.ws.session() as session:
            fired = [run.id for run in triggers.tick(session, moment)]
            engine.expire_approvals(session, moment)
            engine.start_queued(session, moment)
            session.commit()
        return fired

    def work_one(self, now: datetime | None = None) -> bool:
        """Claim and run one job; False when none is due."""
        moment = now or _now()
        with self.ws.session() as session:
            job = queue.claim(session, self.name, moment, self.lease_s)
            if job is None:
                return False
            if job.status == "failed":  # its workers kept dying: give up on the run
                run = session.get(WorkflowRun, job.run_id)
                assert run is not None
                engine.end_run(session, run, "failed", f"step {job.step}: {job.error}", moment)
                session.commit()
                return True
            run = session.get(WorkflowRun, job.run_id)
            assert run is not None
            project = session.get(Project, run.project_id)
            assert project is not None
            ctx = StepContext(
                ws=self.ws,
                project=project.name,
                run_id=run.id,
                step=job.step,
                workflow=run.workflow_name,
                inputs=dict(run.inputs),
                now=moment,
                actor=f"workflow:{run.workflow_name}#{run.id}",
                executor=self.executor,
            )
            job_id, kind, params = job.id, job.kind, dict(job.params)
            session.commit()
        outcome, value = self._execute(ctx, job_id, kind, params, live=now is None)
        moment = now or _now()
        with self.ws.session() as session:
            kept = engine.finish_job(
                session,
                job_id,
                self.name,
                outcome,
                value,
                ctx.lines[ctx.published :],
                now or _now(),
            )
            if kept:
                engine.start_queued(session, moment)
            session.commit()
        if not kept:
            log.warning("job %s: lease lost while running, its outcome was dropped", job_id)
        return True

    def _execute(
        self, ctx: StepContext, job_id: int, kind: str, params: dict[str, Any], live: bool
    ) -> tuple[str, Any]:
        step_type = STEP_TYPES[kind]
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job_id, ctx, stop), daemon=True)
        if live:
            beat.start()
        try:
            output = step_type.run(ctx, step_type.params.model_validate(params))
            return "done", output
        except WaitForApproval as wait:
            return "waiting", (wait.deadline, wait.role)
        except StepStopped as stopped:
            return "stopped", str(stopped)
        except Exception as exc:  # a step's failure is the run's business, not the worker's
            log.info("job %s failed: %s", job_id, exc, exc_info=True)
            return "error", f"{type(exc).__name__}: {exc}"
        finally:
            stop.set()
            if live:
                beat.join()

    def _heartbeat(self, job_id: int, ctx: StepContext, stop: threading.Event) -> None:
        """Renew the lease every third of it and publish the step's new log lines."""
        while not stop.wait(self.lease_s / 3):
            try:
                with self.ws.session() as session:
                    if not queue.renew(session, job_id, self.name, _now(), self.lease_s):
                        return
                    fresh = ctx.lines[ctx.published :]
                    if fresh:
                        session.execute(
                            update(Job)
                            .where(Job.id == job_id)
                            .values(log=Job.log + "".join(f"{line}\n" for line in fresh))
                        )
                        session.commit()
                        ctx.published += len(fresh)
            except Exception:  # the database blinked: try again next beat
                log.warning("job %s: heartbeat failed", job_id, exc_info=True)

    def run_until_idle(self, now: datetime | None = None, limit: int = 10_000) -> int:
        """Tick, then run jobs until none is due (tests and `workflow run --wait`)."""
        done = 0
        self.tick(now)
        while done < limit and self.work_one(now):
            done += 1
        return done

    def serve(self, stop: threading.Event, poll_s: float = 1.0, tick: bool = True) -> None:
        """Work until `stop` is set; tick the triggers every `poll_s` when idle."""
        while not stop.is_set():
            try:
                if tick:
                    self.tick()
                while not stop.is_set() and self.work_one():
                    pass
            except Exception:
                log.exception("worker %s: unexpected error, going on", self.name)
            stop.wait(poll_s)


def start_threads(
    ws: "Workspace", count: int, poll_s: float = 1.0
) -> tuple[threading.Event, list[threading.Thread]]:
    """`count` worker threads (the first also ticks the triggers); set the event to stop."""
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=Worker(ws).serve,
            args=(stop, poll_s, index == 0),
            name=f"edgeops-worker-{index}",
            daemon=True,
        )
        for index in range(count)
    ]
    for thread in threads:
        thread.start()
    return stop, threads
