"""Telemetry in the workspace's object store: with `EDGEOPS_BLOB_URL=s3://...` the Parquet
partitions go to `{blob URL}/telemetry/` on a real S3 server (SeaweedFS, see conftest.py), are
read back by another process's workspace, queried for device health, compacted and pruned."""

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest

from edgeops.monitoring import health
from edgeops.workspace import Workspace

s3fs = pytest.importorskip("s3fs")

pytestmark = pytest.mark.s3

DAY0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


class S3Server(Protocol):  # what the `s3_env` fixture of conftest.py yields
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str


def _records(day: int, count: int, errors: int = 0) -> list[dict[str, object]]:
    start = (DAY0 + timedelta(days=day)).timestamp()
    return [
        {"t": start + i, "p": "walk", "c": 0.9, "l": 4.0, "f": [float(i), 1.0],
         **({"e": "sensor timeout"} if i < errors else {})}
        for i in range(count)
    ]  # fmt: skip


def test_telemetry_partitions_live_in_the_object_store(s3_env: S3Server, tmp_path: Path) -> None:
    url = f"s3://{s3_env.bucket}/t-{uuid.uuid4().hex[:12]}"
    ws = Workspace(tmp_path / "home", blob_url=url)
    other = Workspace(tmp_path / "home", blob_url=url)  # another server process
    try:
        ws.projects.create("p")
        for day in range(3):
            answer = ws.monitoring.ingest({"m": 1, "records": _records(day, 50, errors=day * 10)},
                                          device="d1")  # fmt: skip
            assert answer["accepted"] == 50
        ws.monitoring.ingest({"m": 1, "records": _records(2, 5)}, device="d2")

        client = s3fs.S3FileSystem(
            key=s3_env.access_key, secret=s3_env.secret_key,
            endpoint_url=s3_env.endpoint, skip_instance_cache=True,
        )  # fmt: skip
        root = url.removeprefix("s3://") + "/telemetry/project=p"
        objects = client.find(root)
        assert len(objects) == 4 and all(o.endswith(".parquet") for o in objects)
        assert sorted({o.split("/")[-2] for o in objects}) == [
            "day=2026-03-01", "day=2026-03-02", "day=2026-03-03",
        ]  # fmt: skip
        assert not (tmp_path / "home" / "telemetry").exists()  # nothing in the local home

        store = other.monitoring.store
        assert store.days("p") == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
        table = store.read("p", since=DAY0 + timedelta(days=1), model=1)
        assert table.num_rows == 105 and table["device"].to_pylist().count("d2") == 5
        fleet = health.devices(store, "p", DAY0 + timedelta(days=2), DAY0 + timedelta(days=3))
        assert [(d["device"], d["rows"], d["errors"]) for d in fleet] == [
            ("d1", 50, 20), ("d2", 5, 0),
        ]  # fmt: skip

        merged = store.compact("p", date(2026, 3, 3))
        assert len(merged) == 1 and store.read("p", model=1).num_rows == 155
        removed = other.monitoring.prune(1, project="p")  # the days before today go
        assert removed == ["2026-03-01", "2026-03-02", "2026-03-03"]
        assert [o for o in client.find(root) if o.endswith(".parquet")] == []
        assert ws.monitoring.store.read("p").num_rows == 0  # the first process sees it too
    finally:
        other.close()
        ws.close()
