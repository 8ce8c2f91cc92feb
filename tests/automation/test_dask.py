"""The Dask executor gives the same features as the local ones, on a real LocalCluster."""

import hashlib
from collections.abc import Iterator

import pytest
from tests.automation.conftest import RECIPE, T0

from edgeops.errors import InvalidInput
from edgeops.recipes.executor import DaskExecutor, InlineExecutor, LocalExecutor, executor_for
from edgeops.recipes.extract import extract
from edgeops.recipes.spec import Recipe
from edgeops.workspace import Workspace

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local.scheduler_address


def _drop_cache(ws: Workspace) -> None:
    if ws.blobs.fs.exists(f"{ws.blobs.root}/features"):
        ws.blobs.fs.rm(f"{ws.blobs.root}/features", recursive=True)


def _digest(ws: Workspace, executor: object) -> str:
    recipe = Recipe.model_validate(RECIPE)
    _drop_cache(ws)  # each executor must compute, not read what the previous one wrote
    found = extract(ws, recipe, ws.data.versions()[0].id, workers=2, executor=executor)  # type: ignore[arg-type]
    assert found.misses == 16 and found.hits == 0
    return hashlib.sha256(found.X.tobytes()).hexdigest()


def test_dask_features_match_local_ones(auto_ws: Workspace, cluster: str) -> None:
    ws = auto_ws
    ws.data.commit("all")
    dask = DaskExecutor(cluster.replace("tcp://", "dask://"))
    try:
        digests = {
            name: _digest(ws, executor)
            for name, executor in (
                ("inline", InlineExecutor()),
                ("local", LocalExecutor(2)),
                ("dask", dask),
            )
        }
    finally:
        dask.close()
    assert len(set(digests.values())) == 1, digests


def test_features_step_runs_on_the_cluster_named_by_the_setting(
    auto_ws: Workspace, cluster: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = auto_ws
    spec = {
        "name": "features",
        "steps": [
            {"id": "data", "type": "commit-data"},
            {
                "id": "features",
                "type": "features",
                "with": {"recipe": RECIPE, "data": "${data.version}"},
            },
        ],
    }
    ws.automation.apply(spec)
    ws.automation.run("features", now=T0)
    ws.automation.run_until_idle(T0)
    local = ws.automation.runs()[0]
    _drop_cache(ws)
    monkeypatch.setenv("EDGEOPS_EXECUTOR", cluster.replace("tcp://", "dask://"))
    assert isinstance(executor_for(None, 10), DaskExecutor)
    spec["steps"][1]["with"]["workers"] = 2  # type: ignore[index]  # a new version: a new key
    ws.automation.apply(spec)
    ws.automation.run("features", now=T0)
    ws.automation.run_until_idle(T0)
    remote = ws.automation.runs()[0]
    outputs = [
        ws.automation.get_run(r["id"])["lineage"]["produced"]["features"] for r in (local, remote)
    ]
    assert outputs[0]["features_hash"] == outputs[1]["features_hash"]
    assert "DaskExecutor" in ws.automation.logs(remote["id"])


def test_unknown_executor_setting_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="dask://host:port"):
        executor_for(2, 10, "spark://x")
