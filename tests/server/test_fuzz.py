"""Hostile input over real HTTP: whatever arrives, the answer is never a 5xx."""

import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.server.conftest import Server

from edgeops.data.formats.ei import sign_ei

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(
    str.strip
)
VALID = {
    "device_name": "d",
    "interval_ms": 10,
    "sensors": [{"name": "x", "units": "g"}],
    "values": [[1.0], [2.0]],
}


@FUZZ
@given(
    body=st.one_of(st.binary(max_size=2000), st.just(sign_ei(VALID, "fuzz-key"))),
    category=st.sampled_from(["training", "testing", "split", "anomaly", "x"]),
    name=header_text,
    label=st.one_of(st.none(), header_text),
    metadata=st.one_of(st.none(), header_text, st.just(json.dumps({"a": "b"}))),
    flags=st.dictionaries(
        st.sampled_from(["x-no-label", "x-disallow-duplicates", "x-add-date-id"]), header_text
    ),
)
def test_ei_data_endpoint_never_fails_with_5xx(
    server: Server,
    body: bytes,
    category: str,
    name: str,
    label: str | None,
    metadata: str | None,
    flags: dict[str, str],
) -> None:
    headers = {"x-api-key": _device_key(server), "x-file-name": name, **flags}
    if label is not None:
        headers["x-label"] = label
    if metadata is not None:
        headers["x-metadata"] = metadata
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.post(f"/api/{category}/data", content=body, headers=headers)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert "error" in answer.json()


@FUZZ
@given(parts=st.lists(st.tuples(header_text, st.binary(max_size=500)), max_size=5))
def test_ei_files_endpoint_never_fails_with_5xx(
    server: Server, parts: list[tuple[str, bytes]]
) -> None:
    files = [
        ("data", (name or "x", content, "application/octet-stream")) for name, content in parts
    ]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        if files:
            answer = client.post("/api/split/files", files=files, headers=_headers(server))
        else:
            answer = client.post(
                "/api/split/files", content=b"--garbage--", headers=_headers(server)
            )
    assert answer.status_code < 500, answer.text


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/api/v1/projects/p/samples/label",
            "/api/v1/projects/p/samples/move",
            "/api/v1/projects/p/versions",
            "/api/v1/projects",
        ]
    ),
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=20),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(st.text(max_size=8), inner, max_size=4)
            ),
            max_leaves=10,
        ).map(lambda value: json.dumps(value).encode()),
    ),
)
def test_api_bodies_never_fail_with_5xx(server: Server, path: str, body: bytes) -> None:
    headers = {"x-api-key": _admin_key(server), "content-type": "application/json"}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        answer = client.post(path, content=body, headers=headers)
    assert answer.status_code < 500, answer.text


def _device_key(server: Server) -> str:
    return _cached(server, "device")


def _admin_key(server: Server) -> str:
    return _cached(server, "admin")


def _headers(server: Server) -> dict[str, str]:
    return {"x-api-key": _device_key(server)}


_KEYS: dict[tuple[str, str], str] = {}


def _cached(server: Server, role: str) -> str:
    """One key per server and role (hypothesis reuses the fixture across examples)."""
    if (server.url, role) not in _KEYS:
        _KEYS[(server.url, role)] = server.make_key(
            role, device_id="fuzz" if role == "device" else None
        )
    return _KEYS[(server.url, role)]
