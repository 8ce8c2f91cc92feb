"""Training: a recipe on a dataset version → a registered model version.

Features come from the cached extraction; the learner fits on the training split (for neural
networks 20% of the training *samples* are held out for validation and early stopping — whole
samples, so overlapping windows of one recording never sit on both sides); the model is then
tested on the testing split. Everything the result depends on is recorded as lineage, and the
same inputs with the same seed give the same metrics."""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeops.blocks import registry as blocks
from edgeops.blocks.learn.base import EpochCallback, FitContext, Learner
from edgeops.compiler.serialize import to_bytes
from edgeops.data import projects
from edgeops.errors import InvalidInput
from edgeops.monitoring import reference
from edgeops.recipes.executor import Executor, InlineExecutor
from edgeops.recipes.extract import FeatureSet, extract
from edgeops.recipes.spec import Recipe, validate
from edgeops.store import db
from edgeops.store.tables import ModelVersion
from edgeops.training import evaluate, registry

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

VALIDATION_SHARE = 0.2
MIN_SAMPLES_FOR_VALIDATION = 5
MAX_GROUP_KEYS = 8  # metadata keys broken down in the metrics (the most common ones)
SHAPED_BLOCKS = {"mfcc": "num_cepstral", "mfe": "num_filters"}


@dataclass(frozen=True)
class FitJob:
    """One learner fit, as plain data (so an executor may run it in another process; the epoch
    callback only works inline)."""

    name: str
    version: int
    params: dict[str, Any]
    X: np.ndarray
    y: np.ndarray
    context: FitContext


def fit(job: FitJob) -> Learner:
    learner = blocks.get_learner(job.name, job.version)(job.params)
    learner.fit(job.X, job.y, job.context)
    return learner


