"""Users: argon2id password hashes, sign-in, validation."""

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, text

from edgeops.errors import Conflict, InvalidInput
from edgeops.governance import audit, users
from edgeops.store.tables import User
from edgeops.workspace import Workspace

PASSWORD = "correct horse battery staple"


def test_create_and_sign_in(ws: Workspace) -> None:
    ws.users.create("alice", PASSWORD, "data-scientist")
    principal = ws.users.authenticate("alice", PASSWORD)
    assert principal is not None
    assert (principal.actor, principal.role, principal.project_id) == (
        "user:alice", "data-scientist", None,
    )  # fmt: skip
    assert [u.name for u in ws.users.list()] == ["alice"]


def test_the_password_is_stored_as_an_argon2id_hash_only(ws: Workspace) -> None:
    user = ws.users.create("alice", PASSWORD, "viewer")
    assert user.password_hash.startswith("$argon2id$")
    with ws.engine.connect() as connection:
        row = connection.execute(text("SELECT * FROM users")).one()
    assert not any(PASSWORD in str(value) for value in row)
    shown = users.record(user)
    assert set(shown) == {"name", "role", "disabled", "created_at"}


def test_wrong_password_unknown_user_and_disabled_user_are_refused(ws: Workspace) -> None:
    ws.users.create("alice", PASSWORD, "viewer")
    assert ws.users.authenticate("alice", PASSWORD + "!") is None
    assert ws.users.authenticate("bob", PASSWORD) is None
    assert ws.users.authenticate("alice", "x" * 5000) is None
    with ws.session() as session:
        session.execute(text("UPDATE users SET disabled = :yes"), {"yes": True})
        session.commit()
    assert ws.users.authenticate("alice", PASSWORD) is None


@pytest.mark.parametrize(
    ("name", "password", "role", "message"),
    [
        ("alice", "short", "viewer", "12 to 1024 characters"),
        ("Alice Smith", PASSWORD, "viewer", "user name 'Alice Smith' is not allowed"),
        ("alice", PASSWORD, "root", "unknown role"),
    ],
)
def test_invalid_users_are_refused(
    ws: Workspace, name: str, password: str, role: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        ws.users.create(name, password, role)
    assert ws.users.list() == []


def test_names_are_unique(ws: Workspace) -> None:
    ws.users.create("alice", PASSWORD, "viewer")
    with pytest.raises(Conflict, match="already exists"):
        ws.users.create("alice", PASSWORD, "admin")


def test_a_weaker_old_hash_is_upgraded_at_sign_in(ws: Workspace) -> None:
    ws.users.create("alice", PASSWORD, "viewer")
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with ws.session() as session:
        session.execute(text("UPDATE users SET password_hash = :h"), {"h": weak})
        session.commit()
    assert ws.users.authenticate("alice", PASSWORD) is not None
    with ws.session() as session:
        upgraded = session.scalars(select(User)).one().password_hash
    assert upgraded != weak and "m=65536" in upgraded
    assert ws.users.authenticate("alice", PASSWORD) is not None


def test_creating_a_user_is_audited(ws: Workspace) -> None:
    ws.users.create("alice", PASSWORD, "operator")
    with ws.session() as session:
        event = audit.events(session, action="user.create")[0]
        assert (event.target, event.details) == ("alice", {"role": "operator"})
        assert audit.verify(session).ok
