import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgeops.cli.main import app
from edgeops.data.formats.ei import sign_ei
from edgeops.demo import HMAC_KEY, NN_LEARNER, RECIPE, SENSORS, TREES_LEARNER, basic_motions
from edgeops.errors import InvalidInput
from edgeops.governance.fairness import fairness_gate, fairness_report
from edgeops.workspace import Workspace

PER_LABEL = 8  # recordings per activity: 6 for training, 2 for testing
TESTING_FROM = 6


def write_project(
    folder: Path, *, biased: bool, subjects: dict[int, str] | None = None
) -> tuple[Workspace, Path]:
    """A tiny BasicMotions project whose samples carry metadata `site` (a or b, alternating).

    biased: site b never appears in training, and its testing recordings come from a watch worn
    differently (axes in reverse order, 5 times the amplitude): the model has not learned them.
    `subjects` maps a recording's number (0..4*PER_LABEL-1) to a subject id."""
    recordings, labels = basic_motions()
    ws = Workspace(folder / "home")
    ws.projects.create("fair")
    seen: dict[str, int] = {}
    number = 0
    for values, label in zip(recordings, labels, strict=True):
        rank = seen.get(label, 0)
        if rank >= PER_LABEL:
            continue
        seen[label] = rank + 1
        site = "ab"[rank % 2]
        testing = rank >= TESTING_FROM
        if biased and site == "b":
            if not testing:
                continue
            values = values[:, ::-1] * 5
        payload = {"device_name": f"watch-{site}", "device_type": "SMARTWATCH",
                   "interval_ms": 100, "sensors": SENSORS, "values": values.tolist(),
                   "metadata": {"site": site}}  # fmt: skip
        path = folder / "recordings" / f"{label.lower()}.{number:02d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(sign_ei(payload, HMAC_KEY))
        ws.data.import_files(
            [path], hmac_key=HMAC_KEY, category="testing" if testing else "training",
            subject_id=(subjects or {}).get(number),
        )  # fmt: skip
        number += 1
    ws.data.commit("tiny BasicMotions with sites")
    recipe = folder / "trees.yaml"
    recipe.write_text(RECIPE.replace(NN_LEARNER, TREES_LEARNER))
    return ws, recipe


@pytest.fixture(scope="module")
def biased(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws, recipe = write_project(tmp_path_factory.mktemp("biased"), biased=True)
    ws.train(recipe, seed=1)
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def balanced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws, recipe = write_project(tmp_path_factory.mktemp("balanced"), biased=False)
    ws.train(recipe, seed=1)
    yield ws
    ws.close()


def test_a_group_the_model_never_learned_fails_the_gate(biased: Workspace) -> None:
    report = fairness_report(biased, "v1", "site", threshold=0.2)
    groups = report["disparities"]["groups"]
    assert set(groups) == {"a", "b"}
    assert groups["a"]["windows"] == groups["b"]["windows"] == 12  # 4 recordings, 3 windows each
    assert groups["a"]["accuracy"] - groups["b"]["accuracy"] > 0.4
    assert report["disparities"]["accuracy_gap"] == pytest.approx(
        groups["a"]["accuracy"] - groups["b"]["accuracy"], abs=1e-6
    )
    assert report["disparities"]["equalized_odds_difference"] > 0.2
    assert report["passed"] is False
    assert any("accuracy_gap" in reason for reason in report["reasons"])
    # The dataset shows why: site b has no training samples.
    assert report["balance"]["b"]["categories"] == {"testing": 4}
    labels = biased.models.get("v1").labels
    assert report["balance"]["a"]["labels"] == dict.fromkeys(labels, 4)
    gate = fairness_gate(report, max_gap=1.0)
    assert gate.passed and gate.reasons == []


def test_a_balanced_dataset_passes_the_gate(balanced: Workspace) -> None:
    report = fairness_report(balanced, "v1", "site", threshold=0.2)
    assert report["passed"] is True, report["reasons"]
    assert report["disparities"]["accuracy_gap"] <= 0.2
    assert report["balance"]["a"]["samples"] == report["balance"]["b"]["samples"] == 16
    assert fairness_gate(report).passed
    assert not fairness_gate(report, max_gap=-1.0).passed  # the gate does compare


def test_device_id_is_a_group_key_and_unknown_keys_are_refused(biased: Workspace) -> None:
    report = fairness_report(biased, "v1", "device_id", threshold=0.2)
    assert len(report["disparities"]["groups"]) >= 1
    with pytest.raises(InvalidInput, match="no sample"):
        fairness_report(biased, "v1", "weather")


def test_cli_json_and_plot(biased: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    home = str(biased.settings.home)
    plot = tmp_path / "fair.png"
    result = runner.invoke(app, ["--home", home, "report", "fairness", "v1", "--by", "site",
                                 "--threshold", "0.2", "--json", "--plot", str(plot)])  # fmt: skip
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["passed"] is False and data["by"] == "site"
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = runner.invoke(app, ["--home", home, "report", "fairness", "v1", "--by", "weather"])
    assert result.exit_code == 2
    assert "no sample" in result.stderr
