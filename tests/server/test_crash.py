"""Kill -9 during load: every acknowledged sample survives intact, the audit chain verifies."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from sqlalchemy import func, select

from edgeops.data.formats.ei import sign_ei
from edgeops.governance import audit, keys
from edgeops.store.tables import PackedBlob, PackedBlobLog, StagedBlob
from edgeops.workspace import Workspace


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "EDGEOPS_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "edgeops", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start")


@pytest.mark.slow
def test_sigkill_mid_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Workspace(home) as ws:
        project = ws.projects.create("p")
        with ws.session() as session:
            _, key = keys.create_key(
                session,
                role="device",
                project=project,
                name="loader",
                actor="test",
                device_id="loader",
            )
            session.commit()
        hmac_key = project.hmac_key
    port = _free_port()
    server = _serve(home, port)
    acknowledged: dict[int, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def loader(worker: int) -> None:
        rng = np.random.default_rng(worker)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=10, headers={"x-api-key": key}
        ) as client:
            while not stop.is_set():
                values = rng.normal(size=(50, 3)).astype(np.float32).tolist()
                body = sign_ei(
                    {
                        "interval_ms": 10,
                        "sensors": [{"name": a, "units": "g"} for a in "xyz"],
                        "values": values,
                    },
                    hmac_key,
                )
                try:
                    answer = client.post(
                        "/api/v1/projects/p/samples?category=training",
                        content=body,
                        headers={"x-file-name": "load.json"},
                    )
                except httpx.TransportError:
                    return  # the server is gone: this request was never acknowledged
                if answer.status_code == 201:
                    with lock:
                        acknowledged[answer.json()["id"]] = body

    threads = [threading.Thread(target=loader, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 300 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.send_signal(signal.SIGKILL)
    server.wait()
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) >= 300

    restarted = _serve(home, port)  # the server opens the same database and blobs again
    restarted.terminate()
    restarted.wait(timeout=30)
    with Workspace(home, create=False) as ws:
        stored = {sample.id: sample for sample in ws.data.samples()}
        missing = set(acknowledged) - set(stored)
        assert not missing, f"{len(missing)} acknowledged samples were lost"
        for sample_id, sample in stored.items():  # nothing half-written: every blob verifies
            original = ws.data.original(sample)
            ws.data.values(sample)
            if sample_id in acknowledged:
                assert original == acknowledged[sample_id]
        with ws.session() as session:
            assert audit.verify(session).ok
            # every blob of every sample is in a pack, its place recorded with its sample's
            # commit (in the log, or merged from there since)
            packed = set(session.scalars(select(PackedBlob.digest)))
            packed |= set(session.scalars(select(PackedBlobLog.digest)))
            assert session.scalar(select(func.count()).select_from(StagedBlob)) == 0
        for sample in stored.values():
            assert {sample.content_hash, sample.original_hash} <= packed
