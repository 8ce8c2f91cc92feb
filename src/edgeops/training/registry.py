"""The model registry: model versions with lineage and metrics, and the aliases on them.

A model is referred to as `v3` or `3` (its number in the project), by an alias (`production`,
`staging`, `candidate`), or as `latest`. Moving an alias writes an audit event in the same
transaction."""

import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edgeops.blocks import registry as blocks
from edgeops.blocks.learn.base import Learner
from edgeops.compiler.ir import Graph
from edgeops.compiler.serialize import from_bytes
from edgeops.errors import InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.recipes.spec import Recipe, canonical_data, recipe_hash
from edgeops.store.blobs import BlobStore
from edgeops.store.tables import ModelAlias, ModelVersion, Project, utcnow

ALIASES = ("production", "staging", "candidate")
# Metrics compared by `compare`, as (path in the metrics dict, higher is better).
HEADLINE = (
    ("testing.accuracy", True),
    ("testing.macro.f1", True),
    ("testing.weighted.f1", True),
    ("testing.uncertain_rate", False),
    ("testing.calibration_error", False),
    ("testing.mae", False),
    ("testing.rmse", False),
    ("anomaly.roc_auc", True),
    ("validation.accuracy", True),
)


def next_number(session: Session, project: Project) -> int:
    latest = session.scalar(
        select(func.max(ModelVersion.number)).where(ModelVersion.project_id == project.id)
    )
    return (latest or 0) + 1


def block_versions(recipe: Recipe, learners: bool = True) -> list[list[Any]]:
    """[[name, version], ...] the recipe resolves to: its feature blocks, then its learners."""
    chosen = [[b.name, blocks.get(b.name, b.version).version] for b in recipe.features]
    for spec in (recipe.learner, recipe.anomaly) if learners else ():
        if spec is not None:
            chosen.append([spec.name, blocks.get_learner(spec.name).version])
    return chosen


def add(
    session: Session, project: Project, actor: str, recipe: Recipe, **fields: Any
) -> ModelVersion:
    """Register a trained model (the caller commits). What the recipe determines (name, canonical
    form, hash) and the edgeops version are filled in here; `blocks` defaults to the recipe's."""
    from edgeops import __version__  # the package imports this module while it initialises

    fields.setdefault("blocks", block_versions(recipe))
    model = ModelVersion(
        project_id=project.id,
        number=next_number(session, project),
        name=recipe.name,
        recipe=canonical_data(recipe),
        recipe_hash=recipe_hash(recipe),
        edgeops_version=__version__,
        created_by=actor,
        created_at=utcnow(),
        **fields,
    )
    session.add(model)
    session.flush()
    audit.record(
        session,
        actor,
        "model.create",
        f"model:v{model.number}",
        project.id,
        {"recipe_hash": model.recipe_hash, "dataset": model.dataset_version_id},
    )
    return model


def get(session: Session, project: Project, ref: str) -> ModelVersion:
    text = ref.strip().lower()
    query = select(ModelVersion).where(ModelVersion.project_id == project.id)
    if text == "latest":
        model = session.scalar(query.order_by(ModelVersion.number.desc()).limit(1))
    elif text in ALIASES:
        alias = session.get(ModelAlias, (project.id, text))
        model = session.get(ModelVersion, alias.model_version_id) if alias else None
        if model is None:
            raise NotFound(
                f"no model is {text} in project {project.name!r} yet: "
                f"set it with `edgeops models alias {text} vN`"
            )
    elif text.removeprefix("v").isdigit() and len(text) < 12:
        model = session.scalar(query.where(ModelVersion.number == int(text.removeprefix("v"))))
    else:
        raise InvalidInput(f"{ref!r} is not a model: give vN, N, latest or one of {list(ALIASES)}")
    if model is None:
        raise NotFound(f"project {project.name!r} has no model {ref} (see `edgeops models list`)")
    return model


def list_all(session: Session, project: Project) -> list[ModelVersion]:
    query = select(ModelVersion).where(ModelVersion.project_id == project.id)
    return list(session.scalars(query.order_by(ModelVersion.number)))


