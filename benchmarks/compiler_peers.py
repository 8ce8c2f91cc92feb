"""The peers of the compiler benchmark, fed the same trained weights as our compiler.

- TensorFlow Lite Micro: the float IR graph rebuilt as a Keras model with the weights copied
  (checked against our float reference), converted by TFLiteConverter to int8 (float input and
  output, like ours) with the same calibration rows, and run by the `tflite-micro` package's
  interpreter (TFLM's reference kernels). tensorflow-cpu lives in a throwaway venv
  (`tensorflow_python`), only here. Host instructions per inference: callgrind counting only
  inside `MicroInterpreter::Invoke`, (REPEAT=11 - REPEAT=1) / 10.
- emlearn: its converters on the same scikit-learn MLP (float) and random forest; the C runs
  through the same harness as ours (`compiler_c`).

Both peers take the rows already standardised; our models standardise inside.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from compiler_c import CProgram, callgrind
from compiler_models import Model

from edgeops.compiler import reference

HERE = Path(__file__).parent
TENSORFLOW_VENV = HERE / ".cache" / "tensorflow"
INVOKE = "*MicroInterpreter::Invoke*"


def tensorflow_python() -> Path:
    """A Python with tensorflow-cpu: $EDGEOPS_BENCH_TF_PYTHON, else a venv made (once) under
    benchmarks/.cache, so that TensorFlow's numpy and protobuf pins never touch .venv."""
    if os.environ.get("EDGEOPS_BENCH_TF_PYTHON"):
        return Path(os.environ["EDGEOPS_BENCH_TF_PYTHON"])
    python = TENSORFLOW_VENV / "bin" / "python"
    if not python.exists():
        print(f"installing tensorflow-cpu into {TENSORFLOW_VENV} (once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(TENSORFLOW_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "tensorflow-cpu"], check=True)
    return python


def input_shape(model: Model) -> tuple[int, ...]:
    """The peers' input: after our leading standardisation and reshape (both free for them)."""
    graph = model.float_graph
    ops = [op for op in graph.ops[:2] if op.kind in ("scale", "reshape")]
    return graph.tensor(ops[-1].outputs[0]).shape if ops else graph.tensor("input").shape


def keras_spec(model: Model) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The float graph as Keras layers (kernels in Keras' layouts), for tflite_export.py."""
    graph = model.float_graph
    ops = list(graph.ops)
    while ops and ops[0].kind in ("scale", "reshape"):
        ops.pop(0)
    layers: list[dict[str, Any]] = []
    weights: dict[str, np.ndarray] = {}
    layouts = {
        "dense": lambda w: w.T,
        "conv1d": lambda w: w.transpose(1, 2, 0),
        "conv2d": lambda w: w.transpose(1, 2, 3, 0),
        "depthwise_conv2d": lambda w: w[..., None],
    }
    for index, op in enumerate(ops):
        if op.kind == "relu" and layers and layers[-1].get("activation") == "relu":
            continue  # fused into the layer before
        layer: dict[str, Any] = {"kind": op.kind, **op.attrs}
        if op.kind in layouts:
            weight, bias = (graph.constant(name) for name in op.inputs[1:])
            weights[f"w{index}"], weights[f"b{index}"] = layouts[op.kind](weight), bias
            layer.update(weight=f"w{index}", bias=f"b{index}", units=len(bias),
                         filters=len(bias), kernel=list(weight.shape[1:-1] if op.kind
                         in ("conv1d", "conv2d") else weight.shape[:-1]))  # fmt: skip
            following = ops[index + 1].kind if index + 1 < len(ops) else None
            layer["activation"] = "relu" if following == "relu" else None
        layers.append({k: list(v) if isinstance(v, tuple) else v for k, v in layer.items()})
    return {"input_shape": list(input_shape(model)), "layers": layers}, weights


def tflite_model(model: Model, work: Path) -> tuple[bytes, float]:
    """(the int8 .tflite, max |Keras float - our float reference| on the test rows)."""
    spec, weights = keras_spec(model)
    shape = input_shape(model)
    (work / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    check = model.standardised(model.x_test).reshape(-1, *shape)
    np.savez(work / "weights.npz", calibration=model.standardised(model.calibration).reshape(
        -1, *shape), check=check, **weights)  # fmt: skip
    out = work / "model.tflite"
    subprocess.run([str(tensorflow_python()), str(HERE / "tflite_export.py"),
                    str(work / "spec.json"), str(work / "weights.npz"), str(out)],
                   check=True, capture_output=True)  # fmt: skip
    keras = np.load(str(out) + ".keras.npy").reshape(len(check), -1)
    ours = reference.run(model.float_graph, model.x_test).reshape(len(check), -1)
    return out.read_bytes(), float(np.abs(keras - ours).max())


def _tflm(model_path: Path, rows: np.ndarray, work: Path, repeat: int = 1,
          under_callgrind: bool = False) -> tuple[np.ndarray, str, int | None]:  # fmt: skip
    np.save(work / "rows.npy", rows)
    command = [sys.executable, str(HERE / "tflm_run.py"), str(model_path), str(work / "rows.npy"),
               str(work / "out.npy"), str(repeat)]  # fmt: skip
    count = None
    if under_callgrind:
        count = callgrind(command, work, "--collect-atstart=no", f"--toggle-collect={INVOKE}")
        report = ""
    else:
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        report = done.stdout + done.stderr
    return np.load(work / "out.npy"), report, count


def tflm_measure(model: Model, callgrind_counts: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        flatbuffer, keras_error = tflite_model(model, work)
        rows = model.standardised(model.x_test).reshape(-1, *input_shape(model))
        outputs, report, _ = _tflm(work / "model.tflite", rows, work)
        result: dict[str, Any] = {
            "keras_vs_our_float_max_abs_difference": keras_error,
            "model_bytes": len(flatbuffer),
            "arena_bytes_host_64bit": int(re.findall(r"allocation total (\d+)", report)[0]),
            "predictions": outputs.argmax(1),
        }
        if callgrind_counts:
            counts = [_tflm(work / "model.tflite", rows[:1], work, k, True)[2] for k in (1, 11)]
            result["host_instructions"] = ((counts[1] or 0) - (counts[0] or 0)) // 10
    return result


def _emlearn() -> Any:
    before = np.geterr()
    import emlearn  # its import sets numpy's error handling to "raise" (emlearn/bayes.py)

    np.seterr(**before)
    return emlearn


def emlearn_program(model: Model) -> CProgram | None:
    """emlearn's C for the model's scikit-learn estimator (MLP: `loadable`, float; forest:
    `inline`, int16 features, majority vote), or None when emlearn has no converter for it."""
    if model.estimator is None:
        return None
    emlearn = _emlearn()
    is_forest = hasattr(model.estimator, "estimators_")
    converted = emlearn.convert(model.estimator, method="inline" if is_forest else "loadable")
    with tempfile.TemporaryDirectory() as temporary:
        header = Path(temporary) / "model.h"
        converted.save(file=str(header), name="peer")
        source = header.read_text(encoding="utf-8")
    features = model.x_test.shape[1]
    if is_forest:  # emlearn trees compare int16 features (digits pixels are 0..16 integers)
        predict = (f"int16_t values[{features}]; int i;\n"
                   f"    for (i = 0; i < {features}; i++) values[i] = (int16_t)row[i];\n"
                   f"    return (int)peer_predict(values, {features});")  # fmt: skip
    else:
        predict = f"return (int)peer_predict(row, {features});"
    glue = (f'#include <stdint.h>\n#include "model.h"\nvoid model_init(void) {{}}\n'
            f"int model_predict(const float *row)\n{{\n    {predict}\n}}\n")  # fmt: skip
    return CProgram("emlearn", {"model.h": source, "glue.c": glue}, [emlearn.includedir])
