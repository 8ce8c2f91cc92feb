"""The demo's smartwatches: simulated fleet devices that wear a sensor, run the model their agent
installed, and report telemetry, collected windows and (from the demo's oracle) true labels.

The sensor replays BasicMotions: a random 5 s slice of a random recording, with a little
amplitude jitter and noise, so every watch sees the study's mix of activities. A watch whose
`gain` is not 1 has the drift the demo injects: its accelerometer reports in m/s² instead of g.
The prediction comes from the release's own shared library (the linux build, through its
`runner.py`); the feature vector for the telemetry comes from the same model's Python reference,
because the library keeps its features to itself."""

import hashlib
import io
import random
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from edgeops.fleet.simulator.fleet import Device
from edgeops.recipes.spec import signal_spec
from edgeops.training.predict import Predictor
from edgeops.workspace import Workspace

WINDOW_STEPS = 50  # 5 s at 10 Hz: the recipe's window
ACCELEROMETER = slice(0, 3)  # accX, accY, accZ
UNITS_BUG = 9.81  # g → m/s²: the injected drift


def window_digest(values: np.ndarray) -> str:
    """The blob address the server gives a collected window (float32 .npy, see collect.py)."""
    buffer = io.BytesIO()
    np.save(buffer, values.astype(np.float32), allow_pickle=False)
    return hashlib.sha256(buffer.getvalue()).hexdigest()


class Sensor:
    """BasicMotions-like windows: random slices of the recordings, jittered."""

    def __init__(self, recordings: np.ndarray, labels: np.ndarray, seed: int) -> None:
        self.recordings, self.labels = recordings, np.char.lower(labels.astype(str))
        self.rng = np.random.default_rng(seed)
        self.noise = 0.02 * recordings.std(axis=(0, 1))

    def windows(self, count: int, gain: float) -> tuple[np.ndarray, list[str]]:
        picks = self.rng.integers(0, len(self.recordings), count)
        starts = self.rng.integers(0, self.recordings.shape[1] - WINDOW_STEPS + 1, count)
        windows = np.stack(
            [self.recordings[i, s : s + WINDOW_STEPS] for i, s in zip(picks, starts, strict=True)]
        ).astype(np.float32)
        windows *= self.rng.uniform(0.97, 1.03, (count, 1, 1)).astype(np.float32)
        windows += self.rng.normal(0, 1, windows.shape).astype(np.float32) * self.noise
        windows[:, :, ACCELEROMETER] *= gain
        return windows, [str(self.labels[i]) for i in picks]


@dataclass
class Installed:
    """What a release runs: its model number, the library, the Python reference."""

    model: int
    runner: Any
    predictor: Predictor


class Runtimes:
    """One loaded library per release, shared by the watches that run it."""

    def __init__(self, ws: Workspace, project: str, folder: Path) -> None:
        self.ws, self.project, self.folder = ws, project, folder
        self.loaded: dict[str, Installed] = {}

    def of(self, release: str, archive: bytes) -> Installed:
        if release not in self.loaded:
            from edgeops.targets.linux_runner import Runner

            where = self.folder / release.replace("/", "_")
            with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
                bundle.extractall(where)
            (library,) = where.rglob("lib*.so")
            model = str(self.ws.fleet.release(release, project=self.project)["model"])
            version = self.ws.models.get(model, project=self.project)
            self.loaded[release] = Installed(
                int(model.removeprefix("v")), Runner(library), Predictor(self.ws, version.version)
            )
        return self.loaded[release]


@dataclass
class Watch:
    device: Device
    sensor: Sensor
    gain: float = 1.0
    truth: dict[str, str] = field(default_factory=dict)  # collected window digest → label

    @property
    def name(self) -> str:
        return self.device.spec.device_id

    def installed(self, runtimes: Runtimes) -> Installed:
        slots = self.device.agent.slots  # type: ignore[union-attr]
        release, archive = slots.installed(), slots.read("model.zip")
        if release is None or archive is None:
            raise RuntimeError(f"{self.name} runs no model yet")
        return runtimes.of(release, archive)

    def infer(self, runtimes: Runtimes, count: int) -> tuple[list[dict[str, Any]], list[str]]:
        """`count` inferences as telemetry records (features, prediction, scores, latency), and
        the oracle's true labels of the windows (kept by the demo, not sent: see loop.py)."""
        model = self.installed(runtimes)
        windows, truth = self.sensor.windows(count, self.gain)
        spec = signal_spec(model.predictor.recipe)
        features = np.concatenate(
            [
                b.transform(windows, spec, s)
                for b, s in zip(model.predictor.blocks, model.predictor.states, strict=True)
            ],
            axis=1,
        )
        records = []
        for window, vector in zip(windows, features, strict=True):
            out = model.runner.run(window)
            timing = out["timing_us"]
            record = {
                "model": model.model,
                "label": out["label"],
                "confidence": round(max(out["scores"].values()), 6),
                "scores": [round(float(v), 6) for v in out["scores"].values()],
                "features": [round(float(v), 6) for v in vector],
                "latency_ms": (timing["dsp"] + timing["model"]) / 1000,
            }
            records.append(record)
        return records, truth

    def answer_collect(self, http: httpx.Client, base: str, limit: int) -> int:
        """Read this watch's commands; send up to `limit` raw windows in all (one alert asks
        once per drifting signal: features, predictions, confidence)."""
        key = {"x-api-key": self.device.spec.key}
        commands = http.get(f"{base}/telemetry/commands", headers=key)
        commands.raise_for_status()
        sent = 0
        for command in commands.json()["commands"]:
            if command["command"] != "collect":
                continue
            count = min(limit - sent, int(command["windows"]))
            if count <= 0:
                break
            windows, labels = self.sensor.windows(count, self.gain)
            records = []
            for window, label in zip(windows, labels, strict=True):
                values = [round(float(v), 6) for v in window.ravel()]
                self.truth[window_digest(np.asarray(values))] = label
                records.append(
                    {"model": command["model"], "collect": command["collect"], "window": values}
                )
            answer = http.post(f"{base}/telemetry", json={"records": records}, headers=key)
            answer.raise_for_status()
            sent += len(records)
        return sent


def wear(
    devices: list[Device], recordings: np.ndarray, labels: np.ndarray, seed: int = 0
) -> list[Watch]:
    """A sensor for every simulated device (each with its own random stream)."""
    order = random.Random(seed)
    return [Watch(d, Sensor(recordings, labels, order.randrange(2**31))) for d in devices]
