from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.workspace import Workspace

WriteEI = Callable[..., Path]


def _import(ws: Workspace, write_ei: WriteEI, count: int) -> None:
    paths = [write_ei(f"{'ab'[i % 2]}.{i}.json", seed=i) for i in range(count)]
    ws.data.import_files(paths)


def test_round_trip_commit_relabel_commit_diff_read_back(ws: Workspace, write_ei: WriteEI) -> None:
    _import(ws, write_ei, 6)
    v1 = ws.data.commit("first")
    before = {e["id"]: e for e in ws.data.read_version(v1.id)}
    v1_originals = {i: ws.data.original(e) for i, e in before.items()}
    v1_values = {i: ws.data.values(e) for i, e in before.items()}

    target = ws.data.samples(label="a")[0]
    ws.data.label([target.id], "b")
    v2 = ws.data.commit("relabel one")

    change = ws.data.diff(v1.id, v2.id)
    assert change.relabelled == [
        {"id": target.id, "filename": target.filename, "from": "a", "to": "b"}
    ]
    assert change.added == change.removed == change.moved == []

    again = {e["id"]: e for e in ws.data.read_version(v1.id)}
    assert again == before and again[target.id]["label"] == "a"
    for sample_id, entry in again.items():
        assert ws.data.original(entry) == v1_originals[sample_id]
        np.testing.assert_array_equal(ws.data.values(entry), v1_values[sample_id])
    assert v2.parent_id == v1.id and v1.parent_id is None


def test_version_id_is_the_manifest_hash_and_counts_are_kept(
    ws: Workspace, write_ei: WriteEI
) -> None:
    import hashlib

    _import(ws, write_ei, 10)
    version = ws.data.commit("ten")
    manifest = ws.blobs.get(version.id)
    assert hashlib.sha256(manifest).hexdigest() == version.id
    assert version.sample_count == 10
    assert version.counts["categories"] == {"training": 8, "testing": 2}
    assert version.counts["labels"] == {"a": {"training": 4, "testing": 1},
                                        "b": {"training": 4, "testing": 1}}  # fmt: skip


def test_diff_shows_added_removed_and_moved(ws: Workspace, write_ei: WriteEI) -> None:
    _import(ws, write_ei, 4)
    v1 = ws.data.commit("four")
    first, second = ws.data.samples()[:2]
    ws.data.remove([first.id])
    ws.data.move([second.id], "testing" if second.category == "training" else "training")
    ws.data.import_files([write_ei("c.99.json", seed=99)])
    v2 = ws.data.commit("changes")
    change = ws.data.diff(v1.id[:8], v2.id[:8])
    assert [e["id"] for e in change.removed] == [first.id]
    assert [e["filename"] for e in change.added] == ["c.99.json"]
    assert [e["id"] for e in change.moved] == [second.id]


def test_nothing_to_commit_and_empty_project(ws: Workspace, write_ei: WriteEI) -> None:
    with pytest.raises(Conflict, match="no samples"):
        ws.data.commit("empty")
    _import(ws, write_ei, 2)
    version = ws.data.commit("two")
    with pytest.raises(Conflict, match=f"nothing to commit.*{version.id[:12]}"):
        ws.data.commit("same again")
    with pytest.raises(InvalidInput, match="needs a message"):
        ws.data.commit("  ")


def test_version_lookup_by_prefix(ws: Workspace, write_ei: WriteEI) -> None:
    _import(ws, write_ei, 2)
    version = ws.data.commit("two")
    assert ws.data.version(version.id[:6]).id == version.id
    with pytest.raises(NotFound):
        ws.data.version("ffff" if not version.id.startswith("ffff") else "0000")
    with pytest.raises(InvalidInput, match="hex"):
        ws.data.version("zz")