def input_shape(recipe: Recipe, features: int) -> tuple[int, ...] | None:
    """How a window's feature vector is laid out, for convolutions: (frames, coefficients) for a
    lone MFCC/MFE block, (height, width, channels) for a lone image block, (steps, axes) for a
    lone raw block; None (flat) otherwise or when the learner's `input_shape` says."""
    if len(recipe.features) != 1:
        return None
    block = recipe.features[0]
    if block.name == "image" and recipe.input.width and recipe.input.height:
        pixels = recipe.input.width * recipe.input.height
        return (recipe.input.height, recipe.input.width, features // pixels)
    if block.name in SHAPED_BLOCKS:
        width = blocks.get(block.name, block.version)(block.params).params.model_dump()
        per_frame = int(width[SHAPED_BLOCKS[block.name]])
        return (features // per_frame, per_frame)
    if block.name == "raw":
        axes = len(recipe.input.axes)
        return (features // axes, axes)
    return None


def _validation_split(sample_ids: np.ndarray, seed: int) -> np.ndarray:
    """A boolean mask over training windows: the windows of ~20% of the samples."""
    samples = np.unique(sample_ids)
    if len(samples) < MIN_SAMPLES_FOR_VALIDATION:
        return np.zeros(len(sample_ids), dtype=bool)
    chosen = np.random.default_rng(seed).permutation(samples)
    held = chosen[: max(1, math.floor(len(samples) * VALIDATION_SHARE))]
    return np.isin(sample_ids, held)


def _targets(values: list[str | None], task: str, labels: list[str]) -> np.ndarray:
    """Per window: the class index (-1: unlabelled or a label unknown to training), the numeric
    target (NaN: unlabelled) for regression, zeros for anomaly learners."""
    if task == "anomaly":
        return np.zeros(len(values))
    if task == "regression":
        bad = next((v for v in values if v is not None and not _numeric(v)), None)
        if bad is not None:
            raise InvalidInput(f"nn-regressor needs numeric labels (e.g. 21.5); found {bad!r}")
        return np.array([np.nan if v is None else float(v) for v in values])
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index.get(v, -1) if v is not None else -1 for v in values], dtype=np.int64)


def _labelled(y: np.ndarray, task: str) -> np.ndarray:
    if task == "classification":
        return np.asarray(y >= 0)
    if task == "regression":
        return np.asarray(~np.isnan(y))
    return np.ones(len(y), dtype=bool)


def _numeric(value: str | None) -> bool:
    try:
        float(value or "")
    except ValueError:
        return False
    return True


def _groups(entries: list[dict[str, Any]], sample_ids: np.ndarray) -> dict[str, list[str | None]]:
    """Per testing window, the value of each common metadata key of its sample (and device)."""
    by_id = {e["id"]: e for e in entries}
    keys: dict[str, int] = {}
    for entry in entries:
        for key in [*(entry.get("metadata") or {}), "device_id"]:
            keys[key] = keys.get(key, 0) + 1
    chosen = [k for k, _ in sorted(keys.items(), key=lambda kv: -kv[1])[:MAX_GROUP_KEYS]]

    def value(entry: dict[str, Any], key: str) -> str | None:
        raw = entry.get(key) if key == "device_id" else (entry.get("metadata") or {}).get(key)
        return None if raw is None else str(raw)

    groups = {key: [value(by_id[int(i)], key) for i in sample_ids] for key in chosen}
    return {key: values for key, values in groups.items() if any(v is not None for v in values)}


def train(
    ws: "Workspace",
    recipe: Recipe,
    data: str | None = None,
    *,
    project: str | None = None,
    seed: int = 0,
    parent: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_epoch: EpochCallback | None = None,
    executor: Executor | None = None,
) -> ModelVersion:
    """Train `recipe` on dataset version `data` (default: the newest), test it, register it."""
    recipe = validate(recipe)
    with ws.session() as session:
        proj = projects.get(session, project or ws.settings.project)
        parent_model = registry.get(session, proj, parent) if parent else None
    if data is None:
        versions = ws.data.versions(project=proj.name)
        if not versions:
            raise InvalidInput(
                f"project {proj.name!r} has no dataset version: run `edgeops data commit` first"
            )
        data = versions[0].id
    version = ws.data.version(data, project=proj.name)
    entries = ws.data.read_version(version.id, project=proj.name)
    features = extract(
        ws, recipe, version.id, project=proj.name, workers=workers, progress=progress
    )
    learner_type = blocks.get_learner(recipe.learner.name)
    training = np.array([c == "training" for c in features.categories])
    labels = sorted({y for y, t in zip(features.y, training, strict=True) if t and y is not None})
    if learner_type.task == "classification" and len(labels) < 2:
        raise InvalidInput(
            f"a classifier needs at least 2 labels in the training split; "
            f"version {version.id[:12]} has {labels or 'none'}"
        )
    y_all = _targets(features.y, learner_type.task, labels)
    learner, history, validation_metrics = _fit_learner(
        recipe, features, training, y_all, labels, seed, on_epoch, executor or InlineExecutor()
    )
    anomaly_learner = (
        _fit_anomaly(recipe, features, training, seed, executor or InlineExecutor())
        if learner.task != "anomaly"
        else None
    )
    metrics = measure(learner, anomaly_learner, features, y_all, labels, entries)
    if validation_metrics:
        metrics["validation"] = validation_metrics
    artifacts = _store_artifacts(ws, learner, anomaly_learner, features)
    profile = reference.from_training(learner, anomaly_learner, features, y_all, labels, seed)
    artifacts["reference"] = ws.blobs.put(profile.to_bytes())
    with ws.session() as session:
        proj = projects.get(session, proj.name)
        model = registry.add(
            session,
            proj,
            ws.actor,
            recipe,
            dataset_version_id=version.id,
            parent_id=parent_model.id if parent_model else None,
            learner=recipe.learner.name,
            task=learner_type.task,
            labels=labels if learner_type.task == "classification" else [],
            seed=seed,
            metrics=metrics,
            training={
                "history": history,
                "windows": int(training.sum()),
                "features": int(features.X.shape[1]),
                "feature_names": features.feature_names,
                "parent": f"v{parent_model.number}" if parent_model else None,
                "seconds": round(features.seconds, 3),
            },
            artifacts=artifacts,
        )
        db.commit(session, ws.blobs)
        return model


def _fit_learner(
    recipe: Recipe,
    features: FeatureSet,
    training: np.ndarray,
    y: np.ndarray,
    labels: list[str],
    seed: int,
    on_epoch: EpochCallback | None,
    executor: Executor,
) -> tuple[Learner, list[dict[str, float]], dict[str, Any]]:
    learner_type = blocks.get_learner(recipe.learner.name)
    usable = training & _labelled(y, learner_type.task)
    if not usable.any():
        raise InvalidInput("no labelled training windows: label the training samples first")
    held = np.zeros(len(training), dtype=bool)
    if learner_type.name.startswith("nn-"):
        held[usable] = _validation_split(features.sample_ids[usable], seed)
    fit_rows = usable & ~held
    history: list[dict[str, float]] = []

    def record(epoch: int, total: int, metrics: dict[str, float]) -> None:
        history.append({"epoch": epoch, **{k: round(v, 6) for k, v in metrics.items()}})
        if on_epoch is not None:
            on_epoch(epoch, total, metrics)

    context = FitContext(
        labels=tuple(labels),
        input_shape=input_shape(recipe, features.X.shape[1]),
        seed=seed,
        on_epoch=record if isinstance(executor, InlineExecutor) else None,
        validation=(features.X[held], y[held]) if held.any() else None,
    )
    job = FitJob(
        learner_type.name,
        learner_type.version,
        recipe.learner.params,
        features.X[fit_rows],
        y[fit_rows],
        context,
    )
    (learner,) = list(executor.map(fit, [job]))
    validation: dict[str, Any] = {}
    if held.any() and learner.task == "classification":
        predicted = learner.predict(features.X[held]).argmax(axis=1)
        validation = {
            "windows": int(held.sum()),
            "accuracy": round(float((predicted == y[held]).mean()), 6),
        }
    return learner, history, validation


def _fit_anomaly(
    recipe: Recipe, features: FeatureSet, training: np.ndarray, seed: int, executor: Executor
) -> Learner | None:
    """The recipe's optional anomaly learner, fitted on every training window."""
    if recipe.anomaly is None:
        return None
    anomaly_type = blocks.get_learner(recipe.anomaly.name)
    if anomaly_type.task != "anomaly":
        raise InvalidInput(
            f"anomaly: {recipe.anomaly.name} is not an anomaly learner; use "
            "anomaly-kmeans or anomaly-gmm"
        )
    job = FitJob(
        anomaly_type.name,
        anomaly_type.version,
        recipe.anomaly.params,
        features.X[training],
        np.zeros(int(training.sum())),
        FitContext(seed=seed),
    )
    (learner,) = list(executor.map(fit, [job]))
    return learner


def measure(
    learner: Learner,
    anomaly_learner: Learner | None,
    features: FeatureSet,
    y: np.ndarray,
    labels: list[str],
    entries: list[dict[str, Any]],
) -> dict[str, Any]:
    """Metrics of fitted learners on the testing split of `features` (and training accuracy)."""
    training = np.array([c == "training" for c in features.categories], dtype=bool)
    testing = ~training
    metrics: dict[str, Any] = {}
    known = _labelled(y, learner.task)
    if learner.task == "classification":
        rows = testing & known
        groups = _groups(entries, features.sample_ids[rows])
        metrics["testing"] = evaluate.classification(
            learner.predict(features.X[rows]), y[rows], labels, groups
        )
        metrics["testing"]["unknown_label_windows"] = int((testing & ~known).sum())
        fitted = training & known
        if fitted.any():
            predicted = learner.predict(features.X[fitted]).argmax(axis=1)
            metrics["training"] = {"accuracy": round(float((predicted == y[fitted]).mean()), 6)}
    elif learner.task == "regression":
        rows = testing & known
        metrics["testing"] = evaluate.regression(learner.predict(features.X[rows]), y[rows])
    scorer = learner if learner.task == "anomaly" else anomaly_learner
    if scorer is not None and scorer.threshold is not None:
        seen = set(labels) or {v for v, t in zip(features.y, training, strict=True) if t and v}
        unusual = np.array(
            [
                v == evaluate.ANOMALY_LABEL or (v is not None and v not in seen)
                for v, t in zip(features.y, testing, strict=True)
                if t
            ],
            dtype=bool,
        )
        scores = scorer.predict(features.X[testing])[:, 0]
        metrics["anomaly"] = evaluate.anomaly(scores, scorer.threshold, unusual)
    return metrics


def evaluate_model(
    ws: "Workspace",
    model: ModelVersion,
    data: str | None = None,
    *,
    project: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Re-test a registered model on the testing split of a dataset version (default: the one
    it was trained on), with its own fitted feature states and learners."""
    recipe = Recipe.model_validate(model.recipe)
    version = ws.data.version(data or model.dataset_version_id, project=project)
    entries = ws.data.read_version(version.id, project=project)
    features = extract(
        ws,
        recipe,
        version.id,
        project=project,
        workers=workers,
        progress=progress,
        states=registry.feature_states(ws.blobs, model),
    )
    learner = registry.load_learner(ws.blobs, model)
    anomaly_learner = (
        registry.load_learner(ws.blobs, model, "anomaly") if "anomaly" in model.artifacts else None
    )
    y = _targets(features.y, learner.task, model.labels)
    metrics = measure(learner, anomaly_learner, features, y, model.labels, entries)
    return {"model": f"v{model.number}", "dataset_version": version.id, "metrics": metrics}


def _store_artifacts(
    ws: "Workspace", learner: Learner, anomaly_learner: Learner | None, features: FeatureSet
) -> dict[str, str]:
    artifacts = {
        "learner": ws.blobs.put(learner.save()),
        "ir": ws.blobs.put(to_bytes(learner.to_ir())),
        "states": ws.blobs.put(json.dumps(features.states).encode()),
    }
    export = getattr(learner, "export_onnx", None)
    if export is not None:
        artifacts["onnx"] = ws.blobs.put(export())
    if anomaly_learner is not None:
        artifacts["anomaly"] = ws.blobs.put(anomaly_learner.save())
        artifacts["anomaly_ir"] = ws.blobs.put(to_bytes(anomaly_learner.to_ir()))
    return artifacts
