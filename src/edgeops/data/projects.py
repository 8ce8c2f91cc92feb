"""Projects: the products a team builds; each owns its samples, versions and (later) models."""

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.store.tables import Project, new_hmac_key

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def create(session: Session, name: str, actor: str, description: str = "") -> Project:
    if not _NAME.match(name):
        raise InvalidInput(
            f"project name {name!r} is not allowed: use 1-64 lowercase letters, digits, "
            "'-' or '_', starting with a letter or digit (e.g. pump-vibration)"
        )
    if session.scalar(select(Project).where(Project.name == name)) is not None:
        raise Conflict(f"project {name!r} already exists")
    project = Project(name=name, description=description, hmac_key=new_hmac_key())
    session.add(project)
    session.flush()
    audit.record(session, actor, "project.create", name, project.id)
    return project


def list_all(session: Session) -> list[Project]:
    return list(session.scalars(select(Project).order_by(Project.name)))


def get(session: Session, name: str | None) -> Project:
    """The project called `name`; with no name, the only project there is."""
    if name is not None:
        project = session.scalar(select(Project).where(Project.name == name))
        if project is None:
            raise NotFound(f"no project named {name!r} (see `edgeops project list`)")
        return project
    count = session.scalar(select(func.count(Project.id)))
    if count == 0:
        raise NotFound("there is no project yet: create one with `edgeops project create NAME`")
    if count != 1:
        raise InvalidInput(
            "this workspace has several projects: pass --project NAME or set EDGEOPS_PROJECT"
        )
    return session.scalars(select(Project)).one()


def record(project: Project) -> dict[str, Any]:
    """The project's stable public fields (CLI --json, REST API); never the HMAC key."""
    return {
        "name": project.name,
        "description": project.description,
        "created_at": project.created_at.isoformat(),
        "allow_unsigned": project.allow_unsigned,
    }
