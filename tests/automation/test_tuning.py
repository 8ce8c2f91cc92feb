"""The tuner: candidates, the Pareto front, budgets, executors, the CLI and the tune step."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.automation.conftest import RECIPE, T0, add_samples
from typer.testing import CliRunner

from edgeops.automation.pareto import front
from edgeops.automation.tuning import Budget, candidates, parse_latency, parse_size, tune
from edgeops.errors import InvalidInput
from edgeops.recipes.executor import InlineExecutor, LocalExecutor
from edgeops.recipes.spec import Recipe, load_recipe_file, recipe_hash
from edgeops.workspace import Workspace

SPECTRAL = {
    **RECIPE,
    "features": [{"name": "spectral", "params": {"fft_length": 32, "bands": 4}}],
}


def test_sizes_and_latencies_parse() -> None:
    assert parse_size("64KB") == parse_size("64 KiB") == 65536
    assert parse_size("1.5MB") == 1572864 and parse_size("4096") == 4096
    assert parse_latency("50ms") == 50 and parse_latency("500us") == 0.5
    assert parse_latency("0.1s") == 100
    with pytest.raises(InvalidInput, match="64KB"):
        parse_size("lots")
    with pytest.raises(InvalidInput, match="50ms"):
        parse_latency("soon")


def test_front_keeps_exactly_the_points_nothing_beats() -> None:
    points: list[tuple[float, float, float, float]] = [
        (0.9, 100, 10, 1.0),
        (0.8, 50, 10, 1.0),  # smaller: on the front
        (0.8, 120, 10, 1.0),  # beaten by the first everywhere
        (0.9, 100, 10, 1.0),  # equal to the first: stays with it
        (0.95, 100, 20, 1.0),  # more accurate, more RAM: on the front
    ]
    assert front(points) == [0, 1, 3, 4]


def test_candidates_start_from_the_recipe_and_vary_blocks_and_model() -> None:
    found = candidates(Recipe.model_validate(SPECTRAL), 12, seed=1)
    assert recipe_hash(found[0]) == recipe_hash(Recipe.model_validate(SPECTRAL))
    assert len({recipe_hash(r) for r in found}) == 12
    assert {r.features[0].params["fft_length"] for r in found} == {16, 32, 64}
    assert len({(r.learner.params["trees"], r.learner.params["max_depth"]) for r in found}) > 3
    assert [recipe_hash(r) for r in candidates(Recipe.model_validate(SPECTRAL), 12, seed=1)] == [
        recipe_hash(r) for r in found
    ]  # seeded: the same search again
    nn = {**RECIPE, "learner": {"name": "nn-classifier",
                                "params": {"layers": [{"dense": 8}, {"dense": 4}]}}}  # fmt: skip
    layers = {str(r.learner.params["layers"]) for r in candidates(Recipe.model_validate(nn), 6)}
    assert "[{'dense': 16}, {'dense': 8}]" in layers and "[{'dense': 4}]" in layers


def test_budget_excludes_trials_and_the_most_accurate_fitting_one_wins(
    auto_ws: Workspace,
) -> None:
    ws = auto_ws
    ws.data.commit("all")
    everything = tune(ws, Recipe.model_validate(RECIPE), trials=6)
    sizes = sorted(t["flash_bytes"] for t in everything.trials)
    assert sizes[0] < sizes[-1]
    budget = Budget(flash_bytes=sizes[len(sizes) // 2])
    result = tune(ws, Recipe.model_validate(RECIPE), trials=6, budget=budget)
    fitting = [t for t in result.trials if t["flash_bytes"] <= budget.flash_bytes]
    assert [t["fits"] for t in result.trials] == [
        t["flash_bytes"] <= budget.flash_bytes for t in result.trials
    ]
    assert result.chosen is not None and result.trials[result.chosen]["fits"]
    assert result.trials[result.chosen]["accuracy"] == max(t["accuracy"] for t in fitting)
    assert result.chosen in result.front
    assert result.held_out_samples >= 1
    tight = tune(ws, Recipe.model_validate(RECIPE), trials=6, budget=Budget(flash_bytes=10))
    assert tight.chosen is None and tight.recipe is None
    assert all(t["misses"][0].startswith("flash_bytes ") for t in tight.trials)


def test_trials_in_a_process_pool_equal_trials_inline(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.data.commit("all")

    def rows(executor: Any) -> list[dict[str, Any]]:
        return tune(ws, Recipe.model_validate(RECIPE), trials=4, executor=executor).trials

    assert rows(LocalExecutor(2)) == rows(InlineExecutor())


def test_cli_writes_the_chosen_recipe_and_the_plot(tmp_path: Path) -> None:
    from edgeops.cli.main import app

    ws = Workspace(tmp_path / "home")  # embedded, as a user's: the CLI finds it by --home
    ws.projects.create("test")
    ws.settings.project = "test"
    add_samples(ws, tmp_path / "samples", 16)
    ws.data.commit("all")
    ws.close()
    start = tmp_path / "tiny.yaml"
    start.write_text(yaml.safe_dump(RECIPE))
    result = CliRunner().invoke(
        app,
        ["--home", str(tmp_path / "home"), "tune", "--recipe", str(start), "--trials", "4",
         "--budget-flash", "64KB", "--budget-latency", "5ms", "--project", "test"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "chosen: trial" in result.output and "front" in result.output
    chosen = load_recipe_file(tmp_path / "tiny.tuned.yaml")
    assert f"→ {recipe_hash(chosen)[:12]})" in " ".join(result.output.split())
    assert (tmp_path / "tiny.tuned.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _spec(tune_with: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "tuned",
        "steps": [
            {"id": "data", "type": "commit-data"},
            {"id": "tune", "type": "tune",
             "with": {"recipe": RECIPE, "data": "${data.version}", "trials": 3, **tune_with}},
            {"id": "train", "type": "train",
             "with": {"recipe": "${tune.recipe}", "data": "${data.version}"}},
        ],
    }  # fmt: skip


def test_tune_step_feeds_its_recipe_to_train(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(_spec({"max_flash_bytes": 65536}))
    run = ws.automation.run("tuned", now=T0)
    assert run is not None
    ws.automation.run_until_idle(T0)
    done = ws.automation.get_run(run["id"])
    assert done["status"] == "succeeded", done
    steps = {s["step"]: s["output"] for s in done["steps"]}
    assert steps["tune"]["trials"] == 3 and steps["tune"]["flash_bytes"] <= 65536
    assert steps["train"]["recipe_hash"] == steps["tune"]["recipe_hash"]


def test_tune_step_stops_when_nothing_fits(auto_ws: Workspace) -> None:
    ws = auto_ws
    ws.automation.apply(_spec({"max_ram_bytes": 8}))
    run = ws.automation.run("tuned", now=T0)
    assert run is not None
    ws.automation.run_until_idle(T0)
    done = ws.automation.get_run(run["id"])
    assert done["status"] == "stopped"
    assert done["reason"].startswith("tune: none of 3 trials fits the budget (the smallest: ram")
