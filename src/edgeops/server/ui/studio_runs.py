"""Long work started from the studio (training, builds) runs as workflow runs on the server's
durable job queue, like any automation: two small workflows, applied on first use, whose steps
take their parameters from the run's trigger. The run page polls the run's status."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.store.tables import Job, WorkflowRun
from edgeops.workspace import Workspace

TRAIN = "studio-train"
BUILD = "studio-build"
WORKFLOWS: dict[str, dict[str, Any]] = {
    TRAIN: {
        "name": TRAIN,
        "description": "Training started from the studio (recipe, data and seed in the trigger)",
        "triggers": [{"type": "manual"}],
        "steps": [{"id": "train", "type": "train", "with": {
            "recipe": "${trigger.recipe}", "data": "${trigger.data}", "seed": "${trigger.seed}",
        }}],
    },
    BUILD: {
        "name": BUILD,
        "description": "Builds started from the studio (model, target, precision in the trigger)",
        "triggers": [{"type": "manual"}],
        "steps": [{"id": "build", "type": "build", "with": {
            "model": "${trigger.model}", "target": "${trigger.target}",
            "precision": "${trigger.precision}", "verify": "${trigger.verify}",
        }}],
    },
}  # fmt: skip


def start(ws: Workspace, project: str, workflow: str, actor: str, **fields: Any) -> int:
    """Queue a run of a studio workflow with `fields` in its trigger; returns the run id."""
    ws.automation.apply(WORKFLOWS[workflow], project=project)  # a no-op once applied
    run = ws.automation.run(
        workflow, project=project, actor=actor, trigger={"kind": "manual", "by": actor, **fields}
    )
    assert run is not None  # manual runs are never deduplicated
    return int(run["id"])


def recent(session: Session, project_id: int, limit: int = 10) -> list[WorkflowRun]:
    """The newest studio runs of a project."""
    return list(
        session.scalars(
            select(WorkflowRun)
            .where(WorkflowRun.project_id == project_id,
                   WorkflowRun.workflow_name.in_(tuple(WORKFLOWS)))
            .order_by(WorkflowRun.id.desc())
            .limit(limit)
        )
    )  # fmt: skip


def build_outputs(session: Session, project_id: int, model: str) -> dict[tuple[str, str], Any]:
    """(target, precision) → the newest finished build step's output for model `vN`: its
    footprint (flash, RAM) and estimated latency, which the build record alone does not keep."""
    query = (
        select(Job.output)
        .join(WorkflowRun, WorkflowRun.id == Job.run_id)
        .where(WorkflowRun.project_id == project_id, Job.kind == "build", Job.status == "done")
        .order_by(Job.id)
    )
    found: dict[tuple[str, str], Any] = {}
    for output in session.scalars(query):
        if output and output.get("model") == model:
            found[(output["target"], output["precision"])] = output
    return found
