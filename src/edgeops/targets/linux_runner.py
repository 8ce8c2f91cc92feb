"""Run a model built for Linux (`edgeops build --target linux`) from Python with ctypes: no
edgeops, no numpy needed on the device. This file is copied into every linux build as
`runner.py`.

>>> runner = Runner("build/libbasic_motions.so")
>>> runner.run(window)  # one raw window, step-major: {"label": ..., "scores": {...}, ...}
"""

import ctypes
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def _flat(window: Any) -> list[float]:
    ravel = getattr(window, "ravel", None)  # numpy arrays, without importing numpy
    values: Iterable[Any] = ravel().tolist() if ravel is not None else window
    flat: list[float] = []
    for value in values:
        if isinstance(value, list | tuple):
            flat.extend(float(v) for v in value)
        else:
            flat.append(float(value))
    return flat


class Runner:
    """The shared library of a linux build, loaded once; `run` one window at a time."""

    def __init__(self, path: str | Path) -> None:
        self.library = ctypes.CDLL(str(Path(path).resolve()))
        self.library.eo_device_info.restype = ctypes.c_char_p
        self.library.eo_device_init.restype = ctypes.c_int
        self.library.eo_device_run.restype = ctypes.c_int
        self.library.eo_device_run.argtypes = [
            ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.POINTER(ctypes.c_float),
            ctypes.c_size_t, ctypes.POINTER(ctypes.c_int32), ctypes.POINTER(ctypes.c_float),
            ctypes.POINTER(ctypes.c_uint32),
        ]  # fmt: skip
        self.info: dict[str, Any] = json.loads(self.library.eo_device_info().decode("utf-8"))
        if self.library.eo_device_init() != 0:
            raise RuntimeError(f"{path}: the model failed to initialise")

    @property
    def labels(self) -> list[str]:
        return list(self.info["labels"])

    def run(self, window: Any) -> dict[str, Any]:
        """One raw window (input_len floats, step-major; nested lists or an array) → the
        model's result: label and scores (classifiers), value (regressors), anomaly score."""
        values = _flat(window)
        expected = int(self.info["input_len"])
        if len(values) != expected:
            raise ValueError(f"the model takes {expected} values per window, got {len(values)}")
        count = int(self.info["score_count"])
        signal = (ctypes.c_float * expected)(*values)
        scores = (ctypes.c_float * count)()
        top, anomaly = ctypes.c_int32(), ctypes.c_float()
        timing = (ctypes.c_uint32 * 3)()
        status = self.library.eo_device_run(
            signal, expected, scores, count, ctypes.byref(top), ctypes.byref(anomaly), timing
        )
        if status != 0:
            raise RuntimeError(f"the model failed on this window (status {status})")
        result: dict[str, Any] = {
            "timing_us": {"dsp": timing[0], "model": timing[1], "anomaly": timing[2]}
        }
        task = self.info["task"]
        if task == "classification":
            result["label"] = self.labels[top.value]
            result["top"] = top.value
            result["scores"] = dict(zip(self.labels, list(scores), strict=True))
        elif task == "regression":
            result["value"] = scores[0]
        if self.info["anomaly"] or task == "anomaly":
            result["anomaly"] = anomaly.value
            threshold = self.info.get("anomaly_threshold")
            if threshold is not None:
                result["anomalous"] = anomaly.value > threshold
        return result
