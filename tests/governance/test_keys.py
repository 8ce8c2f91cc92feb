"""API keys: creation rules, authentication, revocation, and that secrets are never stored."""

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.governance import audit, keys
from edgeops.governance.roles import Permission
from edgeops.store.tables import ApiKey, utcnow
from edgeops.workspace import Workspace


def test_a_key_authenticates_with_its_role_and_scope(ws: Workspace) -> None:
    key, secret = ws.keys.create("device", device_id="pump-7")
    assert secret.startswith(f"eo_{key.prefix}_") and len(secret) >= 3 + 12 + 1 + 32
    principal = ws.keys.authenticate(secret)
    assert principal == keys.Principal(
        actor=f"key:{key.prefix}", role="device", project_id=ws.projects.get("test").id,
        device_id="pump-7", key_id=key.id,
    )  # fmt: skip


def test_wrong_revoked_and_garbage_secrets_are_refused(ws: Workspace) -> None:
    key, secret = ws.keys.create("data-engineer", name="uploader")
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for wrong in [flipped, secret + "x", secret[:-1], "", "eo_", f"eo_{key.prefix}_",
                  secret.replace("eo_", "xx_"), secret.upper()]:  # fmt: skip
        assert ws.keys.authenticate(wrong) is None, wrong
    assert ws.keys.authenticate(secret) is not None
    ws.keys.revoke(key.prefix)
    assert ws.keys.authenticate(secret) is None


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    garbage=st.one_of(
        st.text(max_size=400),
        st.from_regex(r"\Aeo_[a-z0-9]{12}_[A-Za-z0-9_-]{0,60}\Z"),
        st.builds(lambda s: "eo_" + s, st.text(max_size=80)),
        st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
    )
)  # fmt: skip
def test_random_strings_never_raise_and_never_authenticate(ws: Workspace, garbage: str) -> None:
    with ws.session() as session:
        assert keys.authenticate_key(session, garbage) is None


def test_the_secret_is_never_stored(ws: Workspace) -> None:
    _, secret = ws.keys.create("admin", all_projects=True)
    random_part = secret.split("_", 2)[2]
    with ws.engine.connect() as connection:
        rows = [*connection.execute(text("SELECT * FROM api_keys")),
                *connection.execute(text("SELECT * FROM audit_events"))]  # fmt: skip
    values = [str(value) for row in rows for value in row]
    assert not any(secret in v or random_part in v for v in values)
    assert set(keys.record(ws.keys.list()[0])).isdisjoint({"secret", "secret_hash"})


def test_last_use_is_noted_at_most_once_a_minute(ws: Workspace) -> None:
    key, secret = ws.keys.create("viewer")
    assert ws.keys.list()[0].last_used_at is None
    ws.keys.authenticate(secret)
    first = ws.keys.list()[0].last_used_at
    assert first is not None
    ws.keys.authenticate(secret)
    assert ws.keys.list()[0].last_used_at == first
    with ws.session() as session:
        old = utcnow() - timedelta(minutes=5)
        session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=old))
        session.commit()
    ws.keys.authenticate(secret)
    assert ws.keys.list()[0].last_used_at != first


@pytest.mark.parametrize(
    ("role", "all_projects", "device_id", "message"),
    [
        ("device", False, None, "needs a device id"),
        ("viewer", False, "pump-7", "only device keys have a device id"),
        ("viewer", True, None, "needs a project"),
        ("device", True, "pump-7", "needs a project"),
        ("root", False, None, "unknown role"),
        ("device", False, "x" * 129, "1-128 printable"),
    ],
)
def test_key_rules(
    ws: Workspace, role: str, all_projects: bool, device_id: str | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        ws.keys.create(role, all_projects=all_projects, device_id=device_id)
    assert ws.keys.list() == []


def test_the_database_enforces_the_rules_too(ws: Workspace) -> None:
    with ws.session() as session:
        session.add(ApiKey(prefix="a" * 12, secret_hash="0" * 64, name="x", role="device",
                           project_id=1, device_id=None, created_by="t"))  # fmt: skip
        with pytest.raises(IntegrityError):
            session.commit()


def test_admin_keys_may_span_all_projects(ws: Workspace) -> None:
    _, secret = ws.keys.create("admin", all_projects=True)
    principal = ws.keys.authenticate(secret)
    assert principal is not None and principal.project_id is None
    assert principal.can(Permission.USERS_MANAGE)
    assert principal.can(Permission.DATA_WRITE, project_id=42)


def test_a_project_key_reaches_its_project_only(ws: Workspace) -> None:
    other = ws.projects.create("other")
    _, secret = ws.keys.create("data-engineer", project="test")
    principal = ws.keys.authenticate(secret)
    assert principal is not None
    own = ws.projects.get("test").id
    assert principal.can(Permission.DATA_WRITE, project_id=own)
    assert not principal.can(Permission.DATA_WRITE, project_id=other.id)
    assert not principal.can(Permission.DATA_READ)  # workspace-wide
    assert not principal.can(Permission.MODELS_WRITE, project_id=own)
    assert [k.prefix for k in ws.keys.list("other")] == []
    assert len(ws.keys.list("test")) == 1


def test_revoke_by_prefix_or_id(ws: Workspace) -> None:
    first, _ = ws.keys.create("viewer")
    second, _ = ws.keys.create("viewer")
    assert ws.keys.revoke(first.prefix).revoked_at is not None
    assert ws.keys.revoke(second.id).revoked_at is not None
    with pytest.raises(Conflict, match="already revoked"):
        ws.keys.revoke(first.prefix)
    with pytest.raises(NotFound, match="no API key"):
        ws.keys.revoke("nosuchprefix")


def test_create_and_revoke_write_one_audit_event_each_in_their_transaction(ws: Workspace) -> None:
    key, _ = ws.keys.create("device", device_id="pump-7", name="pump")
    ws.keys.revoke(key.prefix)
    with ws.session() as session:
        project = ws.projects.get("test")
        keys.create_key(session, role="viewer", project=project, name="rolled back", actor="t")
        session.rollback()
        found = audit.events(session, action=None)
        assert [e.action for e in found[:2]] == ["key.revoke", "key.create"]
        assert found[1].details == {"role": "device", "name": "pump", "device_id": "pump-7"}
        assert found[1].target == f"key:{key.prefix}"
        assert session.scalars(select(ApiKey)).all() == [session.get(ApiKey, key.id)]
        assert audit.verify(session).ok
