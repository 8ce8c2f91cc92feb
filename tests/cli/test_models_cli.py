"""`edgeops train`, `edgeops test` and `edgeops models` as a user runs them."""

import json
from pathlib import Path

from tests.cli.conftest import Run

from edgeops.demo import HMAC_KEY, NN_LEARNER, RECIPE, write_recordings

TREES = RECIPE.replace(NN_LEARNER, "name: trees\n  params: {trees: 5}")


def _project(edgeops: Run, tmp_path: Path) -> Path:
    write_recordings(tmp_path / "rec")
    assert edgeops("init", "--project", "motion").returncode == 0
    edgeops("data", "import", str(tmp_path / "rec"), "--hmac-key", HMAC_KEY)
    assert edgeops("data", "commit", "-m", "v1").returncode == 0
    recipe = tmp_path / "trees.yaml"
    recipe.write_text(TREES)
    return recipe


def test_train_test_list_alias_compare(edgeops: Run, tmp_path: Path) -> None:
    recipe = _project(edgeops, tmp_path)
    trained = edgeops("train", "--recipe", str(recipe), "--json", "--plot", "cm.svg")
    assert trained.returncode == 0, trained.stderr
    model = json.loads(trained.stdout)
    assert model["model"] == "v1" and model["learner"] == "trees"
    assert model["metrics"]["testing"]["accuracy"] >= 0.8
    assert (tmp_path / "cm.svg").read_text().startswith("<?xml")
    assert edgeops("train", "--recipe", str(recipe), "--seed", "2").returncode == 0
    assert edgeops("models", "alias", "production", "v1").stdout.strip() == "production → v1"
    listed = json.loads(edgeops("models", "list", "--json").stdout)
    assert [m["model"] for m in listed] == ["v1", "v2"]
    assert listed[0]["aliases"] == ["production"] and listed[1]["seed"] == 2
    tested = json.loads(edgeops("test", "production", "--json").stdout)
    assert tested["metrics"]["testing"] == model["metrics"]["testing"]
    compared = json.loads(edgeops("models", "compare", "production", "latest", "--json").stdout)
    assert compared["a"] == "v1" and compared["b"] == "v2"
    assert compared["lineage_differs"]["seed"] == {"a": 0, "b": 2}
    table = edgeops("models", "compare", "v1", "v1")
    assert table.returncode == 0 and "testing.accuracy" in table.stdout, table.stderr
    shown = edgeops("models", "show", "v2")
    assert "confusion matrix" in shown.stdout and "accuracy" in shown.stdout


def test_bad_input_exits_2_with_one_line(edgeops: Run, tmp_path: Path) -> None:
    recipe = _project(edgeops, tmp_path)
    for args, message in [
        (("models", "show", "v7"), "has no model v7"),
        (("models", "alias", "live", "v1"), "alias 'live' is not one of"),
        (("models", "alias", "staging", "v1"), "no model v1"),
        (("test", "prod"), "is not a model"),
        (("train", "--recipe", str(tmp_path / "missing.yaml")), "missing.yaml"),
        (("train", "--recipe", str(recipe), "--data", "zz"), "not a version id"),
    ]:
        result = edgeops(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
