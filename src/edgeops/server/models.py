"""The model registry over HTTP (`/api/v1/projects/{project}/models…`): the same service and the
same JSON fields as `edgeops models list/show/compare/alias`."""

from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import Field

from edgeops.governance.keys import Principal
from edgeops.governance.roles import Permission
from edgeops.server.auth import project_for, require
from edgeops.server.security import StrictBody
from edgeops.training import registry

router = APIRouter(prefix="/api/v1/projects/{project}/models", tags=["models"])

ModelsRead = Annotated[Principal, require(Permission.MODELS_READ)]
ModelsWrite = Annotated[Principal, require(Permission.MODELS_WRITE)]


class AliasIn(StrictBody):
    model: str = Field(max_length=32, description="vN, N, latest or another alias")


@router.get("")
def list_models(project: str, request: Request, principal: ModelsRead) -> list[dict[str, Any]]:
    """Every model version, oldest first (metrics and training history left out: see one)."""
    with request.app.state.ws.session() as session:
        found = project_for(session, principal, project)
        names = registry.aliases(session, found)
        return [
            {
                k: v
                for k, v in registry.summary(m, names.get(m.id)).items()
                if k not in ("metrics", "training")
            }
            for m in registry.list_all(session, found)
        ]


@router.get("/compare")
def compare_models(
    project: str, a: str, b: str, request: Request, principal: ModelsRead
) -> dict[str, Any]:
    """Headline metrics of models `a` and `b` side by side (deltas b - a), lineage differences."""
    with request.app.state.ws.session() as session:
        found = project_for(session, principal, project)
        return registry.compare(registry.get(session, found, a), registry.get(session, found, b))


@router.get("/{model}")
def show_model(project: str, model: str, request: Request, principal: ModelsRead) -> dict[str, Any]:
    with request.app.state.ws.session() as session:
        found = project_for(session, principal, project)
        version = registry.get(session, found, model)
        return registry.summary(version, registry.aliases(session, found).get(version.id))


@router.put("/aliases/{alias}")
def set_alias(
    project: str, alias: str, body: AliasIn, request: Request, principal: ModelsWrite
) -> dict[str, Any]:
    """Point `alias` (production, staging, candidate) at a model; audited."""
    registry.check_alias(alias)
    with request.app.state.ws.session() as session:
        found = project_for(session, principal, project)
        target = registry.get(session, found, body.model)
        before = registry.set_alias(session, found, alias, target, principal.actor)
        session.commit()
        return {"alias": alias, "model": f"v{target.number}", "before": before}
