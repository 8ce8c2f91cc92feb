"""HTTP ingestion throughput: `edgeops serve` on SQLite taking 1-second 3-axis Edge Impulse
JSON samples from 8 concurrent clients, beside the same server's authenticated no-op endpoint.

Prints JSON: acknowledged samples/s (a 200 means committed and synced), no-op requests/s, and
the ratio. Targets: ingestion >= 50% of the no-op rate and >= 1,500 samples/s on 2 cores. The
two endpoints take turns in short runs (`--rounds`): this VM's speed drifts by a quarter from
one minute to the next, and a ratio of two rates measured apart drifted with it. Also the
server's CPU per request for both (all its processes, the committer's too), the steadier figure
on a shared machine. With `--workers N`, N server processes share the SQLite file; their
committers take turns through a file lock (see `data.ingest`).

    .venv/bin/python benchmarks/ingest_http.py [--seconds 10] [--rounds 5] [--clients 8]
        [--workers 1]
"""

import argparse
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

from edgeops.governance import keys
from edgeops.workspace import Workspace


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_wrk(url: str, key: str, clients: int, seconds: float) -> tuple[int, int, float]:
    """wrk (C, Debian's `wrk`) drives the load: a Python client would eat the CPU the server
    needs. The Lua script beside this file makes a distinct sample per request."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (make bench does)")
    script = Path(__file__).with_suffix(".lua")
    duration = f"{max(1, round(seconds))}s"  # wrk takes whole seconds
    command = ["wrk", "-t", "2", "-c", str(clients), "-d", duration, "-s", str(script)]
    output = subprocess.run(
        [*command, url, "--", key], capture_output=True, text=True, check=True
    ).stdout
    line = next(x for x in output.splitlines() if x.startswith("WRK_RESULT "))
    result = json.loads(line.removeprefix("WRK_RESULT "))
    return result["requests"] - result["errors"], result["errors"], result["seconds"]


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) so far of a process and all its descendants (the server's
    committer process is a child of its fork server), from /proc (Linux). On a shared machine
    throughput swings with the neighbours' load; CPU per request does not as much, so it is
    printed too."""
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:  # ended meanwhile
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = int(fields[11]) + int(fields[12])  # utime, stime
    if pid not in times:
        return None
    total = 0
    for process, ticks in times.items():
        ancestor: int | None = process
        while ancestor is not None and ancestor != pid:
            ancestor = parents.get(ancestor)
        if ancestor == pid:
            total += ticks
    return total / os.sysconf("SC_CLK_TCK")


def per_request_ms(before: float | None, after: float | None, requests: int) -> float | None:
    if before is None or after is None or requests == 0:
        return None
    return round(1000 * (after - before) / requests, 3)


class Phase:
    """One endpoint's share of the run: wrk runs of `--seconds / --rounds` each, summed."""

    def __init__(self) -> None:
        self.requests = self.errors = 0
        self.seconds = 0.0
        self.cpu: float | None = 0.0
        self.rates: list[float] = []

    def run(self, url: str, key: str, args: argparse.Namespace, server: int) -> None:
        before = cpu_seconds(server)
        done, errors, seconds = run_wrk(url, key, args.clients, args.seconds / args.rounds)
        after = cpu_seconds(server)
        self.requests += done
        self.errors += errors
        self.seconds += seconds
        self.rates.append(done / seconds)
        if self.cpu is not None and before is not None and after is not None:
            self.cpu += after - before
        else:
            self.cpu = None

    def rate(self) -> float:
        return self.requests / self.seconds

    def cpu_ms(self) -> float | None:
        return per_request_ms(0.0, self.cpu, self.requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per endpoint, in all")
    parser.add_argument(
        "--rounds", type=int, default=5, help="alternating no-op and ingestion runs of each"
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeops-bench-", dir=".") as tmp:
        home = Path(tmp) / "home"
        with Workspace(home) as ws:
            project = ws.projects.create("bench")
            with ws.session() as session:
                _, key = keys.create_key(
                    session,
                    role="device",
                    project=project,
                    name="bench",
                    actor="bench",
                    device_id="bench",
                )
                session.commit()
        port = free_port()
        env = {**os.environ, "EDGEOPS_HOME": str(home)}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgeops",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            noop, ingest = Phase(), Phase()
            for _ in range(args.rounds):  # alternating, so both see the machine alike
                noop.run(f"{url}/api/v1/ping", key, args, server.pid)
                ingest.run(f"{url}/api/training/data", key, args, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=300)  # it moves the staged blobs out before it exits
        with Workspace(home) as ws:
            stored = len(ws.data.samples())
    noop_rate, ingest_rate = noop.rate(), ingest.rate()
    print(
        json.dumps(
            {
                "benchmark": "ingest_http",
                "clients": args.clients,
                "server_workers": args.workers,
                "sample": "EI JSON, 1 s x 3 axes at 100 Hz",
                "noop_requests_per_s": round(noop_rate, 1),
                "ingest_samples_per_s": round(ingest_rate, 1),
                "ratio_ingest_vs_noop": round(ingest_rate / noop_rate, 3),
                "ratio_by_round": [
                    round(i / n, 3) for i, n in zip(ingest.rates, noop.rates, strict=True)
                ],
                "failed_requests": noop.errors + ingest.errors,
                "samples_stored": stored,
                "acknowledged": ingest.requests,
                "server_cpu_ms_per_request": {"noop": noop.cpu_ms(), "ingest": ingest.cpu_ms()},
                "load_generator": "wrk, 2 threads",
                "targets": {"samples_per_s": 1500, "ratio": 0.5},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
