"""The data forwarder: parsing and windowing, then against a real server: from stdin, through
an outage, from a serial port (a pseudo-terminal), and the CLI's argument errors."""

import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from tests.server.conftest import Server, key_maker, start_server
from tests.server.conftest import server as server  # the fixture
from tests.server.conftest import server_limits as server_limits
from typer.testing import CliRunner

from edgeops.cli.forward import forward
from edgeops.errors import EdgeopsError
from edgeops.fleet.forwarder import (
    Event,
    Forwarder,
    ForwarderSettings,
    FrequencyMeter,
    IngestionClient,
    LineParser,
    LineSplitter,
    Window,
    WindowBuffer,
    Windower,
    default_buffer_folder,
    open_serial,
    retry_after_s,
    round_frequency,
    serial_lines,
)
from edgeops.server.app import ServerLimits
from edgeops.store.tables import Project
from edgeops.workspace import Workspace

# ---- lines, frequency, windows, buffer ----


def test_parser_skips_and_counts_what_is_not_a_reading() -> None:
    parser = LineParser()
    lines = ["Booting v1.2...", "", "  ", "0.12,-9.81,0.33", "1\t2\t3", "4 5 6,", "1,2",
             "nan,1,2", "1,inf,2", "1e999,0,0", "7, 8, x", "9,10,11\r"]  # fmt: skip
    rows = [parser.parse(line) for line in lines]
    assert [row for row in rows if row] == [(0.12, -9.81, 0.33), (1, 2, 3), (4, 5, 6), (9, 10, 11)]
    counts = parser.counts
    assert parser.axes == 3 and counts.readings == 4
    assert (counts.blank, counts.not_numeric, counts.wrong_axes, counts.not_finite) == (2, 2, 1, 3)


@given(st.text())
def test_parser_never_crashes_on_random_text(text: str) -> None:
    parser = LineParser()
    for line in [text, *text.splitlines(), text + ",1"]:
        row = parser.parse(line)
        if row is not None:
            assert len(row) == parser.axes and all(math.isfinite(v) for v in row)


@given(
    st.lists(
        st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=3,
                 max_size=3),
        min_size=1, max_size=20,
    ),
    st.sampled_from([",", "\t", " ", ", ", " \t"]),
)  # fmt: skip
def test_float_rows_round_trip_through_text(rows: list[list[float]], separator: str) -> None:
    parser = LineParser()
    text = "".join(separator.join(repr(v) for v in row) + "\r\n" for row in rows).encode()
    splitter = LineSplitter()
    lines = [line for i in range(0, len(text), 7) for line in splitter.feed(text[i : i + 7])]
    assert [parser.parse(line) for line in lines + splitter.end()] == [tuple(r) for r in rows]


def test_windows_and_the_half_window_rule() -> None:
    for readings, expected, tail in ((340, 3, 40), (350, 4, 0), (360, 4, 0), (30, 0, 30)):
        windower = Windower(100)
        for i in range(readings):
            windower.add((float(i),))
        complete = windower.take()
        partial, dropped = windower.flush()
        assert len(complete) + (partial is not None) == expected and dropped == tail
        assert all(len(w) == 100 for w in complete)
    late = Windower()  # the size comes once the frequency is measured
    for i in range(250):
        late.add((float(i),))
    assert late.take() == []
    late.size = 100
    assert [w[0][0] for w in late.take()] == [0, 100]


def test_frequency_measurement_and_rounding() -> None:
    assert [round_frequency(hz) for hz in (98.7, 101.9, 61, 333.3, 0.5, 7.33, 15800)] == [
        100, 100, 60, 333, 0.5, 7.3, 16000,
    ]  # fmt: skip
    rng = np.random.default_rng(0)
    meter, at, measured = FrequencyMeter(), 100.0, None
    while measured is None:
        measured = meter.add(at)
        at += 0.01 + rng.normal(0, 0.002)
    assert measured == 100


def test_buffer_keeps_order_and_survives_a_restart(tmp_path: Path) -> None:
    buffer = WindowBuffer(tmp_path / "buffer")
    for key in ("0000000000002-1", "0000000000001-1", "0000000000003-1"):
        buffer.add(Window(key, f"{key}.json", None, "split", {"values": [[1]]}))
    (tmp_path / "buffer" / ".0000000000004-1.tmp").write_bytes(b"half a wri")
    again = WindowBuffer(tmp_path / "buffer")
    assert len(again) == 3 and again.oldest() == "0000000000001-1"
    assert again.read("0000000000002-1").file_name == "0000000000002-1.json"
    again.remove("0000000000001-1")
    assert again.oldest() == "0000000000002-1"
    assert sorted(p.name for p in (tmp_path / "buffer").iterdir()) == [
        "0000000000002-1.window", "0000000000003-1.window",
    ]  # fmt: skip


