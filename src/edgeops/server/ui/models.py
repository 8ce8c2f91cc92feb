"""Models pages: model versions, training runs with live progress, metrics and the confusion
matrix, comparing two versions, aliases, the model card, and builds per target with their
footprint and downloads."""

from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from edgeops.data import projects
from edgeops.errors import EdgeopsError, InvalidInput
from edgeops.governance import modelcard
from edgeops.governance.roles import Permission
from edgeops.recipes.spec import load_recipe
from edgeops.server.ui import charts, studio_runs
from edgeops.server.ui.access import Viewer, page
from edgeops.server.ui.render import project_url, redirect, render, templates
from edgeops.targets.service import TARGETS
from edgeops.training import registry

router = APIRouter(include_in_schema=False)
Read = Annotated[Viewer, page(Permission.MODELS_READ)]
Write = Annotated[Viewer, page(Permission.MODELS_WRITE)]
FINISHED = ("succeeded", "failed", "stopped", "cancelled")


@router.get("/projects/{project}/models")
def model_list(request: Request, project: str, viewer: Read) -> Response:
    with request.app.state.ws.session() as session:
        found = projects.get(session, project)
        names = registry.aliases(session, found)
        rows = [registry.summary(m, names.get(m.id)) for m in registry.list_all(session, found)]
        runs = studio_runs.recent(session, found.id)
    chart = None
    scored = [r for r in rows if r["accuracy"] is not None]
    if len(scored) > 1:
        chart = charts.bar_chart(
            [r["model"] for r in scored], [r["accuracy"] for r in scored],
            title="Testing accuracy per model version", y_label="accuracy",
        )  # fmt: skip
    context = {"rows": list(reversed(rows)), "runs": runs, "chart": chart}
    return render(request, viewer, "models/index.html", context, project=project, section="models")


@router.post("/projects/{project}/models/train")
def start_training(
    request: Request,
    project: str,
    viewer: Write,
    recipe: Annotated[str, Form(max_length=200_000)],
    data: Annotated[str, Form(max_length=64)] = "",
    seed: Annotated[str, Form(max_length=12)] = "0",
) -> Response:
    """Queue a training run (recipe YAML from the editor or a model); see its progress."""
    ws = request.app.state.ws
    try:
        parsed = load_recipe(recipe, "yaml")
        if not seed.strip().isdigit():
            raise InvalidInput(f"seed {seed!r} is not a whole number")
        version = ws.data.version(data, project=project).id if data else None
        run_id = studio_runs.start(
            ws, project, studio_runs.TRAIN, viewer.actor,
            recipe=parsed.model_dump(mode="json", exclude_none=True), data=version,
            seed=int(seed),
        )  # fmt: skip
    except EdgeopsError as error:
        return redirect(project_url(project, "models"), error=str(error))
    return redirect(project_url(project, "models", "runs", run_id), notice="training queued")


def _run(request: Request, project: str, run_id: int) -> dict[str, Any]:
    ws = request.app.state.ws
    run: dict[str, Any] = ws.automation.get_run(run_id, project=project)
    if run["workflow"] not in studio_runs.WORKFLOWS:
        raise InvalidInput(f"run {run_id} is not a studio run: see the Automation page")
    run["log"] = ws.automation.logs(run_id, project=project)
    run["finished"] = run["status"] in FINISHED
    outputs = [step.get("output") or {} for step in run["steps"]]
    run["model"] = next((o["model"] for o in outputs if "model" in o), None)
    return run


@router.get("/projects/{project}/models/runs/{run_id}")
def run_page(request: Request, project: str, run_id: int, viewer: Read) -> Response:
    context = {"run": _run(request, project, run_id)}
    return render(request, viewer, "models/run.html", context, project=project, section="models")


@router.get("/projects/{project}/models/runs/{run_id}/progress")
def run_progress(request: Request, project: str, run_id: int, viewer: Read) -> Response:
    """The live part of the run page, polled by studio.js until the run has finished."""
    context = {"run": _run(request, project, run_id), "project": project}
    return templates.TemplateResponse(request, "models/_progress.html", context)


@router.get("/projects/{project}/models/compare")
def compare(request: Request, project: str, viewer: Read, a: str, b: str) -> Response:
    with request.app.state.ws.session() as session:
        found = projects.get(session, project)
        left, right = registry.get(session, found, a), registry.get(session, found, b)
        result = registry.compare(left, right)
        confusions = [_confusion(m.metrics, f"v{m.number}") for m in (left, right)]
    context = {"result": result, "confusions": confusions}
    return render(request, viewer, "models/compare.html", context, project=project,
                  section="models")  # fmt: skip


