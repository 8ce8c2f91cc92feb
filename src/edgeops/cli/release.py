"""`edgeops release …`: signed releases of artifacts for a device type."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, ProjectOpt, console, print_json, workspace
from edgeops.errors import InvalidInput

app = typer.Typer(help="Releases: signed, versioned bundles of builds for a device type.")

KeysDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--keys-dir", envvar="EDGEOPS_SIGNING_KEYS",
        help="Folder of offline signing keys (default: <home>/signing-keys)",
    ),
]  # fmt: skip


def _files(paths: list[Path], max_bytes: int) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in paths:
        name, sep, given = str(path).partition("=")
        source = Path(given) if sep else path
        name = name if sep else path.name
        if not source.is_file():
            raise InvalidInput(f"{source}: no such file (give --file PATH or --file NAME=PATH)")
        if source.stat().st_size > max_bytes:
            raise InvalidInput(f"{source}: larger than {max_bytes} bytes (EDGEOPS_MAX_FILE_BYTES)")
        if name in files:
            raise InvalidInput(f"two artifacts are named {name!r}: rename one with NAME=PATH")
        files[name] = source.read_bytes()
    return files


@app.command()
def create(
    ctx: typer.Context,
    device_type: Annotated[str, typer.Option("--device-type", help="Hardware type, e.g. pi4")],
    version: Annotated[str, typer.Option("--version", help="Semantic version, e.g. 1.2.0")],
    file: Annotated[
        list[Path], typer.Option("--file", help="An artifact: PATH or NAME=PATH (repeatable)")
    ],
    changelog: Annotated[str, typer.Option(help="What changed")] = "",
    model: Annotated[
        str | None, typer.Option(help="The model version it ships: vN, production…")
    ] = None,
    mcuboot: Annotated[
        bool, typer.Option("--mcuboot", help="Sign the artifacts as MCUboot images")
    ] = False,
    slot_size: Annotated[int, typer.Option(help="MCUboot slot size in bytes (0: unchecked)")] = 0,
    header_size: Annotated[int, typer.Option(help="MCUboot header size")] = 0x200,
    keys_dir: KeysDirOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a signed release (TUF targets, deltas from the releases devices run)."""
    from edgeops.fleet.mcuboot import SlotLayout
    from edgeops.fleet.releases import McubootOptions

    with workspace(ctx) as ws:
        options = (
            McubootOptions(SlotLayout(header_size=header_size, slot_size=slot_size))
            if mcuboot else None
        )  # fmt: skip
        release = ws.fleet.create_release(
            device_type, version, _files(file, ws.settings.max_file_bytes), project=project,
            changelog=changelog, model=model, keys_dir=keys_dir, mcuboot=options,
        )  # fmt: skip
    if as_json:
        print_json(release)
        return
    console.print(f"release [bold]{device_type}/{version}[/] signed", highlight=False)
    for artifact in release["artifacts"]:
        console.print(f"  {artifact['name']}  {artifact['length']} bytes  {artifact['kind']}",
                      highlight=False)  # fmt: skip
    for delta in release["deltas"]:
        share = delta["length"] / delta["image_length"]
        console.print(f"  delta from {delta['from_version']}: {delta['length']} bytes "
                      f"({share:.0%} of the image)", highlight=False)  # fmt: skip


@app.command("list")
def list_(
    ctx: typer.Context,
    device_type: Annotated[str | None, typer.Option("--device-type")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List releases, oldest first per device type."""
    with workspace(ctx) as ws:
        found = ws.fleet.releases(project=project, device_type=device_type)
    if as_json:
        print_json(found)
        return
    table = Table("device type", "version", "artifacts", "deltas", "created", "changelog")
    for r in found:
        table.add_row(
            r["device_type"], r["version"], str(len(r["artifacts"])), str(len(r["deltas"])),
            r["created_at"][:16], r["changelog"][:60],
        )  # fmt: skip
    console.print(table)


@app.command()
def show(
    ctx: typer.Context,
    release: Annotated[str, typer.Argument(help="TYPE/VERSION, or VERSION")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One release: artifacts, deltas, changelog."""
    with workspace(ctx) as ws:
        found = ws.fleet.release(release, project=project)
    if as_json:
        print_json(found)
        return
    for name, value in found.items():
        console.print(f"[bold]{name:12}[/] {value}", highlight=False)


signing_app = typer.Typer(
    help="Update signing keys (TUF roles, MCUboot): offline keys stay in the key folder."
)


@signing_app.command("init")
def signing_init(
    ctx: typer.Context,
    keys_dir: KeysDirOpt = None,
    online_targets: Annotated[
        bool,
        typer.Option("--online-targets", help="Let the server hold the targets key too, so "
                     "releases can be created over the API (less safe)"),
    ] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:  # fmt: skip
    """Create the project's TUF keys (root, targets, snapshot, timestamp) and MCUboot key."""
    with workspace(ctx) as ws:
        result = ws.fleet.signing_init(
            project=project, keys_dir=keys_dir, online_targets=online_targets
        )
    if as_json:
        print_json(result)
        return
    for role, keyid in result["keys"].items():
        console.print(f"  {role:10} {keyid[:16]}…", highlight=False)
    for path in result["written"]:
        console.print(f"  wrote {path}", highlight=False)
    console.print("keep the key folder offline and backed up: it signs every release")


@signing_app.command("rotate")
def signing_rotate(
    ctx: typer.Context,
    role: Annotated[str, typer.Argument(help="root, targets, snapshot or timestamp")],
    keys_dir: KeysDirOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace one role's key; a new root version (signed by the root key) trusts the new key."""
    with workspace(ctx) as ws:
        result = ws.fleet.signing_rotate(role, project=project, keys_dir=keys_dir)
    if as_json:
        print_json(result)
        return
    console.print(
        f"{role} key rotated: {result['old'][:16]}… → {result['new'][:16]}… "
        f"(root version {result['root_version']})",
        highlight=False,
    )


@signing_app.command("show")
def signing_show(ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Key ids, metadata versions and expiry per role (public information only)."""
    with workspace(ctx) as ws:
        result = ws.fleet.signing_show(project=project)
    if as_json:
        print_json(result)
        return
    table = Table("role", "key id", "online", "version", "expires")
    for role, row in result["roles"].items():
        table.add_row(role, (row["keyid"] or "-")[:16], "yes" if row["online"] else "no",
                      str(row["version"]), (row["expires"] or "-")[:19])  # fmt: skip
    console.print(table)
