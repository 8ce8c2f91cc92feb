"""The built-in step types: what each takes (`with:`), what it outputs, and how it runs.

A step's run gets a `StepContext` and its validated params and returns its outputs (plain JSON).
`cacheable` steps are content-addressed: the engine skips one whose type and resolved params
were already run to completion and reuses that output. Steps that change the world in ways
that are not a pure function of their params (commit, promote, notify) are not cacheable but
are idempotent on their own (commit finds the existing version, train the existing model)."""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from edgeops.data import projects
from edgeops.errors import Conflict, InvalidInput
from edgeops.recipes.executor import Executor, executor_for
from edgeops.recipes.spec import Recipe
from edgeops.store.tables import ModelVersion

if TYPE_CHECKING:
    from edgeops.workspace import Workspace


class StepStopped(Exception):
    """The step decided the run must stop (a gate failed, an approval was refused): no retry."""


class WaitForApproval(Exception):
    """The step waits for a person until `deadline`."""

    def __init__(self, deadline: datetime, role: str | None) -> None:
        super().__init__(f"waiting for approval until {deadline.isoformat()}")
        self.deadline, self.role = deadline, role


@dataclass
class StepContext:
    ws: "Workspace"
    project: str
    run_id: int
    step: str
    workflow: str
    inputs: dict[str, Any]  # the run's input versions (dataset version at trigger time, ...)
    now: datetime
    actor: str
    executor: Executor | None = None
    lines: list[str] = field(default_factory=list)
    published: int = 0  # lines the heartbeat already wrote to the job's log

    def log(self, line: str) -> None:
        self.lines.append(line)


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _recipe(data: dict[str, Any]) -> Recipe:
    return Recipe.model_validate(data)


def _dataset(ctx: StepContext, data: str | None) -> str:
    """A dataset version reference: given, else the one the run started with, else the head."""
    ref = data or ctx.inputs.get("dataset_version")
    if ref is None:
        raise InvalidInput("no dataset version: commit data first (a commit-data step)")
    return ctx.ws.data.version(ref, project=ctx.project).id


# -- data ---------------------------------------------------------------------------------


class ImportParams(_Params):
    path: str
    label: str | None = None
    label_from: Literal["name", "folder", "none"] = "name"
    category: Literal["training", "testing", "split"] | None = None


def run_import(ctx: StepContext, params: ImportParams) -> dict[str, Any]:
    report = ctx.ws.data.import_files(
        [params.path],
        project=ctx.project,
        label=params.label,
        label_from=params.label_from,
        category=params.category,
    )
    ctx.log(
        f"imported {len(report.imported)}, {len(report.duplicates)} duplicates, "
        f"{len(report.failures)} failed"
    )
    return {"imported": len(report.imported), "failed": len(report.failures)}


class ValidateDataParams(_Params):
    min_samples: int = Field(1, ge=0)
    min_per_label: int = Field(0, ge=0)
    labels: list[str] | None = None
    require_testing: bool = True


def run_validate_data(ctx: StepContext, params: ValidateDataParams) -> dict[str, Any]:
    samples = ctx.ws.data.samples(project=ctx.project)
    per_label: dict[str, int] = {}
    for sample in samples:
        per_label[sample.label or "(none)"] = per_label.get(sample.label or "(none)", 0) + 1
    problems = []
    if len(samples) < params.min_samples:
        problems.append(f"{len(samples)} samples, fewer than {params.min_samples}")
    for label in params.labels or []:
        if label not in per_label:
            problems.append(f"label {label!r} has no samples")
    problems += [
        f"label {label!r} has {count} samples, fewer than {params.min_per_label}"
        for label, count in sorted(per_label.items())
        if count < params.min_per_label
    ]
    if params.require_testing and not any(s.category == "testing" for s in samples):
        problems.append("no testing samples (move some with `edgeops data move`)")
    if problems:
        raise StepStopped("data is not ready: " + "; ".join(problems))
    ctx.log(f"{len(samples)} samples: {per_label}")
    return {"samples": len(samples), "labels": per_label}


class CommitParams(_Params):
    message: str = Field("committed by workflow", min_length=1, max_length=500)


def run_commit(ctx: StepContext, params: CommitParams) -> dict[str, Any]:
    message = f"{params.message} ({ctx.workflow} run #{ctx.run_id})"
    try:
        version = ctx.ws.data.commit(message, project=ctx.project, author=ctx.actor)
        created = True
    except Conflict:  # nothing changed since the newest version: that one is the data
        versions = ctx.ws.data.versions(project=ctx.project)
        if not versions:
            raise
        version, created = versions[0], False
    ctx.log(f"dataset version {version.id[:12]} ({'new' if created else 'unchanged'})")
    return {"version": version.id, "created": created, "samples": version.sample_count}


# -- features, training, testing ------------------------------------------------------------


class FeaturesParams(_Params):
    recipe: dict[str, Any]
    data: str | None = None
    workers: int | None = Field(None, ge=1, le=256)


def run_features(ctx: StepContext, params: FeaturesParams) -> dict[str, Any]:
    from edgeops.recipes.extract import extract

    version = _dataset(ctx, params.data)
    executor = ctx.executor or executor_for(params.workers, 1_000_000)
    try:
        found = extract(
            ctx.ws,
            _recipe(params.recipe),
            version,
            project=ctx.project,
            workers=params.workers or 1,
            executor=executor,
        )
    finally:
        close = getattr(executor, "close", None)
        if ctx.executor is None and close is not None:  # ours: a Dask client to let go
            close()
    digest = hashlib.sha256(found.X.tobytes()).hexdigest()
    ctx.log(f"{found.summary()} with {type(executor).__name__}")
    return {
        "windows": int(found.X.shape[0]),
        "features": int(found.X.shape[1]),
        "features_hash": digest,
        "cache_hits": found.hits,
        "data": version,
    }


