"""`edgeops forward`: readings from a serial port or stdin to a server, like EI's data forwarder."""

import socket
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.markup import escape

from edgeops.cli.context import console, errors, reporting_errors
from edgeops.data.samples import validate_label
from edgeops.fleet.forwarder import (
    Event,
    Forwarder,
    ForwarderSettings,
    IngestionClient,
    Summary,
    WindowBuffer,
    default_buffer_folder,
    open_serial,
    serial_lines,
    stream_lines,
)

_STYLES = {"uploaded": "green", "buffered": "yellow", "dropped": "red", "notice": "dim"}


def forward(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(envvar="EDGEOPS_SERVER", help="Server URL, e.g. http://edgeops.lan:4810"),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            envvar="EDGEOPS_API_KEY",
            show_default=False,
            help="API key allowed to ingest data (the variable keeps it out of process lists)",
        ),
    ] = None,
    serial: Annotated[
        str | None, typer.Option(help="Serial port the device writes to, e.g. /dev/ttyACM0")
    ] = None,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the lines from stdin")] = False,
    baud: Annotated[int, typer.Option(min=1, help="Serial baud rate")] = 115200,
    frequency: Annotated[
        float | None,
        typer.Option(min=0.001, help="Readings per second (default: measured over 1 s)"),
    ] = None,
    window_ms: Annotated[float, typer.Option(min=1.0, help="Length of each sample")] = 1000.0,
    label: Annotated[str | None, typer.Option(help="Label every sample with this")] = None,
    category: Annotated[str, typer.Option(help="training, testing or split (80/20)")] = "split",
    sensors: Annotated[
        str | None, typer.Option(help="Axis names, e.g. accX,accY,accZ (default axis0..)")
    ] = None,
    units: Annotated[
        str | None, typer.Option(help="Units, one for all or one per axis (default N/A)")
    ] = None,
    device: Annotated[str | None, typer.Option(help="Device name (default: hostname)")] = None,
    buffer: Annotated[
        Path | None,
        typer.Option(help="Where windows wait while the server is away (default ~/.cache/…)"),
    ] = None,
    drain_timeout: Annotated[
        float, typer.Option(min=0.0, help="Seconds to keep sending buffered windows at the end")
    ] = 30.0,
) -> None:
    """Forward readings (one line each, numbers split by commas, tabs or spaces) as samples.

    Example: edgeops forward --serial /dev/ttyACM0 --sensors accX,accY,accZ --label idle
    """
    problem = _check(server, key, serial, stdin, frequency, category)
    if problem:
        _fail(problem)
    assert server is not None and key is not None
    with reporting_errors():
        if label is not None:
            validate_label(label)
        settings = ForwarderSettings(
            device_name=device or socket.gethostname(), frequency=frequency,
            window_ms=window_ms, label=label, category=category,
            sensors=_list(sensors, "--sensors"), units=_list(units, "--units"),
        )  # fmt: skip
        folder = buffer or default_buffer_folder(server)
        port = open_serial(serial, baud) if serial else None
        try:
            with IngestionClient(server, key) as client:
                summary = _run(
                    Forwarder(settings, client, WindowBuffer(folder), _print), port, drain_timeout
                )
        finally:
            if port is not None:
                port.close()
    _print_summary(summary, folder)
    raise typer.Exit(1 if summary.failure or summary.remaining else 0)


def _check(
    server: str | None, key: str | None, serial: str | None, stdin: bool,
    frequency: float | None, category: str,
) -> str | None:  # fmt: skip
    if (serial is None) == (not stdin):
        return "give exactly one of --serial PORT or --stdin"
    if not key:
        return "missing API key: pass --key or set EDGEOPS_API_KEY"
    if not server:
        return "missing server: pass --server http://host:4810 or set EDGEOPS_SERVER"
    if not server.startswith(("http://", "https://")):
        return f"--server {server!r} must be an http:// or https:// URL"
    if category not in ("training", "testing", "split"):
        return f"unknown --category {category!r}: use training, testing or split"
    if stdin and frequency is None and not sys.stdin.isatty():
        return (
            "--frequency is required with --stdin from a file or pipe: arrival times there "
            "say nothing about the sampling rate"
        )
    return None


def _list(value: str | None, option: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = tuple(item.strip() for item in value.split(","))
    if not all(items) or len(set(items)) != len(items):
        _fail(f"{option} {value!r}: give distinct, non-empty names separated by commas")
    return items


def _run(forwarder: Forwarder, port: object | None, drain_timeout: float) -> Summary:
    try:
        forwarder.start()
        lines = serial_lines(port) if port is not None else stream_lines(sys.stdin.buffer)
        try:
            forwarder.run(lines)
        except KeyboardInterrupt:
            errors.print("stopping: sending what is left (Ctrl-C again to stop now)", style="dim")
        return forwarder.finish(drain_timeout)
    except KeyboardInterrupt:
        return forwarder.close()
    finally:
        forwarder.close()


def _print(event: Event) -> None:
    style = _STYLES[event.kind]
    errors.print(
        f"[{style}]{event.kind}[/] {escape(event.message)}", highlight=False, soft_wrap=True
    )


def _print_summary(summary: Summary, folder: Path) -> None:
    lines = summary.lines
    skipped = lines.blank + lines.not_numeric + lines.wrong_axes + lines.not_finite
    parts = [f"{summary.uploaded} uploaded", f"{summary.dropped} dropped"]
    if summary.frequency is not None:
        parts.append(f"{summary.frequency:g} Hz")
    parts.append(f"{lines.readings} readings")
    if skipped:
        parts.append(
            f"{skipped} lines skipped ({lines.not_numeric} not numbers, {lines.wrong_axes} "
            f"wrong axis count, {lines.not_finite} NaN/inf, {lines.blank} blank)"
        )
    if summary.tail_dropped:
        parts.append(f"last {summary.tail_dropped} readings dropped (under half a window)")
    console.print(" · ".join(parts), highlight=False, soft_wrap=True)
    if summary.failure:
        errors.print(f"[red]error:[/] {escape(summary.failure)}", highlight=False, soft_wrap=True)
    if summary.remaining:
        errors.print(
            f"[yellow]{summary.remaining} windows still buffered[/] in {escape(str(folder))}; "
            "they will be sent next time",
            highlight=False, soft_wrap=True,
        )  # fmt: skip


def _fail(message: str) -> NoReturn:
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)
