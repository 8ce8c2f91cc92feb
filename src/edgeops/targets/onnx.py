"""The `onnx` target: the float model as `model.onnx` (features in, channels-last, see
`compiler/onnx_export.py`), with `model.json` saying how to read its output."""

import json
from pathlib import Path

from edgeops.compiler.onnx_export import to_bytes
from edgeops.targets.prepare import Prepared
from edgeops.targets.sources import info


def write(prepared: Prepared, directory: Path) -> None:
    (directory / "model.onnx").write_bytes(to_bytes(prepared.float_graph))
    if prepared.anomaly_graph is not None:
        (directory / "anomaly.onnx").write_bytes(to_bytes(prepared.anomaly_graph))
    description = info(prepared)
    description["onnx_input"] = "features (batch, *feature shape), channels-last"
    (directory / "model.json").write_text(json.dumps(description, indent=2) + "\n")
