"""The model registry over HTTP mirrors `edgeops models`: same fields, roles enforced."""

from pathlib import Path

from tests.server.conftest import Server

from edgeops.demo import HMAC_KEY, NN_LEARNER, RECIPE, write_recordings
from edgeops.recipes.spec import load_recipe

TREES = RECIPE.replace(NN_LEARNER, "name: trees\n  params: {trees: 3, max_depth: 3}")


def _two_models(server: Server, tmp_path: Path) -> None:
    ws = server.ws
    ws.data.import_files(write_recordings(tmp_path / "rec"), project="p", hmac_key=HMAC_KEY)
    ws.data.commit("v1", project="p")
    ws.train(load_recipe(TREES), project="p", seed=0)
    ws.train(load_recipe(TREES), project="p", seed=1, parent="v1")


def test_list_show_compare_alias(server: Server, tmp_path: Path) -> None:
    _two_models(server, tmp_path)
    with server.client(server.make_key("ml-engineer")) as client:
        listed = client.get("/api/v1/projects/p/models").json()
        assert [m["model"] for m in listed] == ["v1", "v2"]
        assert "metrics" not in listed[0] and listed[1]["parent"] == "v1"
        shown = client.get("/api/v1/projects/p/models/latest").json()
        assert shown["model"] == "v2" and shown["metrics"]["testing"]["accuracy"] >= 0.5
        assert shown == server.ws.models.show("v2", project="p")
        compared = client.get("/api/v1/projects/p/models/compare", params={"a": "v1", "b": "v2"})
        assert compared.json()["lineage_differs"]["seed"] == {"a": 0, "b": 1}
        moved = client.put("/api/v1/projects/p/models/aliases/production", json={"model": "v2"})
        assert moved.json() == {"alias": "production", "model": "v2", "before": None}
        assert client.get("/api/v1/projects/p/models/production").json()["model"] == "v2"
        missing = client.get("/api/v1/projects/p/models/v9")
        assert missing.status_code == 404 and "no model v9" in missing.json()["error"]
        bad = client.put("/api/v1/projects/p/models/aliases/live", json={"model": "v1"})
        assert bad.status_code == 400 and "not one of" in bad.json()["error"]
    with server.client(server.make_key("viewer")) as client:
        assert client.get("/api/v1/projects/p/models").status_code == 200
        denied = client.put("/api/v1/projects/p/models/aliases/staging", json={"model": "v1"})
        assert denied.status_code == 403
    assert server.ws.audit.events(action="model.alias")[0].actor.startswith("key:")
