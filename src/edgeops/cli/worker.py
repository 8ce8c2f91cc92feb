"""`edgeops worker`: run workflow steps from the database's job queue on this host."""

import signal
import threading
from typing import Annotated

import typer

from edgeops.cli.context import console, workspace


def worker(
    ctx: typer.Context,
    threads: Annotated[int, typer.Option(min=1, max=64, help="Jobs run at a time")] = 1,
    lease: Annotated[
        float, typer.Option(min=1.0, help="Seconds a job stays ours without a heartbeat")
    ] = 30.0,
    poll: Annotated[float, typer.Option(min=0.05, help="Seconds between looks when idle")] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="Run what is due, then exit")] = False,
) -> None:
    """Claim and run workflow steps until Ctrl-C (also fires triggers). Start as many as you
    like on as many hosts as share the database (PostgreSQL for more than one host)."""
    from edgeops.automation.worker import Worker

    with workspace(ctx) as ws:
        if once:
            done = Worker(ws, lease_s=lease).run_until_idle()
            console.print(f"{done} job(s) run")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        workers = [Worker(ws, lease_s=lease) for _ in range(threads)]
        running = [
            threading.Thread(target=w.serve, args=(stop, poll, i == 0), daemon=True)
            for i, w in enumerate(workers)
        ]
        for thread in running:
            thread.start()
        console.print(f"edgeops worker: {threads} thread(s) on {ws.settings.home.resolve()}")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            stop.set()
        for thread in running:
            thread.join()
