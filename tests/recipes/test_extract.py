"""Feature extraction of a real dataset version: shapes, labels per window, the cache, workers."""

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from edgeops.data.formats.ei import sign_ei
from edgeops.errors import InvalidInput
from edgeops.recipes.extract import extract
from edgeops.recipes.spec import Recipe, load_recipe
from edgeops.recipes.windows import windows_of
from edgeops.workspace import Workspace

KEY = "test-hmac-key"
MOTION = """\
name: motion
input: {{axes: [accX, accY, accZ], frequency_hz: 100, window_ms: 500, stride_ms: 250}}
features:
  - {{name: spectral, params: {{fft_length: 64, bands: {bands}}}}}
  - {{name: flatten}}
learner: {{name: trees}}
"""


def motion(bands: int = 4) -> Recipe:
    return load_recipe(MOTION.format(bands=bands))


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace(tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'e.db'}")
    workspace.projects.create("p")
    yield workspace
    workspace.close()


@pytest.fixture
def version(home: Workspace, write_ei: Callable[..., Path]) -> str:
    """Six samples of 120 steps (3 windows each) and one of 30 steps (one padded window)."""
    for i in range(1, 4):
        write_ei(f"idle.{i}.json", seed=i, steps=120)
        write_ei(f"wave.{i}.json", seed=10 + i, steps=120)
    folder = write_ei("wave.short.json", seed=99, steps=30).parent
    home.data.import_files([folder], category="training", hmac_key=KEY)
    home.data.move([1, 2], "testing")
    return home.data.commit("v1").id


def test_shapes_labels_and_sample_ids(home: Workspace, version: str) -> None:
    features = extract(home, motion(), version)
    entries = sorted(home.data.read_version(version), key=lambda e: e["id"])
    windows = [1 if e["filename"] == "wave.short.json" else 3 for e in entries]
    # spectral: 3 axes * (4 bands + 2 * 3 peaks); flatten: 3 axes * 7 statistics
    assert features.X.shape == (sum(windows), 3 * 10 + 3 * 7)
    assert features.X.dtype == np.float32
    assert len(features.feature_names) == features.X.shape[1]
    assert features.feature_names[0] == "spectral.0"
    per_window = [e for e, n in zip(entries, windows, strict=True) for _ in range(n)]
    assert features.sample_ids.tolist() == [e["id"] for e in per_window]
    assert features.y == [e["label"] for e in per_window]
    assert features.categories[:6] == ["testing"] * 6
    assert set(features.categories[6:]) == {"training"}
    assert (features.hits, features.misses) == (0, len(entries))


def test_second_run_reads_only_the_cache(home: Workspace, version: str) -> None:
    first = extract(home, motion(), version)
    ticks: list[int] = []
    second = extract(home, motion(), version, progress=ticks.append)
    assert (second.hits, second.misses) == (7, 0)
    np.testing.assert_array_equal(first.X, second.X)
    assert ticks == [7] + [-1] * 7


def test_a_changed_param_misses(home: Workspace, version: str) -> None:
    extract(home, motion(), version)
    changed = extract(home, motion(bands=5), version)
    assert (changed.hits, changed.misses) == (0, 7)
    assert changed.X.shape[1] == 3 * 11 + 3 * 7


def test_workers_give_the_inline_result(home: Workspace, version: str) -> None:
    inline = extract(home, motion(), version)
    shutil.rmtree(Path(home.blobs.root) / "features")  # an empty cache: the pool computes all
    parallel = extract(home, motion(), version, workers=2)
    assert parallel.misses == 7
    np.testing.assert_array_equal(inline.X, parallel.X)
    assert inline.y == parallel.y


def test_rate_mismatch_is_one_clear_error(home: Workspace, tmp_path: Path) -> None:
    payload = {
        "device_name": "d", "device_type": "T", "interval_ms": 20,
        "sensors": [{"name": f"acc{a}", "units": "m/s2"} for a in "XYZ"],
        "values": np.zeros((60, 3)).tolist(),
    }  # fmt: skip
    path = tmp_path / "slow" / "idle.slow.json"
    path.parent.mkdir()
    path.write_bytes(sign_ei(payload, KEY))
    home.data.import_files([path], category="training", hmac_key=KEY)
    version = home.data.commit("slow").id
    with pytest.raises(InvalidInput, match=r"sample 1 is 50 Hz but the recipe expects 100 Hz"):
        extract(home, motion(), version)


def test_fitted_state_comes_from_training_only_and_keys_the_cache(
    home: Workspace, version: str
) -> None:
    recipe = load_recipe(
        MOTION.format(bands=4).replace("{name: flatten}", "{name: raw, params: {normalize: true}}")
    )
    first = extract(home, recipe, version)
    training = first.X[np.array(first.categories) == "training"]
    entries = [e for e in home.data.read_version(version) if e["category"] == "training"]
    steps = np.concatenate(
        [windows_of(home.data.values(e), 10, None, recipe) for e in entries]
    ).reshape(-1, 3)
    state = first.states[1]
    assert state is not None
    np.testing.assert_allclose(state["mean"], steps.mean(axis=0, dtype=np.float64), rtol=1e-5)
    assert training.shape[0] == 13
    home.data.move([1], "training")
    moved = home.data.commit("v2").id
    assert extract(home, recipe, moved).misses == 7  # a new state: every key changes
