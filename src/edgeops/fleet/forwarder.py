"""The data forwarder: text lines of readings (serial port or stdin) → windows → signed Edge
Impulse acquisition files uploaded to an edgeops server, buffered on disk while it is away."""

import bisect
import json
import math
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import quote, urlsplit

import httpx

from edgeops.data.formats.ei import MAX_AXES, MAX_VALUES, sign_ei
from edgeops.errors import EdgeopsError, InvalidInput

DEVICE_TYPE = "EDGEOPS_FORWARDER"
MEASURE_SPAN_S = 1.0
MAX_LINE_BYTES = 64 * 1024  # a device at the wrong baud rate sends noise without newlines
FLOAT32_MAX = 3.4028234663852886e38  # the server stores float32 and refuses larger values
# Devices sample at round rates; a measurement within 5% of one of these is that rate.
COMMON_RATES = (1, 2, 5, 10, 12.5, 16, 20, 25, 50, 60, 62.5, 100, 125, 200, 250, 400, 500,
                800, 1000, 1600, 2000, 3200, 4000, 8000, 11025, 16000, 22050, 32000, 44100,
                48000)  # fmt: skip

_SEPARATORS = re.compile(r"[,\s]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)
_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9._-]")

Row = tuple[float, ...]


# ---- lines → readings -------------------------------------------------------------------------


@dataclass
class LineCounts:
    readings: int = 0
    blank: int = 0
    not_numeric: int = 0  # boot messages, debug prints, noise
    wrong_axes: int = 0
    not_finite: int = 0  # NaN, infinity, beyond float32


class LineParser:
    """One reading per line, numbers separated by commas, tabs or spaces. The first numeric
    line fixes the axis count; every line that is not a reading is skipped and counted."""

    def __init__(self) -> None:
        self.axes: int | None = None
        self.counts = LineCounts()

    def parse(self, line: str) -> Row | None:
        tokens = [token for token in _SEPARATORS.split(line) if token]
        if not tokens:
            self.counts.blank += 1
            return None
        if not all(_NUMBER.fullmatch(token) for token in tokens):
            if all(_NUMBER.fullmatch(t) or _NON_FINITE.fullmatch(t) for t in tokens):
                self.counts.not_finite += 1
            else:
                self.counts.not_numeric += 1
            return None
        row = tuple(float(token) for token in tokens)
        if not all(abs(value) <= FLOAT32_MAX for value in row):
            self.counts.not_finite += 1
            return None
        if self.axes is None:
            if len(row) > MAX_AXES:
                self.counts.not_numeric += 1
                return None
            self.axes = len(row)
        elif len(row) != self.axes:
            self.counts.wrong_axes += 1
            return None
        self.counts.readings += 1
        return row


class LineSplitter:
    """Bytes as they arrive → complete text lines (\\n, \\r\\n or \\r); a line longer than
    MAX_LINE_BYTES is discarded and counted instead of growing memory without end."""

    def __init__(self) -> None:
        self._pending = b""
        self._overlong = False
        self.overlong = 0

    def feed(self, chunk: bytes) -> list[str]:
        data = self._pending + chunk
        held = b"\r" if data.endswith(b"\r") else b""  # a \r\n may be cut between chunks
        *complete, rest = re.split(rb"\r\n|\r|\n", data[: len(data) - len(held)])
        self._pending = rest + held
        lines = []
        for line in complete:
            if self._overlong:
                self._overlong = False
                self.overlong += 1
            else:
                lines.append(line.decode("utf-8", "replace"))
        if len(self._pending) > MAX_LINE_BYTES:
            self._pending, self._overlong = b"", True
        return lines

    def end(self) -> list[str]:
        rest, self._pending = self._pending, b""
        return [rest.decode("utf-8", "replace")] if rest and not self._overlong else []


# ---- frequency and windows ----------------------------------------------------------------------


def round_frequency(hz: float) -> float:
    """A measured rate, read as the common rate within 5% (a device runs at 100 Hz, not at
    98.7), else rounded to a whole number (two significant digits below 10 Hz)."""
    nearest = min(COMMON_RATES, key=lambda rate: abs(math.log(hz / rate)))
    if abs(hz - nearest) <= 0.05 * nearest:
        return float(nearest)
    return float(round(hz)) if hz >= 10 else float(f"{hz:.2g}")


