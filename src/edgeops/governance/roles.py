"""Roles and permissions: the one table in code that says which role may do what."""

from enum import StrEnum

from edgeops.errors import InvalidInput


class Permission(StrEnum):
    PROJECT_READ = "project.read"
    PROJECT_ADMIN = "project.admin"
    DATA_READ = "data.read"
    DATA_WRITE = "data.write"  # import, label, move, remove, commit
    DATA_INGEST = "data.ingest"  # devices and uploaders sending samples
    KEYS_MANAGE = "keys.manage"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    TELEMETRY_WRITE = "telemetry.write"
    UPDATES_READ = "updates.read"
    MODELS_READ = "models.read"
    MODELS_WRITE = "models.write"
    FLEET_READ = "fleet.read"
    FLEET_WRITE = "fleet.write"
    WORKFLOWS_READ = "workflows.read"
    WORKFLOWS_WRITE = "workflows.write"  # store workflow versions, enable/disable
    WORKFLOWS_RUN = "workflows.run"  # start, cancel, retry runs; git webhooks
    WORKFLOWS_APPROVE = "workflows.approve"  # decide approval steps


P = Permission
# Everything a person may look at; the audit log is for admins only.
_READ = frozenset(
    {P.PROJECT_READ, P.DATA_READ, P.MODELS_READ, P.FLEET_READ, P.UPDATES_READ, P.WORKFLOWS_READ}
)
_WORKFLOWS = frozenset({P.WORKFLOWS_READ, P.WORKFLOWS_WRITE, P.WORKFLOWS_RUN})

GRANTS: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "data-engineer": frozenset(
        {P.PROJECT_READ, P.DATA_READ, P.DATA_WRITE, P.DATA_INGEST, P.FLEET_READ}
    ),
    "data-scientist": frozenset(
        {P.PROJECT_READ, P.DATA_READ, P.DATA_WRITE, P.MODELS_READ, P.MODELS_WRITE}
    )
    | _WORKFLOWS,
    "ml-engineer": frozenset(
        {P.PROJECT_READ, P.DATA_READ, P.MODELS_READ, P.MODELS_WRITE, P.FLEET_READ}
    )
    | _WORKFLOWS
    | {P.WORKFLOWS_APPROVE},
    "developer": frozenset(
        {P.PROJECT_READ, P.DATA_READ, P.MODELS_READ, P.FLEET_READ, P.UPDATES_READ}
    ),
    "operator": _READ | {P.FLEET_WRITE, P.WORKFLOWS_RUN, P.WORKFLOWS_APPROVE},
    "viewer": _READ,
    "device": frozenset({P.DATA_INGEST, P.TELEMETRY_WRITE, P.UPDATES_READ}),
}
ROLES: tuple[str, ...] = tuple(GRANTS)


def allowed(role: str, permission: Permission | str) -> bool:
    """Whether `role` grants `permission`; unknown roles and permissions grant nothing."""
    return permission in GRANTS.get(role, frozenset())


def validate_role(name: str) -> str:
    if name not in GRANTS:
        raise InvalidInput(f"unknown role {name!r}: use one of {', '.join(ROLES)}")
    return name
