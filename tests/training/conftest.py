from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeops.demo import HMAC_KEY, RECIPE, write_recordings
from edgeops.workspace import Workspace


@pytest.fixture(scope="module")
def motion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    """BasicMotions (real smartwatch recordings, 4 activities) imported and committed once per
    module; yields the workspace and the demo's motion recipe file."""
    folder = tmp_path_factory.mktemp("motion")
    ws = Workspace(folder / "home")
    ws.projects.create("motion")
    ws.data.import_files(write_recordings(folder / "recordings"), hmac_key=HMAC_KEY)
    ws.data.commit("BasicMotions")
    recipe = folder / "motion.yaml"
    recipe.write_text(RECIPE)
    yield ws, recipe
    ws.close()
