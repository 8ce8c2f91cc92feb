"""What every target builds from: a registered model version loaded with its recipe, feature
states and graphs (float, and int8 when chosen), and the data it is calibrated and verified on."""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeops.compiler.ir import Graph
from edgeops.compiler.quantize import ANCHORS, quantize
from edgeops.data import projects
from edgeops.errors import InvalidInput
from edgeops.recipes.spec import Recipe
from edgeops.recipes.windows import windows_of
from edgeops.store.tables import ModelVersion, Project
from edgeops.training import registry

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

MAX_CALIBRATION_ROWS = 2000  # min/max ranges settle long before this; bounds build time


@dataclass
class Prepared:
    """A model version ready to compile: `graph` is what runs on the device (int8 or float),
    `float_graph` the model as trained; `anomaly_graph` the optional anomaly learner's (float)."""

    project: Project
    model: ModelVersion
    recipe: Recipe
    states: list[dict[str, Any] | None]
    float_graph: Graph
    graph: Graph
    quantized: bool
    anomaly_graph: Graph | None
    anomaly_threshold: float | None
    name: str  # the C identifier of the generated library

    @property
    def precision(self) -> str:
        return "int8" if self.quantized else "float"

    @property
    def ref(self) -> str:
        return f"v{self.model.number}"


def c_name(text: str) -> str:
    """A C identifier from a model's name: `basic-motions` → `basic_motions`."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text).strip("_").lower() or "model"
    if name[0].isdigit():
        name = f"m_{name}"
    return name[:32]


def supports_int8(graph: Graph) -> bool:
    """Whether quantizing changes anything: the graph has an op with an int8 kernel."""
    return any(op.kind in ANCHORS for op in graph.ops)


def _graph(ws: "Workspace", model: ModelVersion, artifact: str) -> Graph:
    if artifact not in model.artifacts:
        raise InvalidInput(
            f"model v{model.number} has no compiled form ({artifact!r} artifact): retrain it "
            "with this edgeops version, or import an ONNX model with `edgeops models import`"
        )
    return registry.load_graph(ws.blobs, model, artifact)


def load(
    ws: "Workspace", model_ref: str, *, quantized: bool | None, project: str | None = None
) -> Prepared:
    """The model `model_ref` with its graphs; `quantized` None picks int8 where the graph has
    int8 kernels (networks), else float (trees); True on a graph without them is refused."""
    with ws.session() as session:
        proj = projects.get(session, project or ws.settings.project)
        model = registry.get(session, proj, model_ref)
    float_graph = _graph(ws, model, "ir")
    recipe = Recipe.model_validate(model.recipe)
    if "states" in model.artifacts:
        states = registry.feature_states(ws.blobs, model)
    else:
        states = [None] * len(recipe.features)
    can_quantize = supports_int8(float_graph)
    if quantized and not can_quantize:
        kinds = sorted({op.kind for op in float_graph.ops})
        raise InvalidInput(
            f"model v{model.number} ({', '.join(kinds)}) has no int8 kernels to quantize: "
            "build it with --float"
        )
    use_int8 = can_quantize if quantized is None else quantized
    graph = float_graph
    prepared = Prepared(
        project=proj,
        model=model,
        recipe=recipe,
        states=states,
        float_graph=float_graph,
        graph=graph,
        quantized=use_int8,
        anomaly_graph=_graph(ws, model, "anomaly_ir") if "anomaly_ir" in model.artifacts else None,
        anomaly_threshold=_threshold(model),
        name=c_name(model.name),
    )
    if use_int8:
        prepared.graph = quantize(float_graph, calibration(ws, prepared))
    return prepared


def _threshold(model: ModelVersion) -> float | None:
    value = model.metrics.get("anomaly", {}).get("threshold")
    return float(value) if isinstance(value, int | float) else None


def calibration(ws: "Workspace", prepared: Prepared) -> np.ndarray:
    """The training split's features of the model's dataset version, computed with the model's
    own feature states, shaped like the graph's input."""
    from edgeops.recipes.extract import extract

    features = extract(
        ws,
        prepared.recipe,
        prepared.model.dataset_version_id,
        project=prepared.project.name,
        states=prepared.states,
    )
    training = np.array([c == "training" for c in features.categories], dtype=bool)
    rows = features.X[training] if training.any() else features.X
    if len(rows) == 0:
        raise InvalidInput(
            f"dataset version {prepared.model.dataset_version_id[:12]} has no windows to "
            "calibrate the int8 model on: build with --float"
        )
    rows = rows[:: max(1, len(rows) // MAX_CALIBRATION_ROWS)][:MAX_CALIBRATION_ROWS]
    shape = prepared.float_graph.tensor(prepared.float_graph.inputs[0]).shape
    return rows.reshape(len(rows), *shape)


def verification_windows(
    ws: "Workspace", prepared: Prepared
) -> tuple[np.ndarray, np.ndarray | None]:
    """Every window of the testing split's samples (raw, step-major) and, for classifiers, the
    class index per window; windows of a label the model does not know are left out."""
    recipe, model = prepared.recipe, prepared.model
    entries = ws.data.read_version(model.dataset_version_id, project=prepared.project.name)
    testing = sorted((e for e in entries if e["category"] == "testing"), key=lambda e: e["id"])
    windows: list[np.ndarray] = []
    labels: list[int] = []
    index = {label: i for i, label in enumerate(model.labels)}
    classifier = model.task == "classification"
    for entry in testing:
        if classifier and entry["label"] not in index:
            continue
        values = ws.data.values(entry)
        rows = windows_of(values, entry["interval_ms"], entry["sample_rate"], recipe, entry["id"])
        windows.append(rows)
        labels += [index.get(entry["label"], -1)] * len(rows)
    if not windows:
        raise InvalidInput(
            f"dataset version {model.dataset_version_id[:12]} has no labelled testing windows "
            "to verify on"
        )
    X = np.concatenate(windows).astype(np.float32)
    return X, np.array(labels, dtype=np.int64) if classifier else None
