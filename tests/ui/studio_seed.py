"""Seed data the fleet/monitoring/governance studio tests share: a project with the BasicMotions
recordings and a quickly trained model (trained once per test session, ~10 s)."""

from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import numpy as np
from tests.ui.conftest import Studio

from edgeops.demo import HMAC_KEY, write_recordings

FIELD = "field"  # a project of its own: its model numbers do not depend on other tests
QUICK_RECIPE = """\
name: quick-motions
input:
  kind: timeseries
  axes: [accX, accY, accZ, gyrX, gyrY, gyrZ]
  frequency_hz: 10
  window_ms: 5000
  stride_ms: 2500
  zero_pad: false
features:
  - name: flatten
    params: {statistics: [mean, std, min, max]}
learner:
  name: trees
  params: {trees: 5, max_depth: 4}
"""


@cache
def trained_model(home: Path) -> str:
    """Project FIELD with the 80 recordings (4 watches), a committed version and a trained
    classifier; returns the model's ref (`v1`)."""
    with Studio("", home).workspace() as ws:
        ws.projects.create(FIELD, "motions from the field")
        recordings = write_recordings(home.parent / "field-recordings")
        ws.data.import_files(recordings, project=FIELD, hmac_key=HMAC_KEY)
        ws.data.commit("field recordings", project=FIELD)
        recipe = home.parent / "quick-motions.yaml"
        recipe.write_text(QUICK_RECIPE)
        model = ws.train(recipe, project=FIELD, seed=1)
        return f"v{model.number}"


def drifting_telemetry(studio: Studio, model: str, rows_per_day: int = 150) -> None:
    """Four days of inferences from two watches: the first two like the training data, the
    last two with the first three features shifted by two reference standard deviations."""
    now = datetime.now(UTC)
    with studio.workspace() as ws:
        profile = ws.monitoring.reference(model, project=FIELD)
        rng = np.random.default_rng(7)
        std = profile.features.std
        records = []
        for day in range(4):
            rows = profile.reservoir[rng.integers(0, len(profile.reservoir), rows_per_day)]
            rows = rows.astype(float)
            if day >= 2:
                rows[:, :3] += 2 * std[:3]
            at = now - timedelta(days=3 - day, minutes=5)
            for index, row in enumerate(rows):
                records.append({
                    "model": model, "time": (at + timedelta(seconds=index)).timestamp(),
                    "device": f"watch-{1 + index % 2}", "features": row.tolist(),
                })  # fmt: skip
        ws.monitoring.ingest({"records": records}, project=FIELD)
