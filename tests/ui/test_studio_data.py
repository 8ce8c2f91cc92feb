"""The Data pages in a real browser: filter, upload, see the plot, relabel, commit, diff."""

import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.ui.conftest import PROJECT, Studio

from edgeops.demo import SENSORS

pytestmark = pytest.mark.browser
DATA = f"/projects/{PROJECT}/data"


def _recording(path: Path, seed: int) -> Path:
    """An unsigned Edge Impulse JSON recording, 100 steps of the watch's 6 axes."""
    values = np.random.default_rng(seed).normal(size=(100, 6)).round(4).tolist()
    payload = {"device_name": "watch-9", "device_type": "SMARTWATCH", "interval_ms": 100,
               "sensors": SENSORS, "values": values}  # fmt: skip
    document = {"protected": {"ver": "v1", "alg": "none"}, "signature": "0" * 64,
                "payload": payload}  # fmt: skip
    path.write_text(json.dumps(document))
    return path


def test_filter_the_sample_list(studio: Studio, page_as: Any) -> None:
    with studio.workspace() as ws:
        walking = ws.data.samples(project=PROJECT, label="walking")
    expected = sum(s.device_id == "watch-2" for s in walking)
    assert 0 < expected < len(walking)
    page = page_as("viewer")
    page.goto(DATA)
    page.get_by_label("Label").select_option("walking")
    page.get_by_label("Device").select_option("watch-2")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**label=walking**")
    rows = page.locator("table tbody tr")
    assert rows.count() == expected
    for text in rows.all_inner_texts():
        assert "walking" in text and "watch-2" in text
    lengths = page.get_by_role("img", name="Recording lengths (s)")
    # Every BasicMotions recording is 10 s: one bin holds them all (described for screen readers).
    assert f"10: {expected}," in (lengths.locator("desc").text_content() or "")


@pytest.mark.slow
def test_upload_plot_relabel_commit_and_diff(
    studio: Studio, page_as: Any, shoot: Any, tmp_path: Path
) -> None:
    page = page_as("data-scientist")
    page.goto(DATA)
    page.get_by_label("Files (EI JSON/CBOR, CSV, WAV, PNG, JPEG)").set_input_files(
        str(_recording(tmp_path / "shaking.ui.json", seed=7))
    )
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/data/samples/*")
    assert page.get_by_role("status").inner_text() == "shaking.ui.json uploaded"
    plot = page.get_by_role("img", name="shaking.ui.json")
    assert plot.is_visible()
    assert plot.locator("polyline").count() == 6  # one line per axis
    assert "accX (m/s2)" in (plot.text_content() or "")
    shoot(page, "sample")

    page.get_by_label("Label", exact=True).fill("Shaking")
    page.get_by_role("button", name="Relabel").click()
    assert "labelled 'Shaking'" in page.get_by_role("status").inner_text()
    sample_id = int(page.url.rsplit("/", 1)[1])
    with studio.workspace() as ws:
        assert ws.data.get(sample_id, project=PROJECT).label == "Shaking"

    page.get_by_role("link", name="← All samples").click()
    page.get_by_role("link", name="Dataset versions").click()
    page.get_by_label("Message").fill("a shaking sample from the studio")
    page.get_by_role("button", name="Commit version").click()
    assert "committed version" in page.get_by_role("status").inner_text()
    page.get_by_role("button", name="Show changes").click()
    changes = page.locator("#diff-title + p").inner_text()
    assert changes.startswith("1 added")
    assert page.get_by_role("cell", name="shaking.ui.json").is_visible()
    shoot(page, "versions")


def test_viewer_cannot_change_samples_even_by_forging(studio: Studio, page_as: Any) -> None:
    page = page_as("viewer")
    page.goto(DATA)
    assert page.get_by_role("button", name="Upload").count() == 0
    assert page.locator("input[type=checkbox]").count() == 0
    page.goto(f"{DATA}/samples/3")
    assert page.get_by_role("img").first.is_visible()
    for name in ("Relabel", "Move", "Delete sample"):
        assert page.get_by_role("button", name=name).count() == 0
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(f"{DATA}/samples/3/label", form={"csrf": token, "value": "X"})
    assert forged.status == 403
    with studio.workspace() as ws:
        assert ws.data.get(3, project=PROJECT).label != "X"


@pytest.mark.slow
def test_audio_sample_has_a_player_and_a_spectrogram(page_as: Any, tmp_path: Path) -> None:
    rate = 16000
    tone = (np.sin(2 * np.pi * 440 * np.arange(rate // 2) / rate) * 12000).astype("<i2")
    path = tmp_path / "beep.ui.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(tone.tobytes())
    page = page_as("admin")
    page.goto(DATA)
    page.get_by_label("Files (EI JSON/CBOR, CSV, WAV, PNG, JPEG)").set_input_files(str(path))
    page.get_by_label("Category", exact=True).last.select_option("testing")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/data/samples/*")
    player = page.locator("audio")
    assert player.get_attribute("controls") is not None
    wav = page.request.get(player.get_attribute("src") or "")
    assert wav.status == 200 and wav.body() == path.read_bytes()  # the original file
    spectrogram = page.get_by_role("img", name="Spectrogram")
    assert spectrogram.is_visible()
    assert spectrogram.locator("image").count() == 1
    # Delete it again (the button asks first), so later tests train on motion data only.
    sample_id = int(page.url.rsplit("/", 1)[1])
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete sample").click()
    page.wait_for_url(f"**{DATA}")
    assert page.get_by_role("status").inner_text() == f"sample {sample_id} deleted"
    assert page.get_by_role("link", name=str(sample_id), exact=True).count() == 0


def test_move_ticked_samples_to_testing(studio: Studio, page_as: Any) -> None:
    page = page_as("data-scientist")
    page.goto(f"{DATA}?label=standing&category=training")
    boxes = page.get_by_role("checkbox")
    ids = [int(boxes.nth(i).get_attribute("value") or 0) for i in range(2)]
    for i in range(2):
        boxes.nth(i).check()
    page.get_by_label("With the selected samples").select_option("move")
    page.get_by_label("Label or category").fill("testing")
    page.get_by_role("button", name="Apply").click()
    assert page.get_by_role("status").inner_text() == "move: 2 samples"
    assert "category=training" in page.url  # back on the same filtered list
    with studio.workspace() as ws:
        assert {ws.data.get(i, project=PROJECT).category for i in ids} == {"testing"}
