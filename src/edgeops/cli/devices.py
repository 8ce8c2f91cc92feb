"""`edgeops devices …`: register, list, show, tag and revoke devices; enrolment tokens."""

from typing import Annotated, Any

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, ProjectOpt, console, errors, print_json, workspace
from edgeops.errors import InvalidInput

app = typer.Typer(help="Devices: identity and keys, type, tags and groups, what they run.")

DeviceArg = Annotated[str, typer.Argument(help="The device id (e.g. pump-7)")]
ListOpt = Annotated[list[str] | None, typer.Option()]


def _attributes(pairs: list[str] | None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise InvalidInput(f"attribute {pair!r}: write NAME=VALUE (e.g. --attr site=plant-2)")
        found[name] = value or None
    return found


@app.command()
def register(
    ctx: typer.Context,
    device_id: DeviceArg,
    device_type: Annotated[str, typer.Option("--type", help="Hardware type, e.g. pi4, nrf52840")],
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A tag (repeatable)")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="A group (repeatable)")] = None,
    attr: Annotated[
        list[str] | None, typer.Option("--attr", help="NAME=VALUE (repeatable)")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a device and print its device key, which is shown this once only."""
    with workspace(ctx) as ws:
        record, key = ws.fleet.register(
            device_id, device_type, project=project, attributes=_attributes(attr),
            tags=tag or [], groups=group or [],
        )  # fmt: skip
    if as_json:
        print_json({**record, "key": key})
    else:
        console.print(f"device [bold]{device_id}[/] · {device_type}", highlight=False)
        typer.echo(key)
    errors.print("[yellow]warning:[/] the device key is not shown again: store it on the device")


@app.command("list")
def list_(
    ctx: typer.Context,
    device_type: Annotated[str | None, typer.Option("--type", help="Only this type")] = None,
    group: Annotated[str | None, typer.Option(help="Only this group's devices")] = None,
    tag: Annotated[str | None, typer.Option(help="Only devices with this tag")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List devices: type, groups, release, health, last seen."""
    with workspace(ctx) as ws:
        found = ws.fleet.devices(project=project, device_type=device_type, group=group, tag=tag)
    if as_json:
        print_json(found)
        return
    table = Table("device", "type", "groups", "tags", "release", "target", "health", "last seen")
    for d in found:
        health = "revoked" if d["revoked_at"] else d["health"].get("status", "-")
        table.add_row(
            d["device_id"], d["device_type"], ",".join(d["groups"]), ",".join(d["tags"]),
            d["installed_release"] or "-", d["target_release"] or "",
            health, (d["last_seen_at"] or "never")[:19],
        )  # fmt: skip
    console.print(table)
    console.print(f"{len(found)} devices", highlight=False)


@app.command()
def show(
    ctx: typer.Context, device_id: DeviceArg, project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """One device in full."""
    with workspace(ctx) as ws:
        found = ws.fleet.device(device_id, project=project)
    if as_json:
        print_json(found)
        return
    for name, value in found.items():
        console.print(f"[bold]{name:18}[/] {value}", highlight=False)


@app.command()
def tag(
    ctx: typer.Context,
    device_id: DeviceArg,
    add: Annotated[list[str] | None, typer.Option("--add", help="Tag to add")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="Tag to remove")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="Group to join")] = None,
    leave: Annotated[list[str] | None, typer.Option("--leave", help="Group to leave")] = None,
    attr: Annotated[
        list[str] | None, typer.Option("--attr", help="NAME=VALUE; NAME= removes it")
    ] = None,
    project: ProjectOpt = None,
) -> None:
    """Change a device's tags, groups and attributes."""
    with workspace(ctx) as ws:
        found = ws.fleet.tag(
            device_id, project=project, add_tags=add or [], remove_tags=remove or [],
            add_groups=group or [], remove_groups=leave or [], attributes=_attributes(attr),
        )  # fmt: skip
    console.print(
        f"[bold]{device_id}[/] tags: {', '.join(found['tags']) or '-'} · "
        f"groups: {', '.join(found['groups']) or '-'}",
        highlight=False,
    )


@app.command()
def revoke(ctx: typer.Context, device_id: DeviceArg, project: ProjectOpt = None) -> None:
    """Revoke a device: its key stops working at once and it gets no more updates."""
    with workspace(ctx) as ws:
        ws.fleet.revoke(device_id, project=project)
    console.print(f"device [bold]{device_id}[/] revoked", highlight=False)


@app.command("enrolment-token")
def enrolment_token(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'line 3 flashing'")],
    device_type: Annotated[str | None, typer.Option("--type", help="Only this type")] = None,
    group: Annotated[list[str] | None, typer.Option("--group", help="Groups to join")] = None,
    uses: Annotated[int | None, typer.Option(help="How many devices may use it")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A token devices present to register themselves (shown this once only)."""
    with workspace(ctx) as ws:
        record, secret = ws.fleet.enrolment_token(
            name, project=project, device_type=device_type, groups=group or [], uses=uses
        )
    if as_json:
        print_json({**record, "token": secret})
    else:
        typer.echo(secret)
    errors.print("[yellow]warning:[/] the token is not shown again: store it now")
