"""The permission table: who may do what."""

import pytest

from edgeops.errors import InvalidInput
from edgeops.governance.roles import GRANTS, ROLES, Permission, allowed, validate_role

P = Permission
HUMAN_ROLES = [role for role in ROLES if role != "device"]
ADMIN_ONLY = {P.PROJECT_ADMIN, P.KEYS_MANAGE, P.USERS_MANAGE, P.AUDIT_READ}


def test_the_roles_are_the_documented_eight() -> None:
    assert set(ROLES) == {"admin", "data-engineer", "data-scientist", "ml-engineer", "developer",
                          "operator", "viewer", "device"}  # fmt: skip


def test_admin_may_do_everything() -> None:
    assert all(allowed("admin", permission) for permission in Permission)


def test_management_and_the_audit_log_are_for_admins_only() -> None:
    for role in ROLES:
        granted = ADMIN_ONLY & GRANTS[role]
        assert granted == (ADMIN_ONLY if role == "admin" else set()), role


def test_a_device_may_only_send_data_and_telemetry_and_fetch_updates() -> None:
    assert GRANTS["device"] == {P.DATA_INGEST, P.TELEMETRY_WRITE, P.UPDATES_READ}
    assert not allowed("device", P.PROJECT_READ)


def test_a_viewer_reads_everything_but_the_audit_log_and_changes_nothing() -> None:
    reads = {p for p in Permission if p.value.endswith(".read")} - {P.AUDIT_READ}
    assert GRANTS["viewer"] == reads


@pytest.mark.parametrize(
    ("role", "granted", "refused"),
    [
        ("data-engineer", {P.DATA_READ, P.DATA_WRITE, P.DATA_INGEST},
         {P.MODELS_WRITE, P.FLEET_WRITE}),
        ("data-scientist", {P.DATA_READ, P.DATA_WRITE, P.MODELS_READ, P.MODELS_WRITE},
         {P.FLEET_WRITE, P.DATA_INGEST}),
        ("ml-engineer", {P.MODELS_READ, P.MODELS_WRITE, P.DATA_READ, P.FLEET_READ},
         {P.DATA_WRITE, P.FLEET_WRITE}),
        ("developer", {P.MODELS_READ, P.FLEET_READ, P.DATA_READ, P.UPDATES_READ},
         {P.MODELS_WRITE, P.DATA_WRITE, P.FLEET_WRITE}),
        ("operator", {P.FLEET_READ, P.FLEET_WRITE, P.DATA_READ, P.MODELS_READ},
         {P.DATA_WRITE, P.MODELS_WRITE, P.TELEMETRY_WRITE}),
    ],
)  # fmt: skip
def test_role_grants(role: str, granted: set[Permission], refused: set[Permission]) -> None:
    assert all(allowed(role, p) for p in granted)
    assert not any(allowed(role, p) for p in refused)


def test_every_person_may_see_the_projects() -> None:
    assert all(allowed(role, P.PROJECT_READ) for role in HUMAN_ROLES)


def test_unknown_roles_and_permissions_grant_nothing() -> None:
    assert not allowed("root", P.DATA_READ)
    assert not allowed("admin", "data.destroy")
    assert allowed("viewer", "data.read")  # the plain string works as well as the enum


def test_validate_role_lists_the_roles() -> None:
    assert validate_role("operator") == "operator"
    with pytest.raises(InvalidInput, match=r"unknown role 'root'.*admin.*device"):
        validate_role("root")
