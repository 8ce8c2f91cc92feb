"""What every command shares: opening the workspace, turning our errors into exit codes, output."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from edgeops.errors import EdgeopsError
from edgeops.workspace import Workspace

console = Console()
errors = Console(stderr=True)

ProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project", "-p", help="Project name (default: EDGEOPS_PROJECT, or the only one)"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")]


@contextmanager
def reporting_errors() -> Iterator[None]:
    """Our errors become one readable line on stderr and the contract's exit code."""
    try:
        yield
    except EdgeopsError as exc:
        errors.print(f"[red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


@contextmanager
def workspace(ctx: typer.Context, *, create: bool = False) -> Iterator[Workspace]:
    with reporting_errors():
        ws = Workspace(ctx.obj.get("home") if ctx.obj else None, create=create)
        try:
            yield ws
        finally:
            ws.close()


def print_json(data: Any) -> None:
    """JSON on stdout, nothing else: scripts pipe it to jq."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


class ProgressBar:
    """A progress bar on stderr, fed by a service's callback: `progress(total)` once, then
    `progress(-1)` per item done."""

    def __init__(self, label: str, quiet: bool = False) -> None:
        self.bar = Progress(
            TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=errors, transient=True, disable=quiet,
        )  # fmt: skip
        self.task = self.bar.add_task(label, total=None)

    def __enter__(self) -> "ProgressBar":
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, step: int) -> None:
        if step >= 0:
            self.bar.update(self.task, total=step)
        else:
            self.bar.advance(self.task)