class FrequencyMeter:
    """The sampling frequency from the arrival times of the readings of the first second, as
    EI's forwarder measures it."""

    def __init__(self, span_s: float = MEASURE_SPAN_S) -> None:
        self.span_s = span_s
        self._first: float | None = None
        self._last = 0.0
        self._count = 0

    def add(self, at: float) -> float | None:
        """Note a reading; the frequency once a second of readings has arrived."""
        if self._first is None:
            self._first = at
        self._count, self._last = self._count + 1, at
        return self.estimate() if at - self._first >= self.span_s else None

    def estimate(self) -> float | None:
        """The frequency from the readings so far (None with fewer than two)."""
        if self._first is None or self._count < 2 or self._last <= self._first:
            return None
        return round_frequency((self._count - 1) / (self._last - self._first))


def window_size(window_ms: float, frequency: float) -> int:
    readings = window_ms * frequency / 1000
    if readings < 1:
        raise InvalidInput(
            f"a {window_ms:g} ms window at {frequency:g} Hz holds less than one reading; "
            "lengthen --window-ms"
        )
    return round(readings)


class Windower:
    """Readings → windows of `size` readings; the size may come later (once measured)."""

    def __init__(self, size: int | None = None) -> None:
        self.size = size
        self._rows: list[Row] = []

    def add(self, row: Row) -> None:
        self._rows.append(row)

    def take(self) -> list[list[Row]]:
        """The complete windows so far."""
        if self.size is None:
            return []
        size, windows = self.size, []
        while len(self._rows) >= size:
            windows.append(self._rows[:size])
            del self._rows[:size]
        return windows

    def flush(self) -> tuple[list[Row] | None, int]:
        """The partial window if it holds at least half a window, and the readings dropped."""
        rows, self._rows = self._rows, []
        if self.size is not None and rows and 2 * len(rows) >= self.size:
            return rows, 0
        return None, len(rows)


def sensor_list(
    axes: int, names: Sequence[str] | None, units: Sequence[str] | None
) -> list[dict[str, str]]:
    """EI's `sensors`: the given names (else axis0..axisN) and units (one for all, or one each)."""
    names = list(names) if names else [f"axis{index}" for index in range(axes)]
    if len(names) != axes:
        raise InvalidInput(
            f"the device sends {axes} values a line but --sensors names {len(names)}; "
            "name one sensor per value"
        )
    units = list(units) if units else ["N/A"]
    if len(units) == 1:
        units = units * axes
    if len(units) != axes:
        raise InvalidInput(
            f"the device sends {axes} values a line but --units gives {len(units)}; "
            "give one unit for all or one per value"
        )
    return [{"name": name, "units": unit} for name, unit in zip(names, units, strict=True)]


@dataclass(frozen=True)
class Window:
    """One window ready to upload; `key` orders windows and names the buffer file."""

    key: str
    file_name: str
    label: str | None
    category: str
    payload: dict[str, Any]

    def encode(self) -> bytes:
        fields = {"file_name": self.file_name, "label": self.label, "category": self.category}
        return json.dumps({**fields, "payload": self.payload}).encode()

    @classmethod
    def decode(cls, key: str, data: bytes) -> "Window":
        fields = json.loads(data)
        return cls(key, fields["file_name"], fields["label"], fields["category"], fields["payload"])


# ---- the buffer on disk -------------------------------------------------------------------------


def default_buffer_folder(server_url: str) -> Path:
    """~/.cache/edgeops/forwarder/<server host>: a restarted forwarder sends what an earlier
    one buffered for the same server."""
    parts = urlsplit(server_url)
    host = parts.hostname or "server"
    name = host if parts.port is None else f"{host}_{parts.port}"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "edgeops" / "forwarder" / _UNSAFE_PATH.sub("_", name)


