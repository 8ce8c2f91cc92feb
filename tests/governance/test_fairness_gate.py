"""Fairness as a workflow gate: a model unfair to a group stops the run, a fair one passes."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from tests.governance.test_fairness import write_project

T0 = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("biased", [True, False], ids=["biased", "balanced"])
def test_the_gate_stops_a_run_whose_model_is_unfair_to_a_group(
    tmp_path: Path, biased: bool
) -> None:
    ws, recipe = write_project(tmp_path, biased=biased)
    with ws:
        ws.settings.project = "fair"
        ws.automation.apply({
            "name": "fair-retrain",
            "triggers": [{"type": "manual"}],
            "steps": [
                {"id": "train", "type": "train",
                 "with": {"recipe": yaml.safe_load(recipe.read_text())}},
                {"id": "gate", "type": "gate",
                 "with": {"candidate": "${train.model}", "fairness_by": "site",
                          "max_disparity": 0.2}},
                {"id": "promote", "type": "promote",
                 "with": {"model": "${gate.candidate}", "alias": "production"}},
            ],
        })  # fmt: skip
        run = ws.automation.run("fair-retrain", now=T0)
        assert run is not None
        ws.automation.run_until_idle(T0)
        done = ws.automation.get_run(run["id"])
        steps = {s["step"]: s for s in done["steps"]}
        if biased:
            assert done["status"] == "stopped", done
            assert "fairness: " in done["reason"] and "(by site)" in done["reason"]
            assert steps["gate"]["status"] == "failed"
            assert "promote" not in steps
        else:
            assert done["status"] == "succeeded", done
            fairness = steps["gate"]["output"]["fairness"]
            assert fairness["passed"] and fairness["by"] == "site"
            gaps = fairness["disparities"]
            assert gaps["accuracy_gap"] <= 0.2 and gaps["equalized_odds_difference"] <= 0.2
            assert ws.models.show("production")["number"] == 1
