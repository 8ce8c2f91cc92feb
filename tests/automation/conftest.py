"""Small labelled data, a fast recipe and workflows for the automation tests."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from edgeops.data.formats.ei import sign_ei
from edgeops.workspace import Workspace

KEY = "automation-key"
T0 = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)  # a Monday, noon UTC
RECIPE = {
    "name": "tiny",
    "input": {"kind": "timeseries", "axes": ["accX", "accY", "accZ"], "frequency_hz": 100,
              "window_ms": 100, "stride_ms": 100},
    "features": [{"name": "flatten", "params": {"statistics": ["mean", "std", "min", "max"]}}],
    "learner": {"name": "trees", "params": {"trees": 5, "max_depth": 3}},
}  # fmt: skip


def write_samples(folder: Path, count: int, start: int = 0, apart: float = 3.0) -> list[Path]:
    """`count` recordings of 40 steps, labels `up`/`down` (means `apart` from 0), in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(start, start + count):
        label = "up" if index % 2 else "down"
        rng = np.random.default_rng(index)
        values = rng.normal(apart if label == "up" else -apart, 1.0, size=(40, 3))
        payload = {"device_name": "d", "device_type": "T", "interval_ms": 10,
                   "sensors": [{"name": f"acc{a}", "units": "g"} for a in "XYZ"],
                   "values": values.tolist()}  # fmt: skip
        path = folder / f"{label}.{index:03d}.json"
        path.write_bytes(sign_ei(payload, KEY))
        paths.append(path)
    return paths


def add_samples(
    ws: Workspace, folder: Path, count: int, start: int = 0, apart: float = 3.0
) -> None:
    paths = write_samples(folder, count, start, apart)
    cut = max(1, count // 4)
    ws.data.import_files(paths[:-cut], hmac_key=KEY, category="training")
    ws.data.import_files(paths[-cut:], hmac_key=KEY, category="testing")


def workflow(triggers: str = "[{type: manual}]", extra_steps: str = "", name: str = "retrain",
             concurrency: int = 1) -> dict[str, object]:  # fmt: skip
    import yaml

    text = f"""
name: {name}
concurrency: {concurrency}
triggers: {triggers}
steps:
  - id: data
    type: commit-data
  - id: train
    type: train
    with: {{recipe: RECIPE, data: "${{data.version}}"}}
  - id: gate
    type: gate
    with: {{candidate: "${{train.model}}", min_accuracy: 0.5}}
{extra_steps}
"""
    data = yaml.safe_load(text)
    data["steps"][1]["with"]["recipe"] = RECIPE
    return data  # type: ignore[no-any-return]


@pytest.fixture
def auto_ws(ws: Workspace, tmp_path: Path) -> Iterator[Workspace]:
    """The `ws` fixture (SQLite and PostgreSQL) with 16 samples in project 'test'."""
    ws.settings.project = "test"
    add_samples(ws, tmp_path / "samples", 16)
    yield ws


@pytest.fixture
def more_samples(tmp_path: Path) -> Callable[[Workspace, int, int], None]:
    def add(ws: Workspace, count: int, start: int) -> None:
        add_samples(ws, tmp_path / f"more{start}", count, start)

    return add
