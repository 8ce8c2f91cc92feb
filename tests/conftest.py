"""Fixtures: a workspace per test, on SQLite and on a real PostgreSQL server started here."""

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from edgeops.data.formats.ei import sign_ei
from edgeops.workspace import Workspace

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    """initdb refuses to run as root: run the server tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields its base URL."""
    if not (PG_BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL binaries are missing in CI: `make services` installs them")
        pytest.skip("PostgreSQL binaries not found (`make test` installs them)")
    base = Path(tempfile.mkdtemp(prefix="edgeops-pg-"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", _free_port()
    subprocess.run(
        _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "--no-sync", "-U", "edgeops",
                      "--auth=trust", "-E", "UTF8"]),
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options,
                      "-l", str(base / "log"), "start", "-w"]),
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield f"postgresql+psycopg://edgeops@127.0.0.1:{port}"
    finally:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate"]),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """A new, empty database on the shared server for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    plain = postgres_server.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'edgeops.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def ws(tmp_path: Path, database_url: str) -> Iterator[Workspace]:
    """A fresh workspace with one project, 'test', on each database backend."""
    workspace = Workspace(tmp_path / "home", database_url=database_url)
    workspace.projects.create("test")
    yield workspace
    workspace.close()


KEY = "test-hmac-key"


def ei_file(seed: int, key: str = KEY, steps: int = 20) -> bytes:
    """An EI JSON file signed with `key`: `steps` rows of 3 axes; `seed` sets the values (the
    signature carries the second it was made in, so the bytes may differ from call to call)."""
    values = np.random.default_rng(seed).normal(size=(steps, 3)).astype(np.float32)
    payload = {
        "device_name": "dev-1",
        "device_type": "TEST",
        "interval_ms": 10,
        "sensors": [{"name": f"acc{a}", "units": "m/s2"} for a in "XYZ"],
        "values": values.tolist(),
    }
    return sign_ei(payload, key)


@pytest.fixture
def write_ei(tmp_path: Path) -> Callable[..., Path]:
    """Write `ei_file(seed, KEY, steps)` to `folder/name`."""

    def write(name: str, seed: int, steps: int = 20, folder: str = "in") -> Path:
        path = tmp_path / folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(ei_file(seed, KEY, steps))
        return path

    return write


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own certificate authority, and its key."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    certificate_path, key_path = folder / "server.pem", folder / "server.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))  # fmt: skip
    return certificate_path, key_path


@pytest.fixture
def self_signed() -> Callable[[Path], tuple[Path, Path]]:
    """Makes a throwaway TLS certificate and key for 127.0.0.1 in a folder."""
    return _self_signed