class WindowBuffer:
    """Windows the server could not take yet, one file each, oldest first. Writes are atomic
    and synced, so a crash leaves each window either whole or absent. Not thread-safe: the
    forwarder calls it under its lock."""

    SUFFIX = ".window"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".*.tmp"):  # a write interrupted before its rename
            stale.unlink(missing_ok=True)
        self._keys = sorted(path.name.removesuffix(self.SUFFIX) for path in self._files())

    def _files(self) -> Iterator[Path]:
        return self.folder.glob(f"*{self.SUFFIX}")

    def __len__(self) -> int:
        return len(self._keys)

    def add(self, window: Window) -> None:
        temporary = self.folder / f".{window.key}.tmp"
        with open(temporary, "wb") as file:
            file.write(window.encode())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, self._path(window.key))
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a power cut
        finally:
            os.close(directory)
        bisect.insort(self._keys, window.key)

    def oldest(self) -> str | None:
        return self._keys[0] if self._keys else None

    def read(self, key: str) -> Window:
        return Window.decode(key, self._path(key).read_bytes())

    def remove(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
        self._keys.remove(key)

    def set_aside(self, key: str) -> None:
        """Keep an unreadable file for a human to look at, out of the upload queue."""
        self._path(key).replace(self.folder / f"{key}.unreadable")
        self._keys.remove(key)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}{self.SUFFIX}"


# ---- the server ---------------------------------------------------------------------------------


class Retry(Exception):
    """The server cannot take the window now (unreachable, overloaded): try again later."""

    def __init__(self, reason: str, after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.after_s = reason, after_s


class Rejected(Exception):
    """The server refused. `fatal`: it would refuse every window (key, URL), so stop;
    otherwise only this window is wrong."""

    def __init__(self, status: int, message: str, fatal: bool) -> None:
        super().__init__(message)
        self.status, self.message, self.fatal = status, message, fatal


_FATAL_STATUS = (401, 403, 404)  # the key or the URL is wrong, not the window


class IngestionClient:
    """What the forwarder asks an edgeops server: its project's HMAC key, and to store a
    window (a 200 means the sample is durable)."""

    def __init__(self, url: str, api_key: str, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"x-api-key": api_key},
            timeout=httpx.Timeout(timeout_s, connect=min(5.0, timeout_s)),
        )

    def __enter__(self) -> "IngestionClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def hmac_key(self) -> str:
        """Through the Studio calls EI's tools make: the key's project, then its HMAC key."""
        try:
            found = self._request("GET", "/v1/api/projects").json()["projects"]
            if len(found) != 1:
                raise Rejected(
                    400, f"this key reaches {len(found)} projects; use a project's key", True
                )
            keys = self._request("GET", f"/v1/api/{found[0]['id']}/devkeys").json()
            return str(keys["hmacKey"])
        except Rejected as exc:
            raise Rejected(
                exc.status,
                f"cannot fetch the project's HMAC key: {exc.message}",
                fatal=True,
            ) from None
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise Rejected(
                200,
                f"the server's answer has no HMAC key ({exc!r}); is it an edgeops server?",
                True,
            ) from None

    def upload(self, window: Window, hmac_key: str) -> None:
        headers = {
            "x-file-name": quote(window.file_name, safe=""),
            "x-upload-source": "edgeops-forwarder",
            "content-type": "application/json",
        }
        if window.label is not None:
            headers["x-label"] = quote(window.label, safe="")
        else:  # else the server would take the file name's first part, 'sample', as the label
            headers["x-no-label"] = "1"
        body = sign_ei(window.payload, hmac_key)
        self._request("POST", f"/api/{window.category}/data", content=body, headers=headers)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:  # refused, reset, timed out, DNS, TLS
            raise Retry(f"server unreachable ({type(exc).__name__}: {exc})") from None
        status = response.status_code
        if status in (408, 429) or status >= 500:
            after = retry_after_s(response.headers.get("retry-after"))
            raise Retry(f"server answered {status}: {_error_text(response)}", after)
        if not 200 <= status < 300:
            raise Rejected(status, _error_text(response), fatal=status in _FATAL_STATUS)
        return response


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
        message = body.get("error") or body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        message = None
    text = str(message) if message else response.text.strip() or response.reason_phrase
    return text[:300]


