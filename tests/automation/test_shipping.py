"""Build and release steps, and gate budgets checked against a build or the IR estimate."""

import io
import zipfile
from typing import Any

import pytest
from tests.automation.conftest import RECIPE, T0

from edgeops.automation import estimates
from edgeops.errors import InvalidInput
from edgeops.workspace import Workspace


def _spec(*steps: dict[str, Any], name: str = "ship") -> dict[str, Any]:
    return {
        "name": name,
        "steps": [
            {"id": "data", "type": "commit-data"},
            {"id": "train", "type": "train", "with": {"recipe": RECIPE, "data": "${data.version}"}},
            *steps,
        ],
    }


BUILD = {"id": "build", "type": "build", "with": {"model": "${train.model}", "target": "c"}}
RELEASE = {
    "id": "release",
    "type": "release",
    "with": {"archive": "${build.archive}", "device_type": "sensor", "model": "${build.model}"},
}


def _gate(**budgets: float) -> dict[str, Any]:
    return {"id": "gate", "type": "gate", "with": {"candidate": "${train.model}", **budgets}}


def _run(ws: Workspace, spec: dict[str, Any]) -> dict[str, Any]:
    ws.automation.apply(spec)
    run = ws.automation.run(spec["name"], now=T0)
    assert run is not None
    ws.automation.run_until_idle(T0)
    return ws.automation.get_run(run["id"])


def _steps(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {step["step"]: step for step in run["steps"]}


def test_build_gate_release_ships_the_built_archive(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.fleet.signing_init()
    gate = _gate(max_flash_bytes=1_000_000, max_ram_bytes=1_000_000, max_latency_ms=100)
    again = {**RELEASE, "id": "again"}  # the same archive again: the same release, no second
    done = _run(ws, _spec(BUILD, gate, RELEASE, again))
    assert done["status"] == "succeeded", done
    steps = _steps(done)
    build = steps["build"]["output"]
    assert build["model"] == "v1" and build["precision"] == "float"
    assert ws.models.show("v1")["artifacts"]["build/c/float"] == build["archive"]
    budgets = steps["gate"]["output"]["budgets"]
    assert budgets["flash_bytes"] == {
        "value": build["flash_bytes"],
        "source": f"build build, {build['measured_on']}",
        "limit": 1_000_000,
    }
    assert budgets["latency_ms"]["value"] == build["latency_ms"]
    release = steps["release"]["output"]
    assert release["release"] == "sensor/1.0.0" and release["model"] == "v1"
    assert steps["again"]["output"]["release"] == "sensor/1.0.0"
    assert [r["version"] for r in ws.fleet.releases()] == ["1.0.0"]
    shipped = ws.fleet.release("sensor/1.0.0")["artifacts"][0]
    assert shipped["name"] == "model.zip" and shipped["sha256"] == build["archive"]
    names = zipfile.ZipFile(io.BytesIO(ws.blobs.get(shipped["sha256"]))).namelist()
    assert any(name.endswith(".c") for name in names), names


def test_next_run_releases_the_next_patch_version(auto_ws: Workspace, tmp_path: Any) -> None:
    ws = auto_ws
    ws.fleet.signing_init()
    first = _run(ws, _spec(BUILD, RELEASE))
    assert _steps(first)["release"]["output"]["version"] == "1.0.0"
    ws.fleet.create_release("sensor", "1.0.7", {"other.bin": b"x"}, now=T0)
    second = _run(ws, _spec(BUILD, RELEASE))  # same build, but 1.0.7 is newer: a new release
    assert second["status"] == "succeeded", second
    assert _steps(second)["release"]["output"]["version"] == "1.0.8"


def test_release_without_signing_keys_stops_with_what_to_do(auto_ws: Workspace) -> None:
    done = _run(auto_ws, _spec(BUILD, RELEASE))
    assert done["status"] == "stopped", done
    assert "has no update signing keys" in done["reason"]
    assert "edgeops keys signing init" in done["reason"]
    assert _steps(done)["release"]["attempts"] == 1  # not retried: it cannot succeed as is
    assert auto_ws.fleet.releases() == []


def test_gate_budget_uses_the_build_and_stops_an_oversized_model(auto_ws: Workspace) -> None:
    done = _run(auto_ws, _spec(BUILD, _gate(max_flash_bytes=100)))
    assert done["status"] == "stopped", done
    flash = _steps(done)["build"]["output"]["flash_bytes"]
    assert f"flash_bytes {flash} (build build, " in done["reason"]
    assert "exceeds the budget 100" in done["reason"]


def test_gate_without_a_build_checks_the_ir_estimate(auto_ws: Workspace) -> None:
    done = _run(auto_ws, _spec(_gate(max_ram_bytes=1_000_000, max_latency_ms=0.0001)))
    assert done["status"] == "stopped", done
    assert "IR estimate" in done["reason"] and "latency_ms" in done["reason"]
    assert "ram_bytes" not in done["reason"]  # within its budget
    log = auto_ws.automation.logs(done["id"])
    assert "ram_bytes " in log and "IR estimate, float, cortex-m4f" in log


def test_ir_estimate_is_close_to_what_the_compiler_measures(auto_ws: Workspace) -> None:
    from edgeops.targets.prepare import load

    done = _run(auto_ws, _spec(BUILD))
    build = _steps(done)["build"]["output"]
    guess = estimates.of_graph(load(auto_ws, "v1", quantized=False).float_graph, False)
    assert guess.constants_bytes < guess.flash_bytes
    assert 0.5 <= guess.flash_bytes / build["flash_bytes"] <= 2.0, (guess, build)
    assert guess.latency_ms == build["latency_ms"]  # the same cycle model
    with pytest.raises(InvalidInput, match="unknown device profile"):
        estimates.of_graph(load(auto_ws, "v1", quantized=False).float_graph, False, "z80")
