"""The governance REST API: reports, subjects' requests, retention and encryption over HTTP."""

import io
import zipfile
from pathlib import Path

import httpx
from tests.governance.test_fairness import write_project
from tests.server.conftest import key_maker, start_server

from edgeops.server.app import ServerLimits

SUBJECT = "participant-api-7"


def test_reports_privacy_retention_and_encryption_over_http(tmp_path: Path) -> None:
    ws, recipe = write_project(tmp_path, biased=True, subjects={2: SUBJECT})
    ws.train(recipe, seed=1)
    running = start_server(ws, ServerLimits())
    base = f"http://127.0.0.1:{running.config.port}/api/v1/projects/fair"
    make_key = key_maker(ws, ws.projects.get("fair"))
    admin, viewer = make_key("admin"), make_key("viewer")
    try:
        with httpx.Client(base_url=base, headers={"x-api-key": admin}, timeout=120) as client:
            card = client.get("/reports/model-card/v1", params={"format": "markdown"})
            assert card.status_code == 200 and card.text.startswith("# ")
            assert card.headers["content-type"].startswith("text/markdown")
            assert client.get("/reports/model-card/v1").json()["facts"]["model"]["number"] == 1
            fairness = client.get("/reports/fairness/v1", params={"by": "site"}).json()
            assert fairness["by"] == "site" and fairness["passed"] is False
            assert client.get("/reports/fairness/v1").status_code == 422  # `by` is required
            bundle = client.get("/reports/compliance/v1", params={"by": "site"})
            with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
                assert {"model-card.md", "data-lineage.json"} <= set(archive.namelist())

            assert client.get("/privacy/retention").json()["raw_sample_days"] is None
            policy = client.put("/privacy/retention", json={"raw_sample_days": 30}).json()
            assert policy["raw_sample_days"] == 30 and policy["updated_by"].startswith("key:")
            assert client.put("/privacy/retention", json={"raw_sample_days": 0}).status_code == 422
            plan = client.post("/privacy/retention/apply", json={"dry_run": True}).json()
            assert plan["expired"] == [] and plan["dry_run"] is True

            assert client.get("/privacy/encryption").json()["encrypted"] is False
            sealed = client.post("/privacy/encryption/enable").json()
            assert sealed["encrypted"] and sealed["blobs_sealed"] == 2 * len(ws.data.samples())

            exported = client.post("/privacy/export", json={"subject": SUBJECT})
            with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
                assert any(name.startswith("samples/fair/") for name in archive.namelist())
            erased = client.post("/privacy/erase", json={"subject": SUBJECT, "reason": "#9"})
            (part,) = erased.json()["projects"]
            assert part["samples_erased"] == 1 and part["key_shredded"] is True
            assert erased.json()["requested_by"].startswith("key:")
            again = client.post("/privacy/export", json={"subject": SUBJECT})
            assert again.status_code == 404
        with httpx.Client(base_url=base, headers={"x-api-key": viewer}, timeout=60) as client:
            assert client.post("/privacy/erase", json={"subject": SUBJECT}).status_code == 403
            assert client.get("/reports/compliance/v1").status_code == 403
            assert client.get("/privacy/retention").status_code == 200
    finally:
        running.should_exit = True
        ws.close()
