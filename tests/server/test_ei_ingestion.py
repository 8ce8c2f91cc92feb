"""Edge Impulse-compatible ingestion over real HTTP."""

import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import cbor2
import numpy as np
import pytest
from tests.server.conftest import Server

from edgeops.data.formats.ei import sign_ei
from edgeops.governance import audit
from edgeops.server.app import ServerLimits

PAYLOAD = {
    "device_name": "ac:87:a3:0a:2d:1b",
    "device_type": "DISCO-L475VG-IOT01A",
    "interval_ms": 10,
    "sensors": [{"name": f"acc{a}", "units": "m/s2"} for a in "XYZ"],
    "values": [[-9.81, 0.03, 1.21], [-9.83, 0.04, 1.25], [-9.12, 0.03, 1.23]],
}


def _payload(seed: int) -> dict[str, object]:
    values = np.random.default_rng(seed).normal(size=(50, 3)).astype(np.float32)
    return {**PAYLOAD, "values": values.tolist()}


def test_signed_json_to_data_endpoint_is_stored_with_label_and_category(server: Server) -> None:
    key = server.make_key("device", device_id="dev-1")
    body = sign_ei(PAYLOAD, server.project.hmac_key)
    headers = {
        "x-file-name": "idle.01.json",
        "x-label": quote("idle fast"),
        "content-type": "application/json",
    }
    with server.client(key) as client:
        answer = client.post("/api/training/data", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.text == "idle.01.json"
    [sample] = server.ws.data.samples()
    assert (sample.label, sample.category, sample.device_id) == ("idle fast", "training", "dev-1")
    assert server.ws.data.original(sample) == body
    assert sample.meta["signature"] == "verified"


def test_wrong_signature_and_missing_file_name_are_400_json(server: Server) -> None:
    key = server.make_key("device", device_id="dev-1")
    body = sign_ei(PAYLOAD, "another-key")
    with server.client(key) as client:
        bad = client.post("/api/training/data", content=body, headers={"x-file-name": "a.json"})
        unnamed = client.post("/api/training/data", content=body)
    assert bad.status_code == 400 and "signature does not match" in bad.json()["error"]
    assert unnamed.status_code == 400 and "x-file-name" in unnamed.json()["error"]
    assert server.ws.data.samples() == []


def test_device_cbor_with_half_floats_and_indefinite_arrays(server: Server) -> None:
    """What EI firmware sends: CBOR, half-precision floats, indefinite-length arrays."""
    key = server.make_key("device", device_id="dev-2")
    rows = [[0.5, -1.25, 2.0], [1.5, 0.25, -0.5]]
    encoded_rows = b"".join(
        b"\x9f" + b"".join(b"\xf9" + np.float16(v).tobytes()[::-1] for v in row) + b"\xff"
        for row in rows
    )
    message = {
        "protected": {"ver": "v1", "alg": "HS256", "iat": 1603914126},
        "signature": "0" * 64,
        "payload": {**PAYLOAD, "values": "@@VALUES@@"},
    }
    encoded = cbor2.dumps(message)
    placeholder = cbor2.dumps("@@VALUES@@")
    body = encoded.replace(placeholder, b"\x9f" + encoded_rows + b"\xff")
    import hashlib
    import hmac

    signature = hmac.new(server.project.hmac_key.encode(), body, hashlib.sha256).hexdigest()
    body = body.replace(("0" * 64).encode(), signature.encode())
    with server.client(key) as client:
        answer = client.post(
            "/api/testing/data",
            content=body,
            headers={"x-file-name": "wave.cbor", "content-type": "application/cbor"},
        )
    assert answer.status_code == 200, answer.text
    [sample] = server.ws.data.samples()
    np.testing.assert_array_equal(server.ws.data.values(sample), np.array(rows, np.float32))
    assert sample.original_format == "ei-cbor" and sample.category == "testing"


def test_multipart_files_give_a_result_per_file(server: Server) -> None:
    key = server.make_key("data-engineer")
    hmac_key = server.project.hmac_key
    files = [
        ("data", ("idle.1.json", sign_ei(_payload(1), hmac_key), "application/json")),
        ("data", ("idle.2.json", sign_ei(_payload(2), hmac_key), "application/json")),
        ("data", ("broken.json", b"{not json", "application/json")),
    ]
    with server.client(key) as client:
        answer = client.post("/api/split/files", files=files)
    assert answer.status_code == 200
    result = answer.json()
    assert result["success"] is False
    assert [f["success"] for f in result["files"]] == [True, True, False]
    ids = [f["sampleId"] for f in result["files"][:2]]
    assert sorted(s.id for s in server.ws.data.samples()) == sorted(ids)
    assert {s.label for s in server.ws.data.samples()} == {"idle"}  # from the file names


def test_duplicates_are_refused_only_when_asked(server: Server) -> None:
    key = server.make_key("device", device_id="dev-1")
    body = sign_ei(_payload(7), server.project.hmac_key)
    with server.client(key) as client:
        first = client.post("/api/training/data", content=body, headers={"x-file-name": "a.json"})
        again = client.post("/api/training/data", content=body, headers={"x-file-name": "a.json"})
        refused = client.post(
            "/api/training/data",
            content=body,
            headers={"x-file-name": "a.json", "x-disallow-duplicates": "1"},
        )
    assert first.status_code == again.status_code == 200
    assert refused.status_code == 400 and "already holds this data" in refused.json()["error"]
    assert len(server.ws.data.samples()) == 1


@pytest.mark.parametrize("server_limits", [ServerLimits(key_cache_s=0)])
def test_unsigned_data_follows_the_project_setting(server: Server) -> None:
    key = server.make_key("device", device_id="dev-1")
    unsigned = json.dumps(
        {"protected": {"ver": "v1", "alg": "none"}, "signature": "", "payload": PAYLOAD}
    ).encode()
    with server.client(key) as client:
        allowed = client.post(
            "/api/training/data",
            content=unsigned,
            headers={"x-file-name": "u.json", "x-no-label": "1"},
        )
    assert allowed.status_code == 200, allowed.text
    assert server.ws.data.samples()[0].label is None
    with server.ws.session() as session:
        project = session.get(type(server.project), server.project.id)
        assert project is not None
        project.allow_unsigned = False
        session.commit()
    with server.client(key) as client:
        refused = client.post(
            "/api/training/data",
            content=unsigned.replace(b"-9.81", b"-9.80"),
            headers={"x-file-name": "u2.json"},
        )
    assert refused.status_code == 400 and "not signed" in refused.json()["error"]


def test_metadata_header_and_bad_headers(server: Server) -> None:
    key = server.make_key("device", device_id="dev-1")
    body = sign_ei(_payload(3), server.project.hmac_key)
    with server.client(key) as client:
        ok = client.post(
            "/api/training/data",
            content=body,
            headers={"x-file-name": "m.json", "x-metadata": '{"site": "line 3"}'},
        )
        bad = client.post(
            "/api/training/data",
            content=body,
            headers={"x-file-name": "m.json", "x-metadata": "[1]"},
        )
        unknown = client.post(
            "/api/validation/data", content=body, headers={"x-file-name": "m.json"}
        )
    assert ok.status_code == 200
    assert server.ws.data.samples()[0].meta["site"] == "line 3"
    assert bad.status_code == 400 and "x-metadata" in bad.json()["error"]
    assert unknown.status_code == 404 and "unknown category" in unknown.json()["error"]


@pytest.mark.parametrize("server_limits", [ServerLimits(max_body_bytes=2048)])
def test_oversized_body_is_413_json(server: Server) -> None:
    key = server.make_key("device", device_id="dev-1")
    with server.client(key) as client:
        answer = client.post(
            "/api/training/data", content=b"x" * 5000, headers={"x-file-name": "a.json"}
        )
    assert answer.status_code == 413 and "limit" in answer.json()["error"]


def test_studio_calls_the_clients_make(server: Server) -> None:
    key = server.make_key("device", device_id="dev-1")
    with server.client(key) as client:
        listed = client.get("/v1/api/projects").json()
        project_id = listed["projects"][0]["id"]
        info = client.get(f"/v1/api/{project_id}").json()
        devkeys = client.get(f"/v1/api/{project_id}/devkeys").json()
        other = client.get(f"/v1/api/{project_id + 1}")
    assert listed["success"] and [p["name"] for p in listed["projects"]] == ["p"]
    assert info["project"]["name"] == "p"
    assert devkeys["hmacKey"] == server.project.hmac_key
    assert other.status_code == 404


def test_concurrent_uploads_are_all_acknowledged_stored_and_audited(server: Server) -> None:
    """Uploads from many clients at once share group commits: every 200 is a stored sample,
    each in exactly one audit event, and the chain verifies."""
    key = server.make_key("device", device_id="dev-1")
    bodies = [sign_ei(_payload(1000 + seed), server.project.hmac_key) for seed in range(48)]

    def upload(index: int) -> str:
        headers = {"x-file-name": f"burst.{index}.json", "content-type": "application/json"}
        with server.client(key) as client:
            answer = client.post("/api/training/data", content=bodies[index], headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.text

    with ThreadPoolExecutor(max_workers=8) as pool:
        names = list(pool.map(upload, range(len(bodies))))
    assert names == [f"burst.{index}.json" for index in range(len(bodies))]
    stored = {s.filename: s for s in server.ws.data.samples() if s.filename in names}
    assert sorted(stored) == sorted(names)
    assert {server.ws.data.original(s) for s in stored.values()} == set(bodies)
    with server.ws.session() as session:
        events = audit.events(session, action="sample.ingest")
        logged = [i for event in events for i in event.details["ids"]]
        assert audit.verify(session).ok
    assert sorted(i for i in logged if i in {s.id for s in stored.values()}) == sorted(
        s.id for s in stored.values()
    )


def test_the_fast_path_answers_like_the_documented_route(server: Server) -> None:
    """`POST /api/{category}/data` is served by the `FastUpload` middleware, before the stack;
    a request with an Origin header goes through the stack to the FastAPI route. Both must
    answer every request alike: keys, roles, categories, errors and security headers."""
    viewer, device = server.make_key("viewer"), server.make_key("device", device_id="d")
    signed = sign_ei(PAYLOAD, server.project.hmac_key)
    cases: list[tuple[str | None, str, dict[str, str], bytes]] = [
        (None, "/api/training/data", {"x-file-name": "a.json"}, signed),
        (viewer, "/api/training/data", {"x-file-name": "a.json"}, signed),
        (device, "/api/nowhere/data", {"x-file-name": "a.json"}, signed),
        (device, "/api/training/data", {}, signed),
        (device, "/api/training/data", {"x-file-name": "a.json", "x-metadata": "[1"}, signed),
        (device, "/api/training/data", {"x-file-name": "a.json"}, b"{not json"),
        (device, "/api/anomaly/data", {"x-file-name": "a.json"}, signed),
    ]
    answers = []
    for key, path, headers, body in cases:
        pair = []
        for origin in ({}, {"origin": "https://elsewhere.example"}):
            with server.client(key) as client:
                pair.append(client.post(path, content=body, headers={**headers, **origin}))
        answers.append(pair)
    for (fast, stack), case in zip(answers, cases, strict=True):
        assert fast.status_code == stack.status_code, case
        assert fast.headers["content-type"] == stack.headers["content-type"], case
        assert fast.content == stack.content, case
        for header in ("content-security-policy", "x-content-type-options", "cache-control"):
            assert fast.headers[header] == stack.headers[header], (case, header)
    statuses = [fast.status_code for fast, _ in answers]
    assert statuses == [401, 403, 404, 400, 400, 400, 200]
    assert "data.ingest" in answers[1][0].json()["error"]
    [sample] = server.ws.data.samples()  # the same data twice is one sample
    assert (sample.category, sample.meta["ei_category"]) == ("testing", "anomaly")
    with server.client(device) as client:
        assert client.get("/api/training/data").status_code == 405


@pytest.mark.parametrize("server_limits", [ServerLimits(rate_per_key=1, burst_per_key=2)])
def test_the_fast_path_limits_the_rate_per_key(server: Server) -> None:
    device = server.make_key("device", device_id="d")
    with server.client(device) as client:
        codes = [
            client.post("/api/training/data", content=b"x", headers={"x-file-name": "a.json"})
            for _ in range(4)
        ]
    assert [c.status_code for c in codes[:2]] == [400, 400]  # let through, then refused as JSON
    limited = codes[-1]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "rate limit" in limited.json()["error"]
    assert limited.headers["x-frame-options"] == "DENY"
