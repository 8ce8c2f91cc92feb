"""`edgeops simulate fleet`: many simulated devices against a real server, with faults."""

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from edgeops.cli.context import JsonOpt, console, print_json, reporting_errors

app = typer.Typer(help="Simulated devices, to try rollouts and faults without hardware.")


@app.command()
def fleet(
    devices: Annotated[int, typer.Option(min=1, max=100_000, help="How many devices")],
    server: Annotated[str, typer.Option(help="The edgeops server")],
    project: Annotated[str, typer.Option(envvar="EDGEOPS_PROJECT", help="Project name")],
    token: Annotated[
        str,
        typer.Option(
            envvar="EDGEOPS_ENROLMENT_TOKEN", help="Enrolment token the devices register with"
        ),
    ],
    device_type: Annotated[str, typer.Option(help="e.g. pi4 or nrf52840")] = "pi4",
    style: Annotated[str, typer.Option(help="linux (A/B folders) or mcu (MCUboot)")] = "linux",
    faults: Annotated[str, typer.Option(help="e.g. power-loss=0.1,unhealthy=0.5@1.1.0")] = "",
    rounds: Annotated[int, typer.Option(min=1, help="Check-ins per device")] = 10,
    interval: Annotated[float, typer.Option(help="Seconds between rounds")] = 15.0,
    directory: Annotated[Path, typer.Option("--dir", help="Device folders")] = Path("sim"),
    prefix: Annotated[str, typer.Option(help="Device ids are PREFIX-00000…")] = "sim",
    seed: Annotated[int, typer.Option(help="Which devices the faults hit")] = 0,
    workers: Annotated[int, typer.Option(min=1, max=256, help="Devices at once")] = 8,
    as_json: JsonOpt = False,
) -> None:
    """Enrol N devices, then let them check in `rounds` times, updating as offered; prints
    what happened each round and which release the devices end up running."""
    from edgeops.fleet.simulator.faults import Faults
    from edgeops.fleet.simulator.fleet import Simulation, enrol, fetch_root

    if style not in ("linux", "mcu"):
        raise typer.BadParameter("linux or mcu", param_hint="--style")
    with reporting_errors():
        parsed = Faults.parse(faults)
        sim = Simulation(server, project, b"", directory, faults=parsed, seed=seed,
                         workers=workers)  # fmt: skip
        specs = enrol(sim.http, server, project, token, device_type, devices, prefix)
        sim.root = fetch_root(sim.http, server, project, specs[0].key)
        sim.add_all(spec.__class__(**{**spec.__dict__, "style": style}) for spec in specs)
        history = []
        for number in range(1, rounds + 1):
            outcomes = sim.round(datetime.now(UTC))
            history.append(dict(outcomes))
            if not as_json:
                line = ", ".join(f"{n} {what}" for what, n in outcomes.most_common())
                console.print(f"round {number}: {line}", highlight=False)
            if number < rounds:
                time.sleep(interval)
    census = {str(release): n for release, n in sim.census().items()}
    if as_json:
        print_json({"rounds": history, "running": census})
    else:
        console.print(f"running: {census}", highlight=False)
