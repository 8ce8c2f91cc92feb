"""Time to roll a release out to a simulated fleet (default 5,000 devices) through one
`edgeops serve` on SQLite: every device runs the real agent over HTTP (TUF metadata, download,
A/B install, confirmation), stages 1,10,50,100%.

The rollout's dwell is spent on a simulated clock (the scheduler is advanced by hand), so the
time printed is what the server and the devices need, not the configured waiting. Devices run in
this process on `--threads` threads, so on a 2-core machine they share the CPU with the server:
the rate is a floor for the server alone. Prints JSON.

    .venv/bin/python benchmarks/fleet_rollout.py [--devices 5000] [--threads 8] [--workers 1]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from ingest_http import cpu_seconds

from edgeops.fleet import devices as device_service
from edgeops.fleet.simulator.devices import DeviceSpec
from edgeops.fleet.simulator.fleet import Simulation
from edgeops.governance import keys
from edgeops.store.tables import utcnow
from edgeops.workspace import Workspace
from fleet import start_server

OLD, NEW = b"\x01" * 16384, b"\x02" * 16384


def register(ws: Workspace, count: int) -> list[DeviceSpec]:
    with ws.session() as session:
        project = session.merge(ws.projects.get("bench"))
        specs = []
        for n in range(count):
            _, key = device_service.register(session, project, f"d{n:05}", "pi4",
                                             actor="bench", now=utcnow())  # fmt: skip
            specs.append(DeviceSpec(f"d{n:05}", key, "pi4"))
        session.commit()
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=8, help="simulated devices at a time")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeops-bench-") as tmp:
        home = Path(tmp) / "home"
        ws = Workspace(home)
        ws.projects.create("bench")
        ws.fleet.signing_init(now=datetime.now(UTC))
        ws.fleet.create_release("pi4", "1.0.0", {"model.bin": OLD})
        specs = register(ws, args.devices)
        env = {**os.environ, "EDGEOPS_HOME": str(home), "EDGEOPS_SERVE_SCHEDULE_S": "0",
               "EDGEOPS_SERVE_MONITOR_S": "0"}  # fmt: skip
        server, url = start_server(env, args.workers)
        try:
            with ws.session() as session:
                project = session.merge(ws.projects.get("bench"))
                _, viewer = keys.create_key(session, role="viewer", project=project,
                                            name="bench", actor="bench")  # fmt: skip
                session.commit()
            root = httpx.get(f"{url}/api/v1/projects/bench/tuf/metadata/1.root.json",
                             headers={"x-api-key": viewer}).content  # fmt: skip
            sim = Simulation(url, "bench", root, Path(tmp) / "sim", workers=args.threads)
            for spec in specs:
                sim.add(spec, {"model.bin": OLD}, "1.0.0")
            first = sim.round(datetime.now(UTC))
            ws.fleet.create_release("pi4", "1.1.0", {"model.bin": NEW})
            clock = datetime.now(UTC)
            cpu_before, started = cpu_seconds(server.pid), time.perf_counter()
            rollout = ws.fleet.create_rollout("1.1.0", stages="1,10,50,100", dwell="1m",
                                              max_failure_rate="2%", now=clock)  # fmt: skip
            stages = []
            while True:
                ws.fleet.advance(clock)
                status = ws.fleet.rollout(rollout["id"])
                if status["state"] != "running":
                    break
                stage_start = time.perf_counter()
                outcome = sim.round(clock)
                stages.append({"seconds": round(time.perf_counter() - stage_start, 1),
                               "updated": outcome.get("healthy", 0)})  # fmt: skip
                clock += timedelta(minutes=2)
            seconds = time.perf_counter() - started
            cpu_after = cpu_seconds(server.pid)
            running = sim.census().get("1.1.0", 0)  # before the devices' folders go
        finally:
            server.terminate()
            server.wait(timeout=30)
            ws.close()
    result = {
        "benchmark": "fleet_rollout",
        "devices": args.devices,
        "server_workers": args.workers,
        "device_threads": args.threads,
        "before": dict(first),
        "state": status["state"],
        "running_new_release": running,
        "seconds_to_roll_out": round(seconds, 1),
        "updates_per_s": round(running / seconds, 1),
        "rounds": stages,
        "server_cpu_s": None if cpu_before is None or cpu_after is None
        else round(cpu_after - cpu_before, 1),
    }  # fmt: skip
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
