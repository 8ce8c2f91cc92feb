"""The server's OWASP API Top 10 pass: headers, CORS, TLS, mass assignment, data exposure,
secrets in logs, and object-level authorization across projects over every route."""

import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.routing import APIRoute
from sqlalchemy import select
from tests.governance.test_encryption import recording
from tests.server.conftest import Server, _free_port, key_maker, start_server
from tests.server.test_auth import OPEN, _routes

from edgeops.demo import HMAC_KEY
from edgeops.governance import keys, users
from edgeops.governance.roles import ROLES
from edgeops.server.app import ServerLimits, create_app
from edgeops.store.tables import ApiKey, User
from edgeops.workspace import Workspace

ORIGIN = "https://dashboard.example"


def test_security_headers_and_no_cors_by_default(server: Server) -> None:
    key = server.make_key("admin")
    with server.client(key) as client:
        api = client.get("/api/v1/projects")
        page = client.get("/healthz")
        preflight = client.options("/api/v1/projects", headers={
            "origin": ORIGIN, "access-control-request-method": "GET"})  # fmt: skip
        cross = client.get("/api/v1/projects", headers={"origin": ORIGIN})
    for answer in (api, page):
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in answer.headers  # plain HTTP
    assert api.headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code >= 400
    assert "access-control-allow-origin" not in cross.headers


