"""The studio's session cookie and CSRF token, without a browser."""

from hypothesis import given
from hypothesis import strategies as st

from edgeops.server.ui import session

SECRET = bytes(range(32))
HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"


def test_round_trip_and_expiry() -> None:
    value = session.encode(SECRET, "alice", HASH, now=1000.0)
    found = session.decode(SECRET, value, now=1001.0)
    assert found is not None and found.user == "alice"
    assert found.password == session.password_tag(HASH)
    assert session.decode(SECRET, value, now=1000.0 + session.LIFETIME_S) is None
    assert session.decode(bytes(32), value, now=1001.0) is None  # another workspace's secret


def test_a_changed_payload_breaks_the_signature() -> None:
    value = session.encode(SECRET, "alice", HASH)
    payload, signature = value.split(".")
    other = session.encode(SECRET, "mallory", HASH).split(".")[0]
    assert session.decode(SECRET, f"{other}.{signature}") is None
    assert session.decode(SECRET, f"{payload}.{signature}") is not None


def test_csrf_token_is_bound_to_the_session() -> None:
    first = session.decode(SECRET, session.encode(SECRET, "alice", HASH))
    second = session.decode(SECRET, session.encode(SECRET, "alice", HASH))
    assert first is not None and second is not None
    token = session.csrf_token(SECRET, first)
    assert session.csrf_valid(SECRET, first, token)
    assert not session.csrf_valid(SECRET, second, token)
    assert not session.csrf_valid(SECRET, first, None)


@given(st.text(max_size=2000))
def test_decode_refuses_any_garbage_without_raising(value: str) -> None:
    assert session.decode(SECRET, value) is None


@given(st.binary(max_size=300))
def test_decode_refuses_signed_garbage_without_raising(payload: bytes) -> None:
    """Even a correctly signed payload that is not our JSON is no session (and no crash)."""
    import base64

    text = base64.urlsafe_b64encode(payload).decode()
    assert session.decode(SECRET, f"{text}.{session._sign(SECRET, text.encode())}") is None


def test_secret_is_made_once_and_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = session.load_secret(tmp_path / "home")
    assert len(first) == 32
    assert session.load_secret(tmp_path / "home") == first
    assert oct((tmp_path / "home" / session.SECRET_FILE).stat().st_mode)[-3:] == "600"


def test_sign_in_attempts_are_capped_per_address(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real server: after the burst, more attempts from one address get 429 and Retry-After
    before any password is checked."""
    import httpx
    from tests.server.conftest import start_server

    from edgeops.server.app import ServerLimits
    from edgeops.server.ui import LOGIN_BURST
    from edgeops.workspace import Workspace

    with Workspace(tmp_path / "home") as ws:
        running = start_server(ws, ServerLimits())
        try:
            url = f"http://127.0.0.1:{running.config.port}/login"
            form = {"name": "nobody", "password": "x" * 12, "nonce": "stale"}
            with httpx.Client() as client:
                answers = [client.post(url, data=form) for _ in range(int(LOGIN_BURST) + 1)]
        finally:
            running.should_exit = True
    assert {a.status_code for a in answers[:-1]} == {303}  # the stale form is sent back
    assert answers[-1].status_code == 429 and int(answers[-1].headers["retry-after"]) >= 1
    assert "too many sign-in attempts" in answers[-1].text
