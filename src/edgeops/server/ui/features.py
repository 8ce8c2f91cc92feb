"""Features pages: the recipe editor (a form generated from the block parameter schemas, with
validation messages by each field) and the feature explorer (a 2-D map of the features of a
dataset version coloured by label, with how well the labels separate)."""

import base64
import tempfile
from pathlib import Path
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import Response

from edgeops.data import projects, samples, versions
from edgeops.errors import EdgeopsError
from edgeops.governance.roles import Permission
from edgeops.recipes.explore import explore
from edgeops.recipes.extract import extract
from edgeops.recipes.spec import Recipe
from edgeops.recipes.templates import TEMPLATES
from edgeops.server.ui import recipe_form
from edgeops.server.ui.access import Viewer, page
from edgeops.server.ui.render import render
from edgeops.training import registry

router = APIRouter(include_in_schema=False)
Read = Annotated[Viewer, page(Permission.DATA_READ)]


def starting_recipe(request: Request, project: str) -> dict[str, Any]:
    """A template fitted to the project's first sample: its kind, axes and rate."""
    with request.app.state.ws.session() as session:
        first = samples.list_samples(session, projects.get(session, project), limit=1)
    kind = first[0].kind if first else "timeseries"
    template = {"timeseries": "motion", "audio": "audio", "image": "image"}.get(kind, "motion")
    recipe: dict[str, Any] = yaml.safe_load(TEMPLATES[template])
    if first and kind == "timeseries":
        sample = first[0]
        recipe["input"]["axes"] = [s.get("name", f"axis{i}") for i, s in enumerate(sample.sensors)]
        if sample.interval_ms:
            recipe["input"]["frequency_hz"] = round(1000 / sample.interval_ms, 6)
    elif first and kind == "audio" and first[0].sample_rate:
        recipe["input"]["frequency_hz"] = first[0].sample_rate
    return recipe


@router.get("/projects/{project}/features")
def recipe_editor(
    request: Request,
    project: str,
    viewer: Read,
    op: str = "",
    template: str = "",
    model: str = "",
    data: str = "",
) -> Response:
    """Query parameters carry the whole form, so a recipe being edited is a bookmarkable URL."""
    ws = request.app.state.ws
    form = {key: value for key, value in request.query_params.items()}
    with ws.session() as session:
        found = projects.get(session, project)
        history = versions.list_versions(session, found)
        models = registry.list_all(session, found)
        chosen = registry.get(session, found, model).recipe if model else None
    if "blocks" in form:
        editor = recipe_form.from_form(form, op)
    elif chosen is not None:
        editor = recipe_form.build(chosen)
    elif template in TEMPLATES:
        editor = recipe_form.build(yaml.safe_load(TEMPLATES[template]))
    else:
        editor = recipe_form.build(starting_recipe(request, project))
    explored = None
    if op == "explore" and editor.valid and history:
        explored = _explore(request, project, editor, data or history[0].id)
    context = {
        "editor": editor, "blocks": recipe_form.block_names(),
        "learners": recipe_form.learner_names(),
        "anomaly_learners": recipe_form.anomaly_learner_names(), "templates": list(TEMPLATES),
        "history": history, "models": models, "data": data, "explored": explored,
        "download": base64.b64encode((editor.canonical or "").encode()).decode(),
    }  # fmt: skip
    return render(
        request, viewer, "features/editor.html", context, project=project, section="features"
    )


def _explore(request: Request, project: str, editor: recipe_form.Editor, data: str) -> Any:
    """Features of dataset version `data` through the recipe (cached), mapped by the explorer
    service; its SVG is embedded as an image, its scores shown as text."""
    ws = request.app.state.ws
    recipe = Recipe.model_validate(yaml.safe_load(editor.canonical or ""))
    try:
        features = extract(ws, recipe, data, project=project)
        with tempfile.TemporaryDirectory() as folder:
            result = explore(
                features, Path(folder) / "map.svg", recipe=(editor.digest or "")[:12],
                version=data[:12],
            )  # fmt: skip
            svg = result.path.read_bytes()
    except EdgeopsError as error:
        return {"error": str(error)}
    return {
        "image": base64.b64encode(svg).decode(),
        "windows": result.windows,
        "features": int(features.X.shape[1]),
        "silhouette": result.silhouette,
        "reason": result.silhouette_reason,
        "per_label": result.per_label,
        "hits": features.hits,
    }
