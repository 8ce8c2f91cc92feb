"""A trained motion model (BasicMotions, the demo's recipe with fewer epochs) shared by the
target tests of a module, and the Edge Impulse SDK's runner loaded on its own."""

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from edgeops.demo import HMAC_KEY, RECIPE, write_recordings
from edgeops.recipes.spec import Recipe, load_recipe
from edgeops.workspace import Workspace

FAST_RECIPE = RECIPE.replace("epochs: 30", "epochs: 12")
TREES_RECIPE = RECIPE.replace(
    "name: nn-classifier\n  params: {layers: [{dense: 20}, {dense: 10}], epochs: 30}",
    "name: trees\n  params: {trees: 5, max_depth: 4}",
)


def motion_workspace(folder: Path) -> Workspace:
    ws = Workspace(folder / "home")
    ws.projects.create("motion")
    ws.data.import_files(write_recordings(folder / "recordings"), hmac_key=HMAC_KEY)
    ws.data.commit("BasicMotions")
    return ws


@pytest.fixture(scope="module")
def motion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, str]]:
    """BasicMotions committed, an int8-capable dense net trained on it; (workspace, model ref)."""
    ws = motion_workspace(tmp_path_factory.mktemp("motion"))
    model = ws.train(load_recipe(FAST_RECIPE), seed=0)
    yield ws, f"v{model.number}"
    ws.close()


def recipe_with_anomaly() -> Recipe:
    recipe = load_recipe(FAST_RECIPE)
    anomaly = type(recipe.learner).model_validate(
        {"name": "anomaly-kmeans", "params": {"clusters": 4}}
    )
    return recipe.model_copy(update={"anomaly": anomaly})


def impulse_runner() -> type:
    """`edge_impulse_linux.runner.ImpulseRunner`, unmodified: the module file is loaded by
    itself because the package's __init__ also imports its audio and camera helpers (pyaudio,
    OpenCV), which a headless test machine need not have."""
    spec = importlib.util.find_spec("edge_impulse_linux")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("edge_impulse_linux is not installed (pip install edge_impulse_linux)")
    path = Path(next(iter(spec.submodule_search_locations))) / "runner.py"
    module_spec = importlib.util.spec_from_file_location("ei_linux_runner", path)
    assert module_spec is not None and module_spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    runner: type = module.ImpulseRunner
    return runner
