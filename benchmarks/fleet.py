"""Fleet benchmarks: device check-ins a second that one `edgeops serve` handles (SQLite and
PostgreSQL), and delta vs full update bytes for a weights-only model change.

Prints JSON. Targets: >= 2,000 check-ins/s on 2 cores with PostgreSQL; deltas <= 30% of the
full image for a weights-only change. Check-ins are measured in the steady state, after every
device has checked in a few times (the warm-up's own numbers are printed too: a device's first
check-in is written at once, and each server process looks its key up once); CPU milliseconds
per check-in (server processes, and PostgreSQL's) are the numbers to compare on a shared machine.

    .venv/bin/python benchmarks/fleet.py [--devices 1000] [--seconds 10] [--clients 16]
        [--workers 2] [--skip-postgres]
"""

import argparse
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from edgeops.fleet import delta

sys.path.insert(0, str(Path(__file__).parent))
from ingest_http import cpu_seconds, per_request_ms

from edgeops.workspace import Workspace

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def start_postgres(base: Path) -> tuple[str, Path]:
    """A throwaway cluster (as tests/conftest.py makes one); returns its URL and data folder."""
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", free_port()
    subprocess.run(as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "--no-sync", "-U",
                                "edgeops", "--auth=trust", "-E", "UTF8"]),
                   check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200"
    subprocess.run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options,
                                "-l", str(base / "log"), "start", "-w"]),
                   check=True, capture_output=True)  # fmt: skip
    createdb = [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "edgeops"]
    subprocess.run(as_postgres([*createdb, "bench"]), check=True, capture_output=True)
    return f"postgresql+psycopg://edgeops@127.0.0.1:{port}/bench", data


