"""The REST API mirrors the CLI: same operations, same JSON field names."""

import numpy as np
from tests.server.conftest import Server

from edgeops.data.formats.ei import sign_ei


def _file(seed: int, key: str) -> bytes:
    values = np.random.default_rng(seed).normal(size=(20, 3)).astype(np.float32)
    payload = {
        "interval_ms": 10,
        "sensors": [{"name": a, "units": "g"} for a in "xyz"],
        "values": values.tolist(),
    }
    return sign_ei(payload, key)


def test_samples_and_versions_round_trip(server: Server) -> None:
    key = server.make_key("data-engineer")
    with server.client(key) as client:
        ids = []
        for seed in range(3):
            answer = client.post(
                "/api/v1/projects/p/samples?category=training&label=idle",
                content=_file(seed, server.project.hmac_key),
                headers={"x-file-name": f"idle.{seed}.json"},
            )
            assert answer.status_code == 201, answer.text
            ids.append(answer.json()["id"])
        listed = client.get("/api/v1/projects/p/samples").json()
        assert [row["id"] for row in listed] == ids
        assert {"id", "label", "category", "kind", "shape", "content_hash"} <= set(listed[0])
        assert client.get(f"/api/v1/projects/p/samples/{ids[0]}").json()["label"] == "idle"

        v1 = client.post("/api/v1/projects/p/versions", json={"message": "v1"}).json()
        relabel = client.post(
            "/api/v1/projects/p/samples/label", json={"ids": [ids[0]], "label": "busy"}
        )
        assert relabel.status_code == 200
        moved = client.post(
            "/api/v1/projects/p/samples/move", json={"ids": [ids[1]], "category": "testing"}
        )
        assert moved.json() == {"ids": [ids[1]], "category": "testing"}
        assert client.delete(f"/api/v1/projects/p/samples/{ids[2]}").status_code == 200
        v2 = client.post("/api/v1/projects/p/versions", json={"message": "v2"}).json()
        diff = client.get(
            f"/api/v1/projects/p/versions/{v1['short_id']}/diff/{v2['short_id']}"
        ).json()
        versions = client.get("/api/v1/projects/p/versions").json()
    assert [d["id"] for d in diff["relabelled"]] == [ids[0]]
    assert [d["id"] for d in diff["moved"]] == [ids[1]]
    assert [d["id"] for d in diff["removed"]] == [ids[2]]
    assert [v["message"] for v in versions] == ["v2", "v1"]


def test_errors_are_4xx_json_naming_the_problem(server: Server) -> None:
    key = server.make_key("data-engineer")
    with server.client(key) as client:
        missing = client.get("/api/v1/projects/p/samples/999")
        bad_label = client.post(
            "/api/v1/projects/p/samples/label", json={"ids": [1], "label": "a/b"}
        )
        bad_body = client.post("/api/v1/projects/p/samples/label", json={"ids": "x"})
        nothing = client.post("/api/v1/projects/p/versions", json={"message": "empty"})
        no_route = client.get("/api/v1/nope")
    assert missing.status_code == 404 and "no sample 999" in missing.json()["error"]
    assert bad_label.status_code in (400, 404)
    assert bad_body.status_code == 422 and "ids" in bad_body.json()["error"]
    assert nothing.status_code == 409 and "no samples" in nothing.json()["error"]
    assert no_route.status_code == 404 and "error" in no_route.json()


def test_admin_creates_projects_others_cannot(server: Server) -> None:
    admin = server.make_key("admin", own=False)
    viewer = server.make_key("viewer")
    with server.client(admin) as client:
        created = client.post("/api/v1/projects", json={"name": "pump"})
        assert created.status_code == 201 and created.json()["name"] == "pump"
        assert "hmac_key" not in created.json()
    with server.client(viewer) as client:
        assert client.post("/api/v1/projects", json={"name": "x"}).status_code == 403
