"""`edgeops features extract` as a user runs it: a real process, --json, the cache, errors."""

import json
from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import Run

KEY = "test-hmac-key"
RECIPE = """\
name: motion
input: {axes: [accX, accY, accZ], frequency_hz: 100, window_ms: 500, stride_ms: 250}
features:
  - {name: spectral, params: {fft_length: 64}}
  - {name: flatten}
learner: {name: trees}
"""


def test_extract_summary_json_and_cache(
    edgeops: Run, write_ei: Callable[..., Path], tmp_path: Path
) -> None:
    for i in range(1, 4):
        folder = write_ei(f"idle.{i}.json", seed=i, steps=120).parent
    version, recipe = _committed(edgeops, folder, tmp_path)

    first = edgeops("features", "extract", "--recipe", str(recipe), "--version", version,
                    "--workers", "2", "--json")  # fmt: skip
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["windows"] == 9
    assert summary["features"] == 3 * 10 + 3 * 7
    assert (summary["cache_hits"], summary["cache_misses"]) == (0, 3)

    again = edgeops("features", "extract", "--recipe", str(recipe), "--version", version)
    assert again.returncode == 0, again.stderr
    assert "9 windows · 51 features per window · cache 3 hits, 0 misses" in again.stdout


def test_errors_are_one_line(edgeops: Run, tmp_path: Path) -> None:
    assert edgeops("init", "--project", "p").returncode == 0
    recipe = tmp_path / "motion.yaml"
    recipe.write_text(RECIPE)
    missing = edgeops("features", "extract", "--recipe", str(recipe), "--version", "abcd")
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("error:")
    assert "no dataset version abcd" in missing.stderr
    absent = edgeops("features", "extract", "--recipe", "nope.yaml", "--version", "abcd")
    assert absent.returncode == 2
    assert "nope.yaml: no such file" in absent.stderr


def test_explore_json(edgeops: Run, write_ei: Callable[..., Path], tmp_path: Path) -> None:
    for i in range(1, 4):
        write_ei(f"idle.{i}.json", seed=i, steps=120)
        folder = write_ei(f"wave.{i}.json", seed=10 + i, steps=120).parent
    version, recipe = _committed(edgeops, folder, tmp_path)

    done = edgeops("features", "explore", "--recipe", str(recipe), "--version", version,
                   "--out", "map.svg", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["path"] == "map.svg" and (tmp_path / "map.svg").exists()
    assert (result["method"], result["windows"]) == ("pca", 18)
    assert set(result["per_label"]) == {"idle", "wave"}
    assert isinstance(result["silhouette"], float) and len(result["explained_variance"]) == 2

    bad = edgeops("features", "explore", "--recipe", str(recipe), "--version", version,
                  "--out", "map.gif")  # fmt: skip
    assert bad.returncode == 2
    assert "map.gif: the plot is written as .png or .svg" in bad.stderr


def _committed(edgeops: Run, folder: Path, tmp_path: Path) -> tuple[str, Path]:
    """A project with `folder` imported and committed, and the recipe file: (version, recipe)."""
    assert edgeops("init", "--project", "p").returncode == 0
    assert edgeops("data", "import", str(folder), "--hmac-key", KEY).returncode == 0
    assert edgeops("data", "commit", "-m", "v1").returncode == 0
    version = json.loads(edgeops("data", "versions", "--json").stdout)[0]["short_id"]
    recipe = tmp_path / "motion.yaml"
    recipe.write_text(RECIPE)
    return version, recipe
