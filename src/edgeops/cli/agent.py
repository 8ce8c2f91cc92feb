"""`edgeops agent run`: the device agent (poll, verify with TUF, install A/B, confirm or
revert). It talks only to the server: no workspace is opened."""

import logging
from pathlib import Path
from typing import Annotated

import typer

from edgeops.cli.context import console, reporting_errors

app = typer.Typer(help="The device agent: keeps this device on the release its fleet offers.")


@app.command()
def run(
    server: Annotated[str, typer.Option(help="The edgeops server, e.g. https://edge.example.com")],
    device_key: Annotated[str, typer.Option(envvar="EDGEOPS_DEVICE_KEY", help="eo_… key")],
    directory: Annotated[Path, typer.Option("--dir", help="Slots, journal and TUF cache")],
    project: Annotated[str, typer.Option(envvar="EDGEOPS_PROJECT", help="Project name")],
    device_type: Annotated[str, typer.Option(help="e.g. pi4")],
    root: Annotated[
        Path | None, typer.Option(help="The project's root.json, provisioned out of band")
    ] = None,
    trust_on_first_use: Annotated[
        bool, typer.Option(help="Fetch 1.root.json from the server if none is provisioned")
    ] = False,
    once: Annotated[
        bool, typer.Option(help="Boot, check in once, update if offered, exit")
    ] = False,
) -> None:
    """Boot (finishing or undoing an update a power cut interrupted), then check in every
    minute and carry out the offers: download, verify, install, health-check, report."""
    import httpx

    from edgeops.fleet.agent.agent import Agent, AgentConfig
    from edgeops.fleet.agent.verify import TufPlaces, provision_root
    from edgeops.fleet.simulator.fleet import fetch_root

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with reporting_errors():
        config = AgentConfig(server, project, device_key, device_type, directory)
        places = TufPlaces.under(directory, server, project)
        if root is not None:
            provision_root(places, root.read_bytes())
        elif trust_on_first_use and not (places.metadata_dir / "root.json").exists():
            with httpx.Client(timeout=30) as http:
                provision_root(places, fetch_root(http, server, project, device_key))
        if not (places.metadata_dir / "root.json").exists():
            console.print("[red]error:[/] no trust root: pass --root root.json (or "
                          "--trust-on-first-use on a network you trust)")  # fmt: skip
            raise typer.Exit(2)
        agent = Agent(config)
        agent.run(once=once)
    console.print(f"running {agent.slots.installed() or 'nothing yet'}", highlight=False)