def aliases(session: Session, project: Project) -> dict[int, list[str]]:
    """Model id → the aliases on it."""
    result: dict[int, list[str]] = {}
    query = select(ModelAlias).where(ModelAlias.project_id == project.id)
    for alias in session.scalars(query.order_by(ModelAlias.name)):
        result.setdefault(alias.model_version_id, []).append(alias.name)
    return result


def check_alias(name: str) -> None:
    """Refuse an unknown alias name; callers check it before resolving the model so a typo in
    the alias is the error reported, not a missing model."""
    if name not in ALIASES:
        raise InvalidInput(f"alias {name!r} is not one of {', '.join(ALIASES)}")


def set_alias(
    session: Session, project: Project, name: str, model: ModelVersion, actor: str
) -> str | None:
    """Point `name` at `model`; returns the model it pointed at before (`v2`) or None."""
    check_alias(name)
    alias = session.get(ModelAlias, (project.id, name))
    before = None
    if alias is None:
        session.add(
            ModelAlias(
                project_id=project.id,
                name=name,
                model_version_id=model.id,
                updated_at=utcnow(),
                updated_by=actor,
            )
        )
    else:
        previous = session.get(ModelVersion, alias.model_version_id)
        before = f"v{previous.number}" if previous else None
        alias.model_version_id, alias.updated_at, alias.updated_by = model.id, utcnow(), actor
    audit.record(
        session,
        actor,
        "model.alias",
        f"model:v{model.number}",
        project.id,
        {"alias": name, "from": before, "to": f"v{model.number}"},
    )
    return before


def _metric(metrics: dict[str, Any], path: str) -> float | None:
    value: Any = metrics
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return float(value) if isinstance(value, int | float) else None


def summary(model: ModelVersion, model_aliases: list[str] | None = None) -> dict[str, Any]:
    """The stable JSON shape of a model version (CLI `--json`, REST API)."""
    testing = model.metrics.get("testing", {})
    return {
        "model": f"v{model.number}",
        "number": model.number,
        "name": model.name,
        "aliases": model_aliases or [],
        "task": model.task,
        "learner": model.learner,
        "labels": model.labels,
        "recipe_hash": model.recipe_hash,
        "dataset_version": model.dataset_version_id,
        "parent": model.training.get("parent"),
        "blocks": model.blocks,
        "edgeops_version": model.edgeops_version,
        "seed": model.seed,
        "accuracy": testing.get("accuracy"),
        "metrics": model.metrics,
        "training": model.training,
        "artifacts": model.artifacts,
        "created_at": model.created_at.isoformat(),
        "created_by": model.created_by,
    }


def compare(a: ModelVersion, b: ModelVersion) -> dict[str, Any]:
    """Headline metrics side by side (b - a) and what differs in their lineage."""
    rows = []
    for path, higher_better in HEADLINE:
        left, right = _metric(a.metrics, path), _metric(b.metrics, path)
        if left is None and right is None:
            continue
        delta = None if left is None or right is None else round(right - left, 6)
        better = None if delta is None or delta == 0 else (delta > 0) == higher_better
        rows.append({"metric": path, "a": left, "b": right, "delta": delta, "b_better": better})
    lineage = {
        field: {"a": getattr(a, field), "b": getattr(b, field)}
        for field in ("recipe_hash", "dataset_version_id", "learner", "seed", "edgeops_version")
        if getattr(a, field) != getattr(b, field)
    }
    return {"a": f"v{a.number}", "b": f"v{b.number}", "metrics": rows, "lineage_differs": lineage}


def load_learner(blobs: BlobStore, model: ModelVersion, artifact: str = "learner") -> Learner:
    """The fitted learner (or, with artifact="anomaly", the anomaly learner) of a model."""
    spec = model.recipe["learner" if artifact == "learner" else "anomaly"]
    name, version = next((n, v) for n, v in model.blocks if n == spec["name"])
    learner_type = blocks.get_learner(name, version)
    return learner_type.load(spec.get("params", {}), blobs.get(model.artifacts[artifact]))


def load_graph(blobs: BlobStore, model: ModelVersion, artifact: str = "ir") -> Graph:
    return from_bytes(blobs.get(model.artifacts[artifact]))


def feature_states(blobs: BlobStore, model: ModelVersion) -> list[dict[str, Any] | None]:
    states: list[dict[str, Any] | None] = json.loads(blobs.get(model.artifacts["states"]))
    return states
