"""Every target built from a real trained model (BasicMotions), run, and compared with the
Python references: the C example via make, the Linux library via ctypes, the .eim through the
Edge Impulse SDK's own runner, the Arduino library's sources through gcc, ONNX through
onnxruntime."""

import io
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from tests.targets.conftest import TREES_RECIPE, impulse_runner, recipe_with_anomaly

from edgeops.compiler import int8_reference, reference
from edgeops.compiler.verify import python_features
from edgeops.errors import InvalidInput
from edgeops.recipes.spec import load_recipe
from edgeops.targets import build
from edgeops.targets.linux import Runner
from edgeops.targets.prepare import Prepared, load, verification_windows
from edgeops.workspace import Workspace


def _expected(prepared: Prepared, windows: np.ndarray) -> np.ndarray:
    """What the device must compute: the compiled graph in Python on numpy's features."""
    features = python_features(prepared.recipe, prepared.states, windows)
    shape = prepared.graph.tensor(prepared.graph.inputs[0]).shape
    features = features.reshape(len(windows), *shape)
    if prepared.quantized:
        raw = int8_reference.run(prepared.graph, features)
        return np.asarray(int8_reference.dequantized(prepared.graph, raw), dtype=np.float32)
    return reference.run(prepared.graph, features).astype(np.float32)