def _confusion(metrics: dict[str, Any], name: str) -> Any:
    confusion = metrics.get("testing", {}).get("confusion")
    if not confusion:
        return None
    labels = confusion["labels"]
    return charts.heatmap(
        confusion["matrix"], title=f"Confusion matrix of {name} (testing)",
        row_labels=labels, column_labels=labels, x_label="predicted", y_label="true label",
    )  # fmt: skip


@router.get("/projects/{project}/models/{model}")
def model_page(request: Request, project: str, model: str, viewer: Read) -> Response:
    ws = request.app.state.ws
    with ws.session() as session:
        found = projects.get(session, project)
        version = registry.get(session, found, model)
        summary = registry.summary(version, registry.aliases(session, found).get(version.id))
        built = modelcard.builds(ws, session, version)
        outputs = studio_runs.build_outputs(session, found.id, summary["model"])
    for row in built:
        row["measured"] = outputs.get((row["target"], row["precision"]), {})
    history = summary["training"].get("history") or []
    curves = None
    if history:
        keys = [k for k in history[0] if k != "epoch"]
        curves = charts.line_chart(
            [h["epoch"] for h in history], [(k, [h.get(k) for h in history]) for k in keys],
            title="Training history", x_label="epoch", y_label="value",
        )  # fmt: skip
    context = {
        "model": summary, "testing": summary["metrics"].get("testing", {}),
        "confusion": _confusion(summary["metrics"], summary["model"]), "curves": curves,
        "builds": built, "targets": TARGETS, "aliases": registry.ALIASES,
        "recipe": yaml.safe_dump(version.recipe, sort_keys=False),
    }  # fmt: skip
    return render(request, viewer, "models/model.html", context, project=project,
                  section="models")  # fmt: skip


@router.post("/projects/{project}/models/{model}/alias")
def set_alias(
    request: Request,
    project: str,
    model: str,
    viewer: Write,
    alias: Annotated[str, Form(max_length=32)],
) -> Response:
    here = project_url(project, "models", model)
    try:
        with request.app.state.ws.session() as session:
            found = projects.get(session, project)
            registry.check_alias(alias)
            target = registry.get(session, found, model)
            registry.set_alias(session, found, alias, target, viewer.actor)
            session.commit()
    except EdgeopsError as error:
        return redirect(here, error=str(error))
    return redirect(here, notice=f"{alias} now points at v{target.number}")


@router.post("/projects/{project}/models/{model}/build")
def start_build(
    request: Request,
    project: str,
    model: str,
    viewer: Write,
    target: Annotated[str, Form(max_length=16)],
    precision: Annotated[str, Form(max_length=8)] = "auto",
    verify: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Queue a build (compiled, optionally verified with gcc on the testing windows)."""
    ws = request.app.state.ws
    try:
        if target not in TARGETS:
            raise InvalidInput(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
        if precision not in ("auto", "int8", "float"):
            raise InvalidInput(f"precision {precision!r} is not auto, int8 or float")
        ref = ws.models.show(model, project=project)["model"]
        run_id = studio_runs.start(
            ws, project, studio_runs.BUILD, viewer.actor, model=ref, target=target,
            precision=precision, verify=verify == "yes",
        )  # fmt: skip
    except EdgeopsError as error:
        return redirect(project_url(project, "models", model), error=str(error))
    return redirect(project_url(project, "models", "runs", run_id), notice="build queued")


@router.get("/projects/{project}/models/{model}/builds/{target}/{precision}.zip")
def download_build(
    request: Request, project: str, model: str, target: str, precision: str, viewer: Read
) -> Response:
    ws = request.app.state.ws
    with ws.session() as session:
        version = registry.get(session, projects.get(session, project), model)
        digest = version.artifacts.get(f"build/{target}/{precision}")
        number = version.number
    if digest is None:
        raise InvalidInput(f"v{number} has no {target} ({precision}) build: build it first")
    name = f"{project}-v{number}-{target}-{precision}.zip"
    return Response(
        ws.blobs.get(digest), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip


@router.get("/projects/{project}/models/{model}/card")
def model_card(request: Request, project: str, model: str, viewer: Read) -> Response:
    card = modelcard.model_card(request.app.state.ws, model, project=project)
    if request.query_params.get("format") == "markdown":
        return Response(modelcard.to_markdown(card), media_type="text/markdown; charset=utf-8")
    return render(request, viewer, "models/card.html", {"card": card}, project=project,
                  section="models")  # fmt: skip