def start_server(env: dict[str, str], workers: int) -> tuple["subprocess.Popen[bytes]", str]:
    """`edgeops serve` on a free port, waited for until /healthz answers: (process, base URL)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "edgeops", "serve", "--port", str(port), "--workers",
         str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    return server, url


def prepare(home: Path, database_url: str | None, devices: int) -> list[str]:
    """A signed project with release 1.0.0 and `devices` registered devices; their keys."""
    with Workspace(home, database_url=database_url) as ws:
        ws.projects.create("bench")
        ws.fleet.signing_init()
        ws.fleet.create_release("pi4", "1.0.0", {"model.bin": b"\x00" * 1024})
        keys = []
        with ws.session() as session:
            from edgeops.fleet import devices as device_service
            from edgeops.fleet import releases
            from edgeops.store.tables import utcnow

            project = session.merge(ws.projects.get("bench"))
            release = releases.get(session, project, "pi4", "1.0.0")
            for n in range(devices):
                device, key = device_service.register(session, project, f"d{n:05}", "pi4",
                                                      actor="bench", now=utcnow())  # fmt: skip
                device.installed_release_id = release.id  # as its first check-in would say
                keys.append(key)
            session.commit()
    return keys


def run_wrk(url: str, keys_file: Path, clients: int, seconds: float) -> dict[str, float]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk")
    script = Path(__file__).with_name("fleet_checkin.lua")
    output = subprocess.run(
        ["wrk", "-t", "2", "-c", str(clients), "-d", f"{int(seconds)}s", "-s", str(script),
         url, "--", str(keys_file)], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(x for x in output.splitlines() if x.startswith("WRK_RESULT "))
    result: dict[str, float] = json.loads(line.removeprefix("WRK_RESULT "))
    return result


def checkins(database: str, args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="edgeops-bench-") as tmp:
        base = Path(tmp).resolve()
        database_url, pg_data = None, None
        if database == "postgresql":  # its own folder: the postgres user cannot enter `tmp`
            pg_base = Path(tempfile.mkdtemp(prefix="edgeops-bench-pg-"))
            database_url, pg_data = start_postgres(pg_base)
        home = base / "home"
        try:
            keys = prepare(home, database_url, args.devices)
            keys_file = base / "keys.txt"
            keys_file.write_text("\n".join(keys) + "\n")
            env = {**os.environ, "EDGEOPS_HOME": str(home.resolve()),
                   "EDGEOPS_SERVE_SCHEDULE_S": "0"}  # fmt: skip
            postmaster = None
            if database_url and pg_data:
                env["EDGEOPS_DATABASE_URL"] = database_url
                postmaster = int((pg_data / "postmaster.pid").read_text().split()[0])
            server, url = start_server(env, args.workers)
            try:
                target = f"{url}/api/v1/projects/bench/device/checkin"
                # Warm up until every device has checked in a few times: its first check-in is
                # written at once, and each server process looks its key and answer up once.
                cold, cold_cpu = {"requests": 0.0, "errors": 0.0}, cpu_seconds(server.pid)
                started = time.monotonic()
                while (cold["requests"] < 5 * args.devices * args.workers
                       and time.monotonic() - started < 120):  # fmt: skip
                    warm = run_wrk(target, keys_file, args.clients, 2)
                    cold = {k: cold[k] + warm[k] for k in ("requests", "errors")}
                cpu_before = cpu_seconds(server.pid)
                database_before = cpu_seconds(postmaster) if postmaster else None
                result = run_wrk(target, keys_file, args.clients, args.seconds)
                cpu_after = cpu_seconds(server.pid)
                database_after = cpu_seconds(postmaster) if postmaster else None
            finally:
                server.terminate()
                server.wait(timeout=60)
            with Workspace(home, database_url=database_url) as ws:
                seen = sum(d["last_seen_at"] is not None for d in ws.fleet.devices(project="bench"))
        finally:
            if pg_data is not None:
                subprocess.run(as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg_data), "stop",
                                            "-m", "immediate"]), capture_output=True)  # fmt: skip
                shutil.rmtree(pg_data.parent, ignore_errors=True)
    ok = result["requests"] - result["errors"]
    return {
        "checkins_per_s": round(ok / result["seconds"], 1),
        "errors": int(result["errors"]),
        "latency_ms": {"p50": result["p50_ms"], "p99": result["p99_ms"]},
        "server_cpu_ms_per_checkin": per_request_ms(cpu_before, cpu_after, ok),
        "database_cpu_ms_per_checkin": per_request_ms(database_before, database_after, ok),
        "warm_up": {
            "checkins": int(cold["requests"] - cold["errors"]),
            "server_cpu_ms_per_checkin": per_request_ms(
                cold_cpu, cpu_before, int(cold["requests"] - cold["errors"])
            ),
        },
        "devices_seen": seen,
    }


def firmware(code: bytes, weights: np.ndarray) -> bytes:
    """An MCU image as the linker lays it out: code and constants, then the model's int8
    weights in .rodata, then a small table after them."""
    return code + weights.astype(np.int8).tobytes() + hashlib.sha256(weights.tobytes()).digest()


def deltas() -> dict[str, object]:
    """Delta vs full bytes when only the weights change. The code is real machine code (the
    first 192 KiB of numpy's compiled core); the weights are a 40k-parameter int8 model."""
    code = Path(np._core._multiarray_umath.__file__).read_bytes()[: 192 * 1024]
    rng = np.random.default_rng(0)
    weights = np.clip(np.round(rng.normal(0, 30, 40_000)), -127, 127)
    tuned = weights.copy()  # fine-tuning: a third of the weights move by one or two steps
    moved = rng.random(weights.size) < 1 / 3
    tuned[moved] = np.clip(tuned[moved] + rng.choice([-2, -1, 1, 2], moved.sum()), -127, 127)
    retrained = np.clip(np.round(rng.normal(0, 30, 40_000)), -127, 127)  # every weight new
    old = firmware(code, weights)
    cases = {}
    for name, new_weights in (("fine-tuned weights", tuned), ("retrained weights", retrained)):
        new = firmware(code, new_weights)
        patch = delta.make(old, new)
        assert delta.apply(old, patch, hashlib.sha256(new).hexdigest(), len(new)) == new
        cases[name] = {"full_bytes": len(new), "delta_bytes": len(patch),
                       "ratio": round(len(patch) / len(new), 4)}  # fmt: skip
    return {"image": "192 KiB machine code + 40,000 int8 weights", "cases": cases,
            "target_ratio": 0.30}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument(
        "--workers", type=int, default=2, help="server processes (one per core, as deployed)"
    )
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    report: dict[str, object] = {
        "benchmark": "fleet", "devices": args.devices, "clients": args.clients,
        "server_workers": args.workers,
    }  # fmt: skip
    report["deltas"] = deltas()
    report["sqlite"] = checkins("sqlite", args)
    print(json.dumps(report["sqlite"]), file=sys.stderr)
    if not args.skip_postgres and (PG_BIN / "initdb").exists():
        report["postgresql"] = checkins("postgresql", args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
