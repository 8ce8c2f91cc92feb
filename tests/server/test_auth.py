"""Authentication, roles and limits, checked on every route over real HTTP."""

import re

import pytest
from fastapi.routing import APIRoute
from tests.server.conftest import Server

from edgeops.governance.roles import ROLES, allowed
from edgeops.server import api, ei, fleet, governance, models, telemetry, ui, workflows
from edgeops.server.app import ServerLimits, create_app
from edgeops.server.auth import permission_of

# Enrolment is authenticated by its token instead of a key (tests/fleet/test_fleet_api.py).
OPEN = {
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    fleet.ENROL_PATH,
}


def _routes(server: Server) -> list[tuple[str, str, object]]:
    app = create_app(server.ws)
    found = []
    routers = [
        api.router,
        ei.router,
        models.router,
        telemetry.router,
        fleet.router,
        workflows.router,
        governance.router,
    ]
    # Studio pages sign in with a cookie, not a key: test_every_studio_route_times_every_role.
    studio = {getattr(route, "path", "") for router in ui.ROUTERS for route in router.routes}
    for route in [*app.routes, *(route for router in routers for route in router.routes)]:
        if isinstance(route, APIRoute) and route.path not in OPEN | studio:
            for method in sorted(route.methods):
                found.append((method, route.path, permission_of(route.dependant.dependencies)))
    return found


def test_every_route_but_health_declares_a_permission(server: Server) -> None:
    routes = _routes(server)
    paths = {path for _, path, _ in routes}
    documented = set(create_app(server.ws).openapi()["paths"]) - OPEN
    assert paths == documented, "the walk must cover every documented route"
    assert [r for r in routes if r[2] is None] == []


def test_openapi_shows_the_key_on_every_operation_but_health(server: Server) -> None:
    schema = create_app(server.ws).openapi()
    assert set(schema["components"]["securitySchemes"]) == {"APIKeyHeader", "HTTPBearer"}
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            secured = "security" in operation
            assert secured == (path not in OPEN), path


def test_health_needs_no_key(server: Server) -> None:
    with server.client() as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        assert client.get("/openapi.json").status_code == 200


def test_every_route_times_every_role(server: Server) -> None:
    """Each role gets 403 exactly where the permission table says no, and never 401."""
    keys = {
        role: server.make_key(role, device_id="dev" if role == "device" else None) for role in ROLES
    }
    for method, path, permission in _routes(server):
        url = re.sub(r"\{project\}", "p", path)
        url = re.sub(r"\{project_id\}", str(server.project.id), url)
        url = re.sub(r"\{category\}", "training", url)
        url = re.sub(r"\{[a-z_]+\}", "1", url)
        for role, key in keys.items():
            with server.client(key) as client:
                answer = client.request(method, url, headers={"x-file-name": "x.json"})
            expected_denied = not allowed(role, permission)  # type: ignore[arg-type]
            assert (answer.status_code == 403) == expected_denied, (method, url, role, answer.text)
            assert answer.status_code != 401, (method, url, role)
            assert answer.status_code < 500, (method, url, role, answer.text)


def test_missing_and_wrong_keys_are_401_json(server: Server) -> None:
    with server.client() as client:
        missing = client.get("/api/v1/projects")
    with server.client("eo_notakey_0000000000000000000000000000") as client:
        wrong = client.get("/api/v1/projects")
    assert missing.status_code == 401 and "x-api-key" in missing.json()["error"]
    assert wrong.status_code == 401 and "invalid" in wrong.json()["error"]


def test_bearer_header_works_too(server: Server) -> None:
    key = server.make_key("viewer")
    with server.client() as client:
        answer = client.get("/api/v1/projects", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    with server.client() as client:
        basic = client.get("/api/v1/projects", headers={"Authorization": f"Basic {key}"})
    assert basic.status_code == 401


@pytest.mark.parametrize("server_limits", [ServerLimits(rate_per_key=1, burst_per_key=3)])
def test_rate_limit_answers_429_with_retry_after(server: Server) -> None:
    key = server.make_key("viewer")
    with server.client(key) as client:
        codes = [client.get("/api/v1/projects") for _ in range(5)]
    assert [c.status_code for c in codes[:3]] == [200, 200, 200]
    limited = codes[-1]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "rate limit" in limited.json()["error"]


def test_a_key_reaches_only_its_project(server: Server) -> None:
    other = server.ws.projects.create("other")
    from tests.server.conftest import key_maker

    other_key = key_maker(server.ws, other)("data-engineer")
    with server.client(other_key) as client:
        answer = client.get("/api/v1/projects/p/samples")
        own = client.get("/api/v1/projects/other/samples")
    assert answer.status_code == 403 and "another project" in answer.json()["error"]
    assert own.status_code == 200


# The studio signs people in with a cookie; these two need no permission.
STUDIO_OPEN = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout")}


def test_every_studio_route_times_every_role(server: Server) -> None:
    """Studio pages and forms: without a session a redirect to sign in; with one, 403 exactly
    where the permission table says no, even with a valid CSRF token (a forged form post)."""
    from edgeops.server.ui import session as cookies

    secret = cookies.load_secret(server.ws.settings.home)
    sessions = {}
    for role in ROLES:
        user = server.ws.users.create(f"u-{role}", "a long enough password", role)
        value = cookies.encode(secret, user.name, user.password_hash)
        csrf = cookies.csrf_token(secret, cookies.decode(secret, value))  # type: ignore[arg-type]
        sessions[role] = (value, csrf)
    routes = [
        (method, route.path, permission_of(route.dependant.dependencies))
        for router in ui.ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in sorted(route.methods)
    ]
    assert routes and [r for r in routes if r[2] is None and r[:2] not in STUDIO_OPEN] == []
    # One client per role (and one without a session), kept alive across the walk.
    clients = {role: server.client() for role in [None, *sessions]}
    for role, (cookie, _) in sessions.items():
        clients[role].cookies.set(cookies.COOKIE, cookie)
    try:
        for method, path, permission in routes:
            if (method, path) in STUDIO_OPEN:
                continue
            url = re.sub(r"\{project\}", "p", path)
            url = re.sub(r"\{[a-z_]+\}", "1", url)
            anonymous = clients[None].request(method, url)
            assert anonymous.status_code == 303, (method, url, anonymous.text)
            assert anonymous.headers["location"].startswith("/login"), (method, url)
            for role, (_, csrf) in sessions.items():
                form = {"csrf": csrf} if method == "POST" else None
                answer = clients[role].request(method, url, data=form)
                denied = not allowed(role, permission)  # type: ignore[arg-type]
                assert (answer.status_code == 403) == denied, (method, url, role, answer.text)
                assert answer.status_code < 500, (method, url, role, answer.text)
    finally:
        for client in clients.values():
            client.close()
