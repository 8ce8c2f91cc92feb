"""`edgeops recipe …` as a user runs it: a real process, exit codes, one-line errors, --json."""

import json
import subprocess
from pathlib import Path

import pytest
from tests.cli.conftest import Run


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_new_validate_show(edgeops: Run, tmp_path: Path) -> None:
    made = edgeops("recipe", "new", "--template", "motion", "--out", "motion.yaml")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "motion.yaml").read_text().startswith("#")

    checked = edgeops("recipe", "validate", "motion.yaml")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("valid · hash ")

    shown = json.loads(edgeops("recipe", "show", "motion.yaml", "--json").stdout)
    assert len(shown["hash"]) == 64
    assert shown["hash"][:12] in checked.stdout
    assert shown["recipe"]["input"]["axes"] == ["accX", "accY", "accZ"]
    spectral = shown["recipe"]["features"][0]
    assert spectral["version"] >= 1 and spectral["params"]["order"] == 6  # default filled in

    as_json = json.loads(edgeops("recipe", "validate", "motion.yaml", "--json").stdout)
    assert as_json == {"valid": True, "name": "motion", "hash": shown["hash"]}

    # the normalised form is itself a recipe with the same hash
    (tmp_path / "normal.json").write_text(json.dumps(shown["recipe"]))
    again = json.loads(edgeops("recipe", "show", "normal.json", "--json").stdout)
    assert again["hash"] == shown["hash"]
    plain = edgeops("recipe", "show", "motion.yaml")
    assert plain.returncode == 0 and shown["hash"] in plain.stdout


def test_new_refuses_to_overwrite(edgeops: Run, tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text("mine")
    assert_one_line_error(edgeops("recipe", "new", "--out", "r.yaml"), "already exists", "--force")
    assert (tmp_path / "r.yaml").read_text() == "mine"
    assert edgeops("recipe", "new", "--out", "r.yaml", "--force").returncode == 0
    assert (tmp_path / "r.yaml").read_text() != "mine"
    assert_one_line_error(edgeops("recipe", "new", "--template", "nope"), "unknown template")


def test_new_prints_to_stdout_without_out(edgeops: Run) -> None:
    printed = edgeops("recipe", "new", "--template", "audio")
    assert printed.returncode == 0 and "name: audio" in printed.stdout


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("name: [unclosed", ("bad.yaml", "not valid YAML")),
        ("- a list", ("must be a mapping",)),
        ("name: x\ninput: {axes: [a], frequency_hz: 100, window_ms: 1000, stride_ms: 100}\n"
         "features: [{name: spectral, params: {bands: 300}}]\nlearner: {name: trees}\n",
         ("features[0] (spectral).params.bands: 300 is above the maximum 64",)),
        ("name: x\ninput: {axes: [a], frequency_hz: 100, window_ms: 1000, stride_ms: 100}\n"
         "features: [{name: spectral, params: {filter: low, cutoff_hz: 80}}]\n"
         "learner: {name: trees}\n", ("features[0] (spectral)", "Nyquist")),
    ],
)  # fmt: skip
def test_bad_recipe_is_one_line_exit_2(
    edgeops: Run, tmp_path: Path, content: str, fragments: tuple[str, ...]
) -> None:
    (tmp_path / "bad.yaml").write_text(content)
    for command in ("validate", "show"):
        assert_one_line_error(edgeops("recipe", command, "bad.yaml"), *fragments)
        assert_one_line_error(edgeops("recipe", command, "bad.yaml", "--json"), *fragments)


def test_missing_file_is_one_line_exit_2(edgeops: Run) -> None:
    assert_one_line_error(edgeops("recipe", "validate", "absent.yaml"), "no such file")
