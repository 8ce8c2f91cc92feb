"""Real models end to end: train on real data (BasicMotions; scikit-learn's digits as PNG
images), build the C target with verification, and hold the report to its targets."""

from pathlib import Path

import numpy as np
import pytest
from tests.targets.conftest import motion_workspace

from edgeops.demo import RECIPE
from edgeops.recipes.spec import load_recipe
from edgeops.targets import build
from edgeops.workspace import Workspace

pytestmark = pytest.mark.slow

DIGITS_RECIPE = """
name: digits
input: {kind: image, width: 8, height: 8, channels: 1}
features: [{name: image, params: {width: 8, height: 8, resize: squash}}]
learner:
  name: nn-classifier
  params: {layers: [{conv2d: 8, kernel: 3}, {max_pool: 2}, {dense: 16}], epochs: 30,
           learning_rate: 0.005}
"""


def _print(name: str, report: dict) -> None:
    verify, footprint = report["verify"], report["footprint"]
    print(
        f"\n{name}: {verify['rows']} windows · int8 mismatches {verify['int8_mismatches']} · "
        f"agreement {verify['label_agreement_percent']}% · accuracy float "
        f"{verify['float_accuracy_percent']}% int8 {verify['compiled_accuracy_percent']}% · "
        f"flash {footprint['flash_bytes']} B RAM {footprint['ram_bytes']} B "
        f"({footprint['measured_on']}) · MACs {report['macs']} · "
        + ", ".join(f"{r['profile']} {r['cycles']} cycles" for r in report["cycles"])
    )


def _check(report: dict) -> None:
    verify = report["verify"]
    assert verify["int8"] and verify["int8_mismatches"] == 0
    assert verify["label_agreement_percent"] >= 99.5
    assert verify["float_accuracy_percent"] - verify["compiled_accuracy_percent"] <= 1.0
    assert report["passed"]


def test_motion_demo_model(tmp_path: Path) -> None:
    ws = motion_workspace(tmp_path)
    model = ws.train(load_recipe(RECIPE), seed=0)
    report = build(ws, f"v{model.number}", "c", tmp_path / "c", verify=True).as_dict()
    _print("motion", report)
    _check(report)
    assert report["verify"]["float_accuracy_percent"] >= 80
    ws.close()


def test_digits_conv_model(tmp_path: Path) -> None:
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = tmp_path / "images"
    images.mkdir()
    for index in range(300):
        pixels = (digits.images[index] * 16).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(images / f"{digits.target[index]}.{index}.png")
    ws = Workspace(tmp_path / "home")
    ws.projects.create("digits")
    ws.data.import_files([images])
    ws.data.commit("digits")
    model = ws.train(load_recipe(DIGITS_RECIPE), seed=0)
    report = build(ws, f"v{model.number}", "c", tmp_path / "c", verify=True).as_dict()
    _print("digits", report)
    _check(report)
    assert report["verify"]["float_accuracy_percent"] >= 80
    ws.close()


SPEECH = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
AUDIO_RECIPE = """
name: words
input: {kind: audio, axes: [audio], frequency_hz: 8000, window_ms: 1000, stride_ms: 500,
        zero_pad: true}
features:
  - name: mfcc
    params: {frame_length_s: 0.02, frame_stride_s: 0.02, fft_length: 256, num_filters: 32,
             num_cepstral: 13}
learner:
  name: nn-classifier
  params: {layers: [{conv1d: 8, kernel: 3}, {max_pool: 2}, {conv1d: 16, kernel: 3}],
           epochs: 30, learning_rate: 0.005}
"""


@pytest.mark.skipif(not SPEECH.is_dir(), reason="needs asterisk-core-sounds-en-wav (make test)")
def test_audio_words_model(tmp_path: Path) -> None:
    """Real speech (asterisk's prompts): is a word a digit or a letter? MFCC + conv1d, with the
    MFCC computed by the generated C from the raw window."""
    ws = Workspace(tmp_path / "home")
    ws.projects.create("words")
    ws.data.import_files([SPEECH / "digits", SPEECH / "letters"], label_from="folder")
    ws.data.commit("words")
    model = ws.train(load_recipe(AUDIO_RECIPE), seed=0)
    report = build(ws, f"v{model.number}", "c", tmp_path / "c", verify=True).as_dict()
    _print("audio", report)
    _check(report)
    ws.close()