class TrainParams(_Params):
    recipe: dict[str, Any]
    data: str | None = None
    seed: int = 0
    parent: str | None = None


def _model_ref(model: ModelVersion) -> dict[str, Any]:
    testing = model.metrics.get("testing", {})
    return {
        "model": f"v{model.number}",
        "accuracy": testing.get("accuracy"),
        "recipe_hash": model.recipe_hash,
        "data": model.dataset_version_id,
    }


def run_train(ctx: StepContext, params: TrainParams) -> dict[str, Any]:
    from edgeops.recipes.spec import recipe_hash, validate
    from edgeops.training.train import train

    recipe = validate(_recipe(params.recipe))
    version = _dataset(ctx, params.data)
    with ctx.ws.session() as session:
        project = projects.get(session, ctx.project)
        # The same recipe on the same data with the same seed is the same model: a retry after
        # a crash between registering the model and recording the step finds it here.
        existing = session.scalar(
            select(ModelVersion)
            .where(
                ModelVersion.project_id == project.id,
                ModelVersion.recipe_hash == recipe_hash(recipe),
                ModelVersion.dataset_version_id == version,
                ModelVersion.seed == params.seed,
            )
            .order_by(ModelVersion.number)
        )
    if existing is not None:
        ctx.log(f"v{existing.number} already holds this recipe, data and seed: reused")
        return _model_ref(existing)
    ctx.log(f"training {recipe.name} ({recipe_hash(recipe)[:12]}) on {version[:12]}")
    model = train(
        ctx.ws, recipe, version, project=ctx.project, seed=params.seed, parent=params.parent
    )
    ctx.log(f"trained v{model.number}: {model.metrics.get('testing', {}).get('accuracy')}")
    return _model_ref(model)


class EvaluateParams(_Params):
    model: str
    data: str | None = None


def _evaluate(ctx: StepContext, ref: str, data: str | None) -> dict[str, Any]:
    from edgeops.training.train import evaluate_model

    with ctx.ws.session() as session:
        from edgeops.training import registry

        model = registry.get(session, projects.get(session, ctx.project), ref)
    return evaluate_model(ctx.ws, model, data, project=ctx.project)


def run_evaluate(ctx: StepContext, params: EvaluateParams) -> dict[str, Any]:
    result = _evaluate(ctx, params.model, params.data)
    testing = result["metrics"].get("testing", {})
    ctx.log(f"{result['model']} on {result['dataset_version'][:12]}: {testing.get('accuracy')}")
    return {
        "model": result["model"],
        "accuracy": testing.get("accuracy"),
        "metrics": result["metrics"],
        "data": result["dataset_version"],
    }


class TuneParams(_Params):
    recipe: dict[str, Any]
    data: str | None = None
    trials: int = Field(8, ge=1, le=32)
    seed: int = 0
    max_ram_bytes: int | None = Field(None, ge=1)
    max_flash_bytes: int | None = Field(None, ge=1)
    max_latency_ms: float | None = Field(None, gt=0)
    profile: str = "cortex-m4f"
    workers: int | None = Field(None, ge=1, le=256)


def run_tune(ctx: StepContext, params: TuneParams) -> dict[str, Any]:
    """The tuner's choice as a recipe (wire it into a train step: `recipe: ${tune.recipe}`)."""
    from edgeops.automation.tuning import Budget, tune

    budget = Budget(params.max_ram_bytes, params.max_flash_bytes, params.max_latency_ms,
                    params.profile)  # fmt: skip
    executor = ctx.executor or executor_for(params.workers, params.trials)
    try:
        result = tune(ctx.ws, _recipe(params.recipe), _dataset(ctx, params.data),
                      project=ctx.project, budget=budget, trials=params.trials,
                      seed=params.seed, executor=executor)  # fmt: skip
    finally:
        close = getattr(executor, "close", None)
        if ctx.executor is None and close is not None:
            close()
    for index, trial in enumerate(result.trials):
        mark = "*" if index == result.chosen else ("front" if index in result.front else "")
        ctx.log(f"trial {index} {mark}: accuracy {trial['accuracy']}, flash "
                f"{trial['flash_bytes']} B, RAM {trial['ram_bytes']} B, {trial['latency_ms']} ms "
                f"{trial['changes'] or '(as given)'} {'; '.join(trial['misses'])}")  # fmt: skip
    if result.chosen is None:
        smallest = min(result.trials, key=lambda t: t["flash_bytes"])
        raise StepStopped(
            f"tune: none of {len(result.trials)} trials fits the budget (the smallest: "
            f"{'; '.join(smallest['misses'])}): raise the budget or start from a smaller recipe"
        )
    chosen = result.trials[result.chosen]
    return {
        "recipe": chosen["recipe"],
        "recipe_hash": chosen["recipe_hash"],
        "accuracy": chosen["accuracy"],
        "flash_bytes": chosen["flash_bytes"],
        "ram_bytes": chosen["ram_bytes"],
        "latency_ms": chosen["latency_ms"],
        "changes": chosen["changes"],
        "front": [result.trials[i]["recipe_hash"] for i in result.front],
        "trials": len(result.trials),
    }
