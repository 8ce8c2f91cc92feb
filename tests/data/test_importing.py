from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgeops.errors import InvalidInput
from edgeops.workspace import Workspace

WriteEI = Callable[..., Path]
KEY = "test-hmac-key"


def test_import_labels_from_file_names_and_splits_80_20_per_label(
    ws: Workspace, write_ei: WriteEI
) -> None:
    for i in range(10):
        write_ei(f"idle.{i}.json", seed=i)
        write_ei(f"wave.{i}.json", seed=100 + i)
    report = ws.data.import_files([write_ei("idle.0.json", seed=0).parent], hmac_key=KEY)
    assert len(report.imported) == 20 and not report.failures
    for label in ("idle", "wave"):
        found = ws.data.samples(label=label)
        assert [s.category for s in found].count("testing") == 2
    sample = ws.data.samples(label="wave")[0]
    assert sample.kind == "timeseries" and sample.shape == [20, 3]
    assert sample.interval_ms == 10 and sample.device_id == "dev-1"
    assert [s["name"] for s in sample.sensors] == ["accX", "accY", "accZ"]


def test_split_is_deterministic(tmp_path: Path, write_ei: WriteEI) -> None:
    paths = [write_ei(f"a.{i}.json", seed=i) for i in range(12)]
    splits = []
    for run in range(2):
        with Workspace(tmp_path / f"home{run}") as ws:
            ws.projects.create("p")
            ws.data.import_files(paths)
            splits.append([(s.filename, s.category) for s in ws.data.samples()])
    assert splits[0] == splits[1]


def test_values_and_original_bytes_are_kept_exactly(ws: Workspace, write_ei: WriteEI) -> None:
    path = write_ei("x.1.json", seed=7)
    ws.data.import_files([path])
    sample = ws.data.samples()[0]
    assert ws.data.original(sample) == path.read_bytes()
    expected = np.random.default_rng(7).normal(size=(20, 3)).astype(np.float32)
    np.testing.assert_array_equal(ws.data.values(sample), expected)


def test_bad_files_are_reported_and_good_ones_kept(ws: Workspace, write_ei: WriteEI) -> None:
    good = write_ei("ok.1.json", seed=1)
    (good.parent / "bad.1.json").write_text('{"payload": ')
    (good.parent / "empty.1.json").write_bytes(b"")
    (good.parent / "nan.1.csv").write_text("timestamp,x\n0,1\n10,nan\n")
    report = ws.data.import_files([good.parent])
    assert len(report.imported) == 1
    failed = {Path(path).name: message for path, message in report.failures}
    assert set(failed) == {"bad.1.json", "empty.1.json", "nan.1.csv"}
    assert all(message for message in failed.values())
    assert [s.filename for s in ws.data.samples()] == ["ok.1.json"]


def test_wrong_hmac_key_rejects_the_file(ws: Workspace, write_ei: WriteEI) -> None:
    path = write_ei("x.1.json", seed=1)
    report = ws.data.import_files([path], hmac_key="another-key")
    assert not report.imported
    assert "signature" in report.failures[0][1]


def test_duplicates_are_skipped_not_stored_twice(ws: Workspace, write_ei: WriteEI) -> None:
    first = write_ei("x.1.json", seed=3)
    ws.data.import_files([first])
    again = write_ei("y.1.json", seed=3, folder="other")
    report = ws.data.import_files([again])
    assert report.imported == [] and report.duplicates[0][1] == ws.data.samples()[0].id


def test_label_options(ws: Workspace, write_ei: WriteEI) -> None:
    a = write_ei("one.json", seed=1, folder="walking")
    b = write_ei("two.json", seed=2, folder="walking")
    c = write_ei("three.json", seed=3, folder="misc")
    ws.data.import_files([a], label_from="folder")
    ws.data.import_files([b], label="running", category="testing", subject_id="person-7")
    ws.data.import_files([c], label_from="none")
    labels = {s.filename: (s.label, s.category) for s in ws.data.samples()}
    assert labels["one.json"][0] == "walking"
    assert labels["two.json"] == ("running", "testing")
    assert labels["three.json"][0] is None
    assert [s.subject_id for s in ws.data.samples(label="running")] == ["person-7"]
    with pytest.raises(InvalidInput, match="subject id"):
        ws.data.import_files([c], subject_id="x" * 200)


def test_bad_label_and_unsupported_files(ws: Workspace, write_ei: WriteEI) -> None:
    path = write_ei("x.1.json", seed=1)
    with pytest.raises(InvalidInput, match="not allowed"):
        ws.data.import_files([path], label="a/b")
    (path.parent / "notes.txt").write_text("hello")
    report = ws.data.import_files([path.parent])
    assert report.skipped == [str(path.parent / "notes.txt")]
    with pytest.raises(InvalidInput, match="no such file"):
        ws.data.import_files([path.parent / "missing.json"])


def test_oversized_file_is_rejected(tmp_path: Path, write_ei: WriteEI) -> None:
    path = write_ei("x.1.json", seed=1, steps=200)
    with Workspace(tmp_path / "home") as ws:
        ws.projects.create("p")
        ws.settings.max_file_bytes = 1000
        report = ws.data.import_files([path])
    assert "over the 1,000-byte limit" in report.failures[0][1]


def test_every_import_is_audited(ws: Workspace, write_ei: WriteEI) -> None:
    from edgeops.governance import audit

    ws.data.import_files([write_ei("x.1.json", seed=1), write_ei("x.2.json", seed=2)])
    with ws.session() as session:
        events = audit.events(session)
    assert events[0].action == "sample.import" and len(events[0].details["ids"]) == 2


def test_large_imports_use_worker_processes_with_the_same_result(
    tmp_path: Path, write_ei: WriteEI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeops.data import importing

    folder = write_ei("a.0.json", seed=0).parent
    for i in range(1, 240):
        write_ei(f"{'abc'[i % 3]}.{i}.json", seed=i)
    write_ei("a.dup.json", seed=5)  # the same data as c.5.json
    (folder / "broken.1.json").write_text("{")
    results = []
    for parallel_from in (1, 10_000):
        monkeypatch.setattr(importing, "PARALLEL_FROM", parallel_from)
        with Workspace(tmp_path / f"home{parallel_from}") as ws:
            ws.projects.create("p")
            report = ws.data.import_files([folder])
            rows = [(s.filename, s.label, s.category, s.content_hash) for s in ws.data.samples()]
        results.append((rows, len(report.duplicates), len(report.failures)))
    assert results[0] == results[1]
    rows, duplicates, failures = results[0]
    assert len(rows) == 240 and duplicates == 1 and failures == 1