@pytest.mark.slow
def test_c_build_verifies_records_and_makes(motion: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, ref = motion
    out = tmp_path / "c"
    report = build(ws, ref, "c", out, verify=True)
    assert report.precision == "int8" and report.verify is not None
    assert report.verify["int8_mismatches"] == 0
    assert report.verify["label_agreement_percent"] >= 99.5
    model = ws.models.get(ref)
    float_accuracy = model.metrics["testing"]["accuracy"] * 100
    assert report.verify["float_accuracy_percent"] == pytest.approx(float_accuracy, abs=1e-3)
    assert report.passed and {c.name for c in report.checks} == {
        "int8 mismatches", "label agreement %", "accuracy drop (points)"}  # fmt: skip
    assert report.footprint is not None and report.footprint["flash_bytes"] > 0
    assert report.footprint["ram_bytes"] >= report.arena_bytes + report.footprint[
        "stack_estimate_bytes"]  # fmt: skip
    assert [row["profile"] for row in report.cycles] == ["cortex-m4f", "cortex-m7", "esp32-s3",
                                                          "x86"]  # fmt: skip
    m4 = report.cycles[0]
    assert m4["cycles"] >= 4 * report.macs and m4["microseconds"] == pytest.approx(
        m4["cycles"] / 80, abs=0.1)  # fmt: skip
    assert {"Makefile", "CMakeLists.txt", "example_main.c", "basic_motions.c",
            "basic_motions.h"} <= set(report.files)  # fmt: skip
    # recorded: the archive in the blob store, named on the model, one audit event
    assert model.artifacts["build/c/int8"] == report.archive
    archive = zipfile.ZipFile(io.BytesIO(ws.blobs.get(report.archive)))
    assert sorted(archive.namelist()) == report.files
    event = ws.audit.events(action="model.build")[0]
    assert event.details["target"] == "c" and event.details["checks"]["int8 mismatches"] == 0
    # the same build again is the same archive
    assert build(ws, ref, "c", tmp_path / "again").archive == report.archive
    # make builds the library and the example, which classifies a CSV window
    made = subprocess.run(["make"], cwd=out, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    prepared = load(ws, ref, quantized=None)
    windows, _ = verification_windows(ws, prepared)
    expected = _expected(prepared, windows[:3])
    for window, scores in zip(windows[:3], expected, strict=True):
        csv = "\n".join(",".join(f"{v:.9g}" for v in step) for step in window)
        ran = subprocess.run(["./example"], cwd=out, input=csv, capture_output=True, text=True)
        assert ran.returncode == 0, ran.stderr
        rows = dict(line.split(",") for line in ran.stdout.splitlines())
        assert rows["top"] == prepared.graph.labels[int(scores.argmax())]
        printed = np.array([float(rows[label]) for label in prepared.graph.labels])
        np.testing.assert_allclose(printed, scores, atol=1e-6)
    short = subprocess.run(["./example"], cwd=out, input="1,2,3", capture_output=True, text=True)
    assert short.returncode == 2 and "expected 300 numbers, read 3" in short.stderr


def test_linux_library_computes_what_the_reference_computes(
    motion: tuple[Workspace, str], tmp_path: Path
) -> None:
    ws, ref = motion
    report = build(ws, ref, "linux", tmp_path / "linux")
    assert "libbasic_motions.so" in report.files and "runner.py" in report.files
    runner = Runner(tmp_path / "linux" / "libbasic_motions.so")
    prepared = load(ws, ref, quantized=None)
    windows, _ = verification_windows(ws, prepared)
    expected = _expected(prepared, windows)
    for window, scores in zip(windows, expected, strict=True):
        result = runner.run(window)
        assert list(result["scores"].values()) == scores.tolist()  # float32, bit for bit
        assert result["label"] == prepared.graph.labels[int(scores.argmax())]
    assert runner.info["precision"] == "int8" and runner.info["input_len"] == 300
    with pytest.raises(ValueError, match="takes 300 values per window, got 2"):
        runner.run([1.0, 2.0])
    # the copied runner.py works without edgeops: it is the same module
    assert (tmp_path / "linux" / "runner.py").read_text().startswith('"""Run a model built')


@pytest.mark.slow
def test_eim_runs_under_edge_impulse_runner(motion: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, ref = motion
    build(ws, ref, "eim", tmp_path / "eim")
    prepared = load(ws, ref, quantized=None)
    windows, _ = verification_windows(ws, prepared)
    expected = _expected(prepared, windows[:6])
    runner = impulse_runner()(str(tmp_path / "eim" / "basic_motions.eim"))
    try:
        hello = runner.init()
        parameters = hello["model_parameters"]
        assert parameters["labels"] == prepared.graph.labels
        assert parameters["input_features_count"] == 300 and parameters["axis_count"] == 6
        assert parameters["frequency"] == 10 and parameters["model_type"] == "classification"
        assert hello["project"]["name"] == "motion"
        for window, scores in zip(windows[:6], expected, strict=True):
            reply = runner.classify(window.ravel().tolist())
            classification = reply["result"]["classification"]
            assert list(classification) == prepared.graph.labels
            assert np.array(list(classification.values()), dtype=np.float32).tolist() == (
                scores.tolist())  # fmt: skip
            assert {"dsp", "classification", "anomaly"} <= set(reply["timing"])
        with pytest.raises(Exception, match="expected 300 features, got 2"):
            runner.classify([1.0, 2.0])
        with pytest.raises(Exception, match="array of numbers"):
            runner.classify("not numbers")
        assert runner.classify(windows[0].ravel().tolist())["result"]  # still serving
    finally:
        runner.stop()


def test_arduino_library_layout_and_sources_compile(
    motion: tuple[Workspace, str], tmp_path: Path
) -> None:
    ws, ref = motion
    out = tmp_path / "arduino"
    build(ws, ref, "arduino", out)
    properties = dict(
        line.split("=", 1) for line in (out / "library.properties").read_text().splitlines()
    )
    assert properties["name"] == "basic_motions_inferencing"
    assert properties["includes"] == "basic_motions.h" and properties["architectures"] == "*"
    sketch = (out / "examples" / "basic_motions" / "basic_motions.ino").read_text()
    assert "#include <basic_motions.h>" in sketch and "basic_motions_run(" in sketch
    sources = sorted(p.name for p in (out / "src").glob("*.c"))
    assert sources == ["basic_motions.c"]
    compiled = subprocess.run(
        ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", *sources], cwd=out / "src",
        capture_output=True, text=True,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    archived = subprocess.run(["ar", "rcs", "libmodel.a", "basic_motions.o"], cwd=out / "src")
    assert archived.returncode == 0


def test_onnx_target_runs_in_onnxruntime(motion: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, ref = motion
    report = build(ws, ref, "onnx", tmp_path / "onnx")
    assert report.precision == "float" and report.footprint is None
    prepared = load(ws, ref, quantized=False)
    windows, _ = verification_windows(ws, prepared)
    features = python_features(prepared.recipe, prepared.states, windows)
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"))
    (output,) = session.run(None, {"features": features})
    np.testing.assert_allclose(output, reference.run(prepared.float_graph, features), atol=1e-5)
    described = json.loads((tmp_path / "onnx" / "model.json").read_text())
    assert described["labels"] == prepared.graph.labels
    with pytest.raises(InvalidInput, match="exports the float model"):
        build(ws, ref, "onnx", tmp_path / "x", quantized=True)


def test_trees_build_float_and_refuse_int8(motion: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, _ = motion
    model = ws.train(load_recipe(TREES_RECIPE), seed=0)
    ref = f"v{model.number}"
    report = build(ws, ref, "c", tmp_path / "trees", verify=True)
    assert report.precision == "float" and report.verify is not None
    assert report.verify["int8_mismatches"] is None
    assert report.verify["label_agreement_percent"] == 100.0
    assert [c.name for c in report.checks] == ["label agreement %", "accuracy drop (points)"]
    assert report.cycles[0]["cycles"] > 0  # tree nodes are counted though there are no MACs
    with pytest.raises(InvalidInput, match="no int8 kernels to quantize: build it with --float"):
        build(ws, ref, "c", tmp_path / "int8", quantized=True)


@pytest.mark.slow
def test_anomaly_score_on_linux_and_eim(motion: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, _ = motion
    model = ws.train(recipe_with_anomaly(), seed=0)
    ref = f"v{model.number}"
    build(ws, ref, "linux", tmp_path / "linux")
    build(ws, ref, "eim", tmp_path / "eim")
    prepared = load(ws, ref, quantized=None)
    assert prepared.anomaly_graph is not None and prepared.anomaly_threshold is not None
    windows, _ = verification_windows(ws, prepared)
    features = python_features(prepared.recipe, prepared.states, windows[:5])
    scores = reference.run(prepared.anomaly_graph, features)[:, 0]
    runner = Runner(tmp_path / "linux" / "libbasic_motions.so")
    eim = impulse_runner()(str(tmp_path / "eim" / "basic_motions.eim"))
    try:
        assert eim.init()["model_parameters"]["has_anomaly"] == 1
        for window, score in zip(windows[:5], scores, strict=True):
            result = runner.run(window)
            assert result["anomaly"] == pytest.approx(score, rel=1e-4, abs=1e-4)
            assert result["anomalous"] == (result["anomaly"] > prepared.anomaly_threshold)
            reply = eim.classify(window.ravel().tolist())
            assert reply["result"]["anomaly"] == pytest.approx(result["anomaly"], rel=1e-6)
    finally:
        eim.stop()


def test_bad_requests_are_refused(motion: tuple[Workspace, str], tmp_path: Path) -> None:
    ws, ref = motion
    with pytest.raises(InvalidInput, match="unknown target 'esp'"):
        build(ws, ref, "esp", tmp_path / "x")
    (tmp_path / "file").write_text("")
    with pytest.raises(InvalidInput, match="is a file"):
        build(ws, ref, "c", tmp_path / "file")
    with pytest.raises(InvalidInput, match="no model v99"):
        build(ws, "v99", "c", tmp_path / "x")