def retry_after_s(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# ---- the forwarder ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """What the forwarder reports as it goes; the CLI prints one line per event."""

    kind: Literal["uploaded", "buffered", "dropped", "notice"]
    message: str


@dataclass
class Summary:
    uploaded: int = 0
    buffered: int = 0  # windows written to the buffer (some uploaded later)
    dropped: int = 0  # windows the server refused
    remaining: int = 0  # windows still in the buffer at the end: they go next time
    tail_dropped: int = 0  # readings of a final partial window shorter than half a window
    frequency: float | None = None
    lines: LineCounts = field(default_factory=LineCounts)
    failure: str | None = None  # why the forwarder stopped early


@dataclass(frozen=True)
class ForwarderSettings:
    device_name: str
    frequency: float | None = None  # None: measured over the first second of readings
    window_ms: float = 1000.0
    label: str | None = None
    category: str = "split"
    sensors: tuple[str, ...] | None = None
    units: tuple[str, ...] | None = None
    hmac_key: str | None = field(default=None, repr=False)  # None: fetched from the server
    first_retry_s: float = 0.5
    max_retry_s: float = 30.0


class Forwarder:
    """Feed it lines; it windows them and a background thread uploads the windows in order.

    While the server answers, windows go straight from memory; once an upload fails, that
    window and every later one go to the buffer on disk, which the thread sends oldest first
    with exponential backoff, deleting each file only after the server's 200. A window is
    thus never lost; a retry after a lost answer may send one twice, and the server stores
    identical data once."""

    def __init__(
        self,
        settings: ForwarderSettings,
        client: IngestionClient,
        buffer: WindowBuffer,
        report: Callable[[Event], None] | None = None,
    ) -> None:
        self.settings, self.client, self.buffer = settings, client, buffer
        self._report = report or (lambda event: None)
        self.parser = LineParser()
        self.meter = FrequencyMeter()
        self.summary = Summary(frequency=settings.frequency, lines=self.parser.counts)
        size = window_size(settings.window_ms, settings.frequency) if settings.frequency else None
        self.windower = Windower(size)
        self._sensors: list[dict[str, str]] | None = None
        self._hmac_key = settings.hmac_key
        self._last_ms = 0
        self._lock = threading.Condition()
        self._queue: deque[Window] = deque()
        self._in_flight = False
        self._stopping = False
        self._retry_at = 0.0
        self._delay = settings.first_retry_s
        self._thread = threading.Thread(target=self._send_loop, name="forwarder", daemon=True)

    # -- the reading side (the caller's thread)

    def start(self) -> None:
        """Fetch the HMAC key if the server answers now (a refused key fails here, before any
        reading), then start sending."""
        if len(self.buffer):
            self._notice(
                f"{len(self.buffer)} windows buffered earlier in {self.buffer.folder} go first"
            )
        if self._hmac_key is None:
            try:
                self._hmac_key = self.client.hmac_key()
            except Retry as exc:
                self._notice(
                    f"{exc.reason}; buffering windows in {self.buffer.folder} until it answers"
                )
            except Rejected as exc:
                raise EdgeopsError(exc.message) from None
        self._thread.start()

    def run(self, lines: Iterable[tuple[str, float]]) -> None:
        """Forward (line, arrival time) pairs until they end or the server refuses the key."""
        for line, at in lines:
            self.feed(line, at)
            if self.summary.failure:
                return

    def feed(self, line: str, at: float) -> None:
        row = self.parser.parse(line)
        if row is None:
            return
        if self._sensors is None:
            self._sensors = sensor_list(len(row), self.settings.sensors, self.settings.units)
        self.windower.add(row)
        if self.summary.frequency is None:
            measured = self.meter.add(at)
            if measured is not None:
                self._use_frequency(measured, "over the first second")
        for rows in self.windower.take():
            self._submit(rows)

    def finish(self, drain_timeout_s: float) -> Summary:
        """End of input: send the partial window if it holds at least half a window, wait up
        to `drain_timeout_s` for every window to reach the server, then stop. What is left
        stays in the buffer for the next run (`summary.remaining`)."""
        if self.summary.frequency is None and self.parser.counts.readings:
            estimate = self.meter.estimate()
            if estimate is not None:
                self._use_frequency(estimate, "from less than a second of data")
            else:
                self._notice("too few readings to measure the frequency; nothing sent")
        complete = self.windower.take()
        partial, self.summary.tail_dropped = self.windower.flush()
        for rows in [*complete, *([partial] if partial else [])]:
            self._submit(rows)
        deadline = time.monotonic() + drain_timeout_s
        with self._lock:
            self._retry_at = min(self._retry_at, time.monotonic())  # one more try right now
            self._lock.notify_all()
            while (self._queue or len(self.buffer) or self._in_flight) and not self.summary.failure:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._lock.wait(remaining)
        return self.close()

    def close(self) -> Summary:
        """Stop sending; windows not sent yet go to the buffer. Safe to call twice."""
        with self._lock:
            self._stopping = True
            events = self._persist_queue("not sent before the end")
            self._lock.notify_all()
        self._emit(events)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(self.client.timeout_s + 1)  # an upload in flight ends by then
        with self._lock:
            self.summary.remaining = len(self.buffer) + len(self._queue)
        return self.summary

    def _use_frequency(self, frequency: float, how: str) -> None:
        self.windower.size = window_size(self.settings.window_ms, frequency)
        self.summary.frequency = frequency
        self._notice(f"measured {frequency:g} Hz {how} (set it with --frequency)")

    def _submit(self, rows: list[Row]) -> None:
        assert self.summary.frequency is not None and self._sensors is not None
        if len(rows) * len(rows[0]) > MAX_VALUES:
            raise InvalidInput(
                f"windows of {len(rows)} readings are too large; shorten --window-ms"
            )
        self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)  # unique, increasing
        payload = {
            "device_name": self.settings.device_name,
            "device_type": DEVICE_TYPE,
            "interval_ms": 1000 / self.summary.frequency,
            "sensors": self._sensors,
            "values": [list(row) for row in rows],
        }
        label = self.settings.label
        window = Window(
            key=f"{self._last_ms:013d}-{os.getpid()}",  # the pid: two forwarders, one folder
            file_name=f"{label or 'sample'}.{self._last_ms}.json",
            label=label, category=self.settings.category, payload=payload,
        )  # fmt: skip
        with self._lock:
            # Once anything waits on disk, later windows queue behind it there: order is kept
            # and an outage costs disk, not memory.
            if len(self.buffer) or self._stopping or self.summary.failure:
                events = [self._persist(window, f"behind {len(self.buffer)} others")]
            else:
                self._queue.append(window)
                events = []
            self._lock.notify_all()
        self._emit(events)

    # -- the sending side (the background thread)

    def _send_loop(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and not self._work_ready():
                    self._lock.wait(self._idle_wait())
                if self._stopping:
                    return
                self._in_flight = True
                window = self._queue.popleft() if not len(self.buffer) else None
                key = self.buffer.oldest() if window is None else None
            try:
                events = self._send(window, key)
            finally:
                with self._lock:
                    self._in_flight = False
                    self._lock.notify_all()
            self._emit(events)

    def _work_ready(self) -> bool:
        pending = bool(self._queue or len(self.buffer))
        return pending and not self.summary.failure and time.monotonic() >= self._retry_at

    def _idle_wait(self) -> float | None:
        if self.summary.failure or not (self._queue or len(self.buffer)):
            return None
        return max(0.0, self._retry_at - time.monotonic())

    def _send(self, window: Window | None, key: str | None) -> list[Event]:
        """Upload one window, from memory (`window`) or from the buffer (`key`)."""
        try:
            if window is None:
                assert key is not None
                window, events = self._read_buffered(key)
                if window is None:
                    return events
            if self._hmac_key is None:
                self._hmac_key = self.client.hmac_key()
            self.client.upload(window, self._hmac_key)
        except Retry as exc:
            return self._retry_later(exc, window if key is None else None)
        except Rejected as exc:
            assert window is not None
            return self._rejected(exc, window, key)
        except Exception as exc:  # a bug must not end the thread and lose the window
            return self._retry_later(
                Retry(f"unexpected error ({exc!r})"), window if key is None else None
            )
        with self._lock:
            if key is not None:
                self.buffer.remove(key)
            self.summary.uploaded += 1
            self._delay = self.settings.first_retry_s
        source = " from the buffer" if key is not None else ""
        readings = len(window.payload["values"])
        return [Event("uploaded", f"{window.file_name} · {readings} readings{source}")]

    def _read_buffered(self, key: str) -> tuple[Window | None, list[Event]]:
        try:
            return self.buffer.read(key), []
        except FileNotFoundError:  # another forwarder on the same folder sent it
            with self._lock:
                self.buffer.remove(key)
            return None, []
        except (OSError, ValueError, KeyError, TypeError) as exc:
            with self._lock:
                self.buffer.set_aside(key)
                self.summary.dropped += 1
            message = f"{key}: unreadable buffer file ({exc!r}), renamed to {key}.unreadable"
            return None, [Event("dropped", message)]

    def _retry_later(self, exc: Retry, unsaved: Window | None) -> list[Event]:
        with self._lock:
            delay = exc.after_s if exc.after_s is not None else self._delay
            self._delay = min(2 * self._delay, self.settings.max_retry_s)
            self._retry_at = time.monotonic() + delay
            if unsaved is None:
                waiting = f"{len(self.buffer)} windows buffered"
                return [Event("notice", f"{exc.reason} · {waiting} · next try in {delay:.1f} s")]
            events = [self._persist(unsaved, f"{exc.reason} · next try in {delay:.1f} s")]
            return events + self._persist_queue()

    def _rejected(self, exc: Rejected, window: Window, key: str | None) -> list[Event]:
        with self._lock:
            if exc.fatal:  # every window would be refused: keep them all for a fixed setup
                self.summary.failure = f"server refused ({exc.status}): {exc.message}"
                events = [self._persist(window, "kept for a later run")] if key is None else []
                return events + self._persist_queue()
            if key is not None:
                self.buffer.remove(key)
            self.summary.dropped += 1
        return [
            Event("dropped", f"{window.file_name}: server refused it ({exc.status}): {exc.message}")
        ]

    # -- shared, called with the lock held

    def _persist(self, window: Window, why: str) -> Event:
        try:
            self.buffer.add(window)
        except OSError as exc:
            self.summary.dropped += 1
            return Event("dropped", f"{window.file_name}: cannot write to the buffer ({exc})")
        self.summary.buffered += 1
        return Event("buffered", f"{window.file_name} · {why}")

    def _persist_queue(self, why: str = "queued behind it") -> list[Event]:
        events = []
        while self._queue:
            events.append(self._persist(self._queue.popleft(), why))
        return events

    def _notice(self, message: str) -> None:
        self._report(Event("notice", message))

    def _emit(self, events: list[Event]) -> None:
        for event in events:
            self._report(event)


# ---- sources ------------------------------------------------------------------------------------


def stream_lines(stream: IO[bytes]) -> Iterator[tuple[str, float]]:
    """Lines of a byte stream (stdin), each with its arrival time."""
    splitter = LineSplitter()
    read = getattr(stream, "read1", stream.read)
    while chunk := read(65536):
        now = time.monotonic()
        for line in splitter.feed(chunk):
            yield line, now
    for line in splitter.end():
        yield line, time.monotonic()


def open_serial(port: str, baud: int) -> Any:
    """The serial port, opened (raw mode; pyserial's `Serial`)."""
    import serial  # type: ignore[import-untyped]

    try:
        return serial.Serial(port, baud, timeout=0.1)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise EdgeopsError(
            f"cannot open {port} ({exc}); is the device plugged in, and may you use it "
            "(on Linux, the dialout group)?"
        ) from None


def serial_lines(
    connection: Any, stop: threading.Event | None = None
) -> Iterator[tuple[str, float]]:
    """Lines from an open serial port, each with its arrival time, until `stop` is set or the
    device goes away. Bytes that arrived before we listened are discarded, and so is the
    first line: the port may have opened in the middle of it, and a cut line would fix the
    wrong axis count."""
    import serial

    connection.reset_input_buffer()
    splitter, first = LineSplitter(), True
    while stop is None or not stop.is_set():
        try:
            chunk = connection.read(connection.in_waiting or 1)
        except (serial.SerialException, OSError):  # unplugged: the end of the input
            return
        if not chunk:
            continue
        now = time.monotonic()
        for line in splitter.feed(chunk):
            if first:
                first = False
                continue
            yield line, now
