"""The `eim` target: a Linux executable speaking Edge Impulse's .eim protocol, so Edge Impulse
for Linux SDKs (`edge_impulse_linux.runner.ImpulseRunner`) run an edgeops model unmodified.

The protocol (as the SDK's runner.py speaks it): the SDK starts `model.eim SOCKET_PATH`, waits
for the Unix socket to appear and connects; each request is one JSON object with an integer
`id` — `{"hello": 1}` is answered with `model_parameters` and `project`, `{"classify": [...]}`
with `result` (`classification` label → score, `anomaly`) and `timing` (ms). A reply is the
JSON object, a newline and a NUL byte; a failure is `{"success": false, "error": ...}`."""

import json
import os
import stat
from pathlib import Path
from typing import Any

from edgeops.compiler.emit import c_string
from edgeops.targets.compile import gcc
from edgeops.targets.prepare import Prepared
from edgeops.targets.sources import c_files, counts, device_sources, info, template

SENSORS = {"timeseries": 2, "audio": 1, "image": 3}  # Edge Impulse's sensor codes
HAS_ANOMALY = {"anomaly-kmeans": 1, "anomaly-gmm": 2}  # ... and anomaly block kinds


def hello(prepared: Prepared) -> dict[str, Any]:
    """The `hello` reply's body: model_parameters and project, in the SDK's field names."""
    recipe, model = prepared.recipe, prepared.model
    found = counts(prepared)
    spec = recipe.input
    image = spec.kind == "image"
    frequency = 0.0 if image else float(spec.frequency_hz or 0)
    anomaly_learner = info(prepared)["anomaly_learner"]
    thresholds: list[dict[str, Any]] = []
    if prepared.anomaly_threshold is not None:
        thresholds.append({"id": 0, "type": "anomaly_" + str(anomaly_learner).split("-")[-1],
                           "min_anomaly_score": prepared.anomaly_threshold})  # fmt: skip
    model_type = "anomaly_detection" if prepared.graph.task == "anomaly" else "classification"
    labels = list(prepared.graph.labels) if prepared.graph.task == "classification" else []
    return {
        "model_parameters": {
            "axis_count": 1 if image else len(spec.axes),
            "frequency": frequency,
            "has_anomaly": HAS_ANOMALY.get(str(anomaly_learner), 0),
            "input_features_count": found["input_len"],
            "image_input_height": spec.height or 0,
            "image_input_width": spec.width or 0,
            "image_input_frames": 1 if image else 0,
            "image_channel_count": spec.channels or 0,
            "image_resize_mode": "squash" if image else "none",
            "interval_ms": 1000.0 / frequency if frequency else 0.0,
            "label_count": len(labels),
            "labels": labels,
            "model_type": model_type,
            "sensor": SENSORS[spec.kind],
            "slice_size": found["input_len"] // max(1, len(spec.axes) or 1),
            "use_continuous_mode": False,
            "thresholds": thresholds,
            "edgeops": {
                "model": prepared.ref,
                "precision": prepared.precision,
                "task": prepared.graph.task,
            },
        },
        "project": {
            "deploy_version": model.number,
            "id": prepared.project.id,
            "name": prepared.project.name,
            "owner": "edgeops",
        },
    }


def write(prepared: Prepared, directory: Path) -> None:
    files = device_sources(prepared)
    found = counts(prepared)
    body = json.dumps(hello(prepared), separators=(",", ":"))[1:-1]
    labels = [json.dumps(label) for label in prepared.graph.labels]
    spec = prepared.recipe.input
    files["eim_main.c"] = template("eim_main.c.j2").render(
        name=prepared.name,
        input_len=found["input_len"],
        score_count=found["score_count"],
        hello_body=c_string(body),
        labels=[c_string(label) for label in labels],
        reply_capacity=len(body) + sum(len(label) + 24 for label in labels) + 1024,
        task=prepared.graph.task,
        has_anomaly=prepared.anomaly_graph is not None or prepared.graph.task == "anomaly",
        image=spec.kind == "image" and spec.channels in (1, 3),
        channels=spec.channels or 1,
    )
    for filename, text in files.items():
        (directory / filename).write_text(text, encoding="utf-8")
    executable = f"{prepared.name}.eim"
    gcc([*c_files(files), "-lm", "-o", executable], directory, "the .eim executable")
    path = directory / executable
    os.chmod(path, path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    (directory / "model.json").write_text(json.dumps(info(prepared), indent=2) + "\n")