def test_cors_only_for_the_allowed_origins(tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")
    app = create_app(ws, cors_origins=(ORIGIN,))
    from fastapi.testclient import TestClient

    with TestClient(app) as client:
        ok = client.options("/api/v1/projects", headers={
            "origin": ORIGIN, "access-control-request-method": "GET"})  # fmt: skip
        other = client.options("/api/v1/projects", headers={
            "origin": "https://evil.example", "access-control-request-method": "GET"})  # fmt: skip
    assert ok.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in other.headers
    ws.close()


def test_tls_serves_https_with_hsts(
    tmp_path: Path, self_signed: Callable[[Path], tuple[Path, Path]]
) -> None:
    cert, key = self_signed(tmp_path)
    ws = Workspace(tmp_path / "home")
    port = _free_port()
    app = create_app(ws, tls=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error",
                            ssl_certfile=str(cert), ssl_keyfile=str(key))  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(verify=trust) as client:
            answer = client.get(f"https://127.0.0.1:{port}/healthz")
        assert answer.json() == {"status": "ok"}
        assert answer.headers["strict-transport-security"].startswith("max-age=31536000")
        with pytest.raises(httpx.ConnectError):  # an untrusted certificate is refused
            httpx.get(f"https://127.0.0.1:{port}/healthz")
        with pytest.raises(httpx.HTTPError):  # and plain HTTP gets no answer
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        server.should_exit = True
        thread.join(10)
        ws.close()


def test_serve_checks_its_tls_and_cors_options(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from edgeops.cli.main import app

    runner = CliRunner()
    home = ["--home", str(tmp_path / "home")]
    assert runner.invoke(app, [*home, "init"]).exit_code == 0
    result = runner.invoke(app, [*home, "serve", "--tls-cert", str(tmp_path / "x.pem")])
    assert result.exit_code == 2 and "both --tls-cert and --tls-key" in result.output
    result = runner.invoke(app, [*home, "serve", "--cors-origin", "dashboard.example/x"])
    assert result.exit_code == 2 and "is not an origin" in result.output


def test_request_bodies_refuse_unknown_fields(server: Server) -> None:
    app = create_app(server.ws)
    lax = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            for param in route.dependant.body_params:
                model = param.field_info.annotation
                if getattr(model, "model_config", {}).get("extra") != "forbid":
                    lax.append((route.path, model))
    assert lax == []
    with server.client(server.make_key("admin")) as client:
        answer = client.post("/api/v1/projects", json={"name": "x", "id": 1, "hmac_key": "0"})
    assert answer.status_code == 422
    assert {d["where"] for d in answer.json()["details"]} == {"body.id", "body.hmac_key"}


@pytest.fixture
def two_projects(tmp_path: Path) -> Iterator[tuple[Server, dict[str, str]]]:
    """Project "alpha" (the caller's) and project "bravo" with data of its own; returns the
    server and bravo's identifiers and markers."""
    ws = Workspace(tmp_path / "home")
    alpha = ws.projects.create("alpha")
    bravo = ws.projects.create("bravo")
    ws.data.import_files([recording(tmp_path / "bravo", 7)], project="bravo",
                         hmac_key=HMAC_KEY, subject_id="bravo-subject")  # fmt: skip
    version = ws.data.commit("bravo's data", project="bravo")
    (sample,) = ws.data.samples(project="bravo")
    device, _ = ws.fleet.register("bravo-device-9", "watch", project="bravo")
    running = start_server(ws, ServerLimits())
    ids = {
        "project": "bravo",
        "project_id": str(bravo.id),
        "sample_id": str(sample.id),
        "version": version.id,
        "old": version.id,
        "new": version.id,
        "device_id": device["device_id"],
        "filename": sample.filename,
        "hmac": bravo.hmac_key,
    }
    try:
        yield Server(f"http://127.0.0.1:{running.config.port}", ws, alpha,
                     key_maker(ws, alpha)), ids  # fmt: skip
    finally:
        running.should_exit = True
        ws.close()


def test_a_key_of_one_project_never_reaches_another(
    two_projects: tuple[Server, dict[str, str]],
) -> None:
    server, bravo = two_projects
    clients = {
        role: server.client(server.make_key(role, device_id="dev" if role == "device" else None))
        for role in ROLES
    }
    markers = [bravo["version"], bravo["device_id"], bravo["filename"], bravo["hmac"],
               "bravo-subject"]  # fmt: skip
    tried = 0
    for method, path, _permission in _routes(server):
        names = set(re.findall(r"\{([a-z_]+)\}", path))
        url = path
        for name in names:
            url = url.replace("{" + name + "}", bravo.get(name, "1"))
        aims_at_bravo = bool(names & {"project", "project_id"})
        for role, client in clients.items():
            body = {} if method in ("POST", "PUT", "PATCH") else None
            answer = client.request(method, url, headers={"x-file-name": "x.json"}, json=body)
            tried += 1
            where = (method, url, role, answer.status_code, answer.text[:200])
            assert answer.status_code < 500, where
            if aims_at_bravo:
                assert answer.status_code in (400, 403, 404, 405, 409, 422), where
            for marker in markers:  # an error may echo the URL: only what it did not send
                assert marker in url or marker not in answer.text, where
    for client in clients.values():
        client.close()
    assert tried > 100
    # Nothing of bravo changed.
    assert len(server.ws.data.samples(project="bravo")) == 1
    assert server.ws.fleet.device(bravo["device_id"], project="bravo")["revoked_at"] is None


def test_responses_never_carry_secrets_or_their_hashes(server: Server) -> None:
    admin = server.make_key("admin", own=False)
    with server.ws.session() as session:
        users.create_user(session, "erin", "correct horse battery", "viewer", "test")
        session.commit()
        stored = [*session.scalars(select(ApiKey.secret_hash)),
                  *session.scalars(select(User.password_hash))]  # fmt: skip
    secrets = [admin, *stored, "correct horse battery"]
    with server.client(admin) as client:
        for method, path, _ in _routes(server):
            if method != "GET":
                continue
            url = re.sub(r"\{project\}", "p", path)
            url = re.sub(r"\{project_id\}", str(server.project.id), url)
            answer = client.get(re.sub(r"\{[a-z_]+\}", "1", url))
            for secret in secrets:
                assert secret not in answer.text, (path, answer.text[:200])


def test_secrets_never_reach_the_logs(server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = server.make_key("admin")
    with server.ws.session() as session:
        _, other = keys.create_key(session, role="viewer", project=server.project,
                                   name="logged?", actor="test")  # fmt: skip
        users.create_user(session, "frank", "tr0ub4dor&3!", "viewer", "test")
        session.commit()
        assert users.authenticate_user(session, "frank", "tr0ub4dor&3!") is not None
    with server.client(secret) as client:
        assert client.get("/api/v1/projects").status_code == 200
        assert client.get("/api/v1/projects", headers={"x-api-key": other[:-1]}).status_code == 401
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    for value in (secret, other, other[:-1], other[16:], "tr0ub4dor&3!"):
        assert value not in logged


def test_the_walk_covers_the_governance_routes(server: Server) -> None:
    paths = {path for _, path, _ in _routes(server)}
    assert "/api/v1/projects/{project}/privacy/erase" in paths
    assert OPEN.isdisjoint(paths)