def test_retry_after_and_default_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    assert retry_after_s("3") == 3 and retry_after_s(None) is None and retry_after_s("soon") is None
    assert 8 < (retry_after_s(formatdate(time.time() + 10, usegmt=True)) or 0) <= 10
    monkeypatch.setenv("XDG_CACHE_HOME", "/c")
    assert default_buffer_folder("http://[::1]:4810/") == Path("/c/edgeops/forwarder/__1_4810")
    assert default_buffer_folder("https://ei.lan") == Path("/c/edgeops/forwarder/ei.lan")


# ---- against a real server ----


def _lines(count: int, axes: int = 3, start: int = 0) -> list[str]:
    """Distinct readings (the server stores identical windows once)."""
    return [
        ",".join(f"{(i * axes + a) / 100:.2f}" for a in range(axes))
        for i in range(start, start + count)
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_stdin_to_server(server: Server, tmp_path: Path) -> None:
    """3.4 s at 100 Hz: three 1 s windows; the 0.4 s tail is under half a window and dropped."""
    key = server.make_key("data-engineer")
    fed = _lines(340)
    text = "\n".join(["boot: sensor ok", *fed[:200], "", *fed[200:]]) + "\n"
    args = ["--server", server.url, "--stdin", "--frequency", "100", "--label", "wave",
            "--category", "training", "--sensors", "accX,accY,accZ", "--units", "m/s2",
            "--device", "bench-1", "--buffer", str(tmp_path / "buffer")]  # fmt: skip
    result = CliRunner().invoke(_app(), args, input=text, env={"EDGEOPS_API_KEY": key})
    assert result.exit_code == 0, result.output
    assert "3 uploaded" in result.stdout and "last 40 readings dropped" in result.stdout
    assert result.stderr.count("uploaded wave.") == 3 and key not in result.output
    samples = sorted(server.ws.data.samples(), key=lambda s: s.filename)
    assert len(samples) == 3
    for index, sample in enumerate(samples):
        assert (sample.label, sample.category, sample.shape) == ("wave", "training", [100, 3])
        assert sample.meta["signature"] == "verified" and sample.interval_ms == 10
        assert [s["name"] for s in sample.sensors] == ["accX", "accY", "accZ"]
        expected = [
            [float(v) for v in line.split(",")] for line in fed[index * 100 : (index + 1) * 100]
        ]
        np.testing.assert_array_equal(
            server.ws.data.values(sample), np.array(expected, dtype=np.float32)
        )
    assert not list((tmp_path / "buffer").iterdir())


@dataclass
class Offline:
    """A workspace and keys for a server not started yet, on a port nobody listens on."""

    ws: Workspace
    project: Project
    port: int
    make_key: Callable[..., str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextmanager
    def serving(self, limits: ServerLimits | None = None) -> Iterator[None]:
        running = start_server(self.ws, limits or ServerLimits(), port=self.port)
        try:
            yield
        finally:
            running.should_exit = True
            time.sleep(0.05)


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[Offline]:
    ws = Workspace(tmp_path / "home")
    project = ws.projects.create("p")
    yield Offline(ws, project, _free_port(), key_maker(ws, project))
    ws.close()


def _forwarder(url: str, key: str, buffer: Path, events: list[Event], **settings: Any) -> Forwarder:
    options = {"frequency": 100.0, "window_ms": 200.0, "first_retry_s": 0.05, "max_retry_s": 0.2}
    config = ForwarderSettings(device_name="bench", **{**options, **settings})
    client = IngestionClient(url, key, timeout_s=5)
    return Forwarder(config, client, WindowBuffer(buffer), events.append)


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _readings(lines: list[str]) -> np.ndarray:
    return np.array([[float(v) for v in line.split(",")] for line in lines], dtype=np.float32)


def test_buffers_while_the_server_is_away_then_drains(offline: Offline, tmp_path: Path) -> None:
    """Started with the server away, it fetches the HMAC key once the server answers."""
    key = offline.make_key("device", device_id="dev-9")
    buffer, events = tmp_path / "buffer", list[Event]()
    forwarder = _forwarder(offline.url, key, buffer, events)
    forwarder.start()
    fed = _lines(200)  # ten 200 ms windows of 20 readings
    for line in fed:
        forwarder.feed(line, time.monotonic())
    _wait_for(lambda: forwarder.summary.buffered == 10)
    assert len(list(buffer.glob("*.window"))) == 10 and forwarder.summary.uploaded == 0
    with offline.serving():
        summary = forwarder.finish(drain_timeout_s=10)
    assert (summary.uploaded, summary.dropped, summary.remaining) == (10, 0, 0)
    stored = sorted(offline.ws.data.samples(), key=lambda s: s.filename)
    assert len(stored) == 10 and {s.device_id for s in stored} == {"dev-9"}
    assert {s.meta["signature"] for s in stored} == {"verified"}
    values = np.concatenate([offline.ws.data.values(s) for s in stored])
    np.testing.assert_array_equal(values, _readings(fed))
    assert not list(buffer.iterdir())


def test_a_restarted_forwarder_sends_what_an_earlier_one_buffered(
    offline: Offline, tmp_path: Path
) -> None:
    key = offline.make_key("data-engineer")
    buffer, events = tmp_path / "buffer", list[Event]()
    first = _forwarder(offline.url, key, buffer, events)
    first.start()  # the server is away: no HMAC key yet; windows wait on disk, unsigned
    fed = _lines(65)  # three windows and a 5-reading tail (under half a window: dropped)
    for line in fed:
        first.feed(line, time.monotonic())
    summary = first.finish(drain_timeout_s=0.3)
    assert (summary.uploaded, summary.remaining, summary.tail_dropped) == (0, 3, 5)
    assert any(e.kind == "notice" and "unreachable" in e.message for e in events)
    with offline.serving():
        second = _forwarder(offline.url, key, buffer, events)
        second.start()  # fetches the HMAC key, then sends the first run's windows
        summary = second.finish(drain_timeout_s=10)
    assert (summary.uploaded, summary.remaining) == (3, 0)
    stored = sorted(offline.ws.data.samples(), key=lambda s: s.filename)
    assert [s.meta["signature"] for s in stored] == ["verified"] * 3
    values = np.concatenate([offline.ws.data.values(s) for s in stored])
    np.testing.assert_array_equal(values, _readings(fed[:60]))


def test_rate_limited_windows_wait_and_refused_ones_are_dropped(
    offline: Offline, tmp_path: Path
) -> None:
    key = offline.make_key("data-engineer")
    limits = ServerLimits(rate_per_key=2, burst_per_key=3)  # the key fetch takes two
    events: list[Event] = []
    with offline.serving(limits):
        forwarder = _forwarder(offline.url, key, tmp_path / "b", events)
        forwarder.start()
        for line in _lines(60):
            forwarder.feed(line, time.monotonic())
        summary = forwarder.finish(drain_timeout_s=15)
        assert (summary.uploaded, summary.remaining) == (3, 0)
        assert any("429" in e.message for e in events if e.kind == "buffered")

        refused = _forwarder(offline.url, key, tmp_path / "c", events, label="bad.label")
        refused.start()
        for line in _lines(20, start=500):
            refused.feed(line, time.monotonic())
        summary = refused.finish(drain_timeout_s=15)
    assert (summary.uploaded, summary.dropped, summary.remaining) == (0, 1, 0)
    assert any(e.kind == "dropped" and "label" in e.message for e in events)
    assert len(offline.ws.data.samples()) == 3


def test_a_refused_key_stops_before_reading(offline: Offline, tmp_path: Path) -> None:
    with offline.serving():
        forwarder = _forwarder(offline.url, "not-a-key", tmp_path / "b", [])
        with pytest.raises(EdgeopsError, match="invalid or revoked API key"):
            forwarder.start()


def test_serial_port_with_a_measured_frequency(server: Server, tmp_path: Path) -> None:
    """A pseudo-terminal plays the device: 100 lines a second for 2.5 s."""
    master, slave = os.openpty()
    port = open_serial(os.ttyname(slave), 115200)
    events: list[Event] = []
    forwarder = _forwarder(
        server.url, server.make_key("data-engineer"), tmp_path / "b", events,
        frequency=None, window_ms=1000.0,
    )  # fmt: skip
    forwarder.start()
    stop = threading.Event()
    reader = threading.Thread(target=forwarder.run, args=(serial_lines(port, stop),))
    reader.start()
    try:
        os.write(master, b"boot text, then a cut li")
        start = time.monotonic()
        for i, line in enumerate(_lines(250)):
            time.sleep(max(0.0, start + i / 100 - time.monotonic()))
            os.write(master, line.encode() + b"\r\n")
        time.sleep(0.1)
    finally:
        stop.set()
        reader.join(5)
        port.close()
        os.close(master)
        os.close(slave)
    summary = forwarder.finish(drain_timeout_s=10)
    assert summary.frequency is not None and abs(summary.frequency - 100) <= 10
    assert summary.uploaded >= 2 and summary.remaining == 0
    assert summary.lines.not_numeric == 0  # the cut first line was discarded, not parsed
    samples = server.ws.data.samples()
    assert len(samples) == summary.uploaded
    for sample in samples:
        assert sample.interval_ms is not None and abs(1000 / sample.interval_ms - 100) <= 10
        assert sample.shape[1] == 3


# ---- the CLI ----


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command()(forward)
    return app


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--stdin", "--serial", "/dev/null"], {"EDGEOPS_API_KEY": "k"}, "exactly one of"),
        ([], {"EDGEOPS_API_KEY": "k"}, "exactly one of"),
        (["--stdin", "--frequency", "10"], {"EDGEOPS_API_KEY": None}, "missing API key"),
        (["--stdin"], {"EDGEOPS_API_KEY": "k"}, "--frequency is required"),
        (["--stdin", "--frequency", "10", "--category", "x"], {"EDGEOPS_API_KEY": "k"}, "category"),
    ],
)
def test_cli_argument_errors(args: list[str], env: dict[str, str | None], message: str) -> None:
    result = CliRunner().invoke(
        _app(), ["--server", "http://127.0.0.1:9", *args], input="", env=env
    )
    assert result.exit_code == 2
    assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert "Traceback" not in result.output
