"""CSV time series: a header row, one column per axis, and timestamps or a fixed interval."""

import csv
import io
import re
from collections import Counter

import numpy as np

from edgeops.data.formats import ParsedSample, Sensor, finite_float32
from edgeops.data.formats.ei import MAX_AXES, MAX_VALUES
from edgeops.errors import InvalidSample

TIMESTAMP_COLUMNS = frozenset({"timestamp", "time", "timestamp_ms", "time_ms"})
# Sensor loggers write units into the header as "accX (m/s2)" or "accX[m/s2]".
_NAME_WITH_UNITS = re.compile(
    r"(?P<name>.*?)\s*(?:\((?P<paren>[^()]*)\)|\[(?P<bracket>[^\[\]]*)\])"
)
# Logged timestamps jitter a little; more than this means dropped or bursty samples.
_SPACING_TOLERANCE = 0.10


def parse_csv(data: bytes, *, interval_ms: float | None = None) -> ParsedSample:
    """Read a CSV time series; `interval_ms`, if given, overrides any timestamp column."""
    if interval_ms is not None and not 0 < interval_ms < float("inf"):
        raise InvalidSample(
            f"interval_ms must be a positive number of milliseconds, got {interval_ms}"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidSample(
            f"not UTF-8 text (bad byte at offset {exc.start}); save the CSV as UTF-8"
        ) from exc

    columns, rows, line_numbers = _read_table(text)
    table = _to_numbers(rows, line_numbers, columns)
    time_column = next(
        (index for index, (name, _) in enumerate(columns) if name.lower() in TIMESTAMP_COLUMNS),
        None,
    )
    axis_columns = [index for index in range(len(columns)) if index != time_column]
    if not axis_columns:
        raise InvalidSample("no value columns besides the timestamp; add one column per axis")
    if interval_ms is None:
        if time_column is None:
            raise InvalidSample(
                "no timestamp column; add one named 'timestamp' (ms) or pass --interval-ms"
            )
        interval_ms = _interval_from_timestamps(table[:, time_column], line_numbers)

    wide = table[:, axis_columns]
    values = finite_float32(wide, lambda row: f"row {line_numbers[row]}")
    return ParsedSample(
        kind="timeseries",
        values=values,
        format="csv",
        sensors=[Sensor(name=columns[index][0], units=columns[index][1]) for index in axis_columns],
        interval_ms=float(interval_ms),
    )


def _read_header(header: list[str]) -> list[tuple[str, str]]:
    """Header cells → (name, units) per column, checked for the mistakes a spreadsheet allows."""
    if not header:
        raise InvalidSample("first line must be a header row naming the columns")
    columns = []
    for position, cell in enumerate(header, start=1):
        cell = cell.strip()
        match = _NAME_WITH_UNITS.fullmatch(cell)
        if match:
            units = match["paren"] if match["paren"] is not None else match["bracket"]
            name, units = match["name"], units.strip()
        else:
            name, units = cell, ""
        if not name:
            raise InvalidSample(f"column {position} has no name in the header; name it")
        columns.append((name, units))
    repeated = [name for name, count in Counter(name for name, _ in columns).items() if count > 1]
    if repeated:
        raise InvalidSample(f"column name {repeated[0]!r} appears twice in the header; rename one")
    timestamps = [(name, units) for name, units in columns if name.lower() in TIMESTAMP_COLUMNS]
    if len(timestamps) > 1:
        raise InvalidSample(
            f"several timestamp columns ({', '.join(name for name, _ in timestamps)}); keep one"
        )
    if timestamps and timestamps[0][1].lower() not in ("", "ms"):
        raise InvalidSample(
            f"timestamp column is in {timestamps[0][1]!r}; convert it to milliseconds"
        )
    n_axes = len(columns) - len(timestamps)
    if n_axes > MAX_AXES:
        raise InvalidSample(f"{n_axes} value columns is more than {MAX_AXES}; split the file")
    return columns


def _read_table(text: str) -> tuple[list[tuple[str, str]], list[list[str]], list[int]]:
    """Header columns, data rows and the editor line each row ends on; blank lines skipped."""
    # strict: a stray or unclosed quote is an error, not a silently merged field.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    try:
        columns = _read_header(next(reader, []))
        for row in reader:
            if not row:
                continue
            if len(row) != len(columns):
                raise InvalidSample(
                    f"row {reader.line_num} has {len(row)} columns but the header has "
                    f"{len(columns)}; give every row one value per column"
                )
            if (len(rows) + 1) * len(columns) > MAX_VALUES:
                raise InvalidSample(f"more than {MAX_VALUES:,} values; split the recording")
            rows.append(row)
            line_numbers.append(reader.line_num)
    except csv.Error as exc:
        raise InvalidSample(
            f"malformed CSV at line {reader.line_num} ({exc}); fix the quoting"
        ) from exc
    if not rows:
        raise InvalidSample("no data rows after the header; the recording is empty")
    return columns, rows, line_numbers


def _to_numbers(
    rows: list[list[str]], line_numbers: list[int], columns: list[tuple[str, str]]
) -> np.ndarray:
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:
        pass
    # numpy does not say which cell failed; find it the slow way, only on error.
    for row, line in zip(rows, line_numbers, strict=True):
        for cell, (name, _) in zip(row, columns, strict=True):
            try:
                float(cell)
            except ValueError:
                raise InvalidSample(
                    f"row {line} column {name!r} is {cell!r}, not a number; fix or remove it"
                ) from None
    raise AssertionError("numpy rejected a table whose every cell float() accepts")


def _interval_from_timestamps(times: np.ndarray, line_numbers: list[int]) -> float:
    """The median step of the timestamp column, if the steps are even enough to trust it."""
    if not np.isfinite(times).all():
        bad = int(np.flatnonzero(~np.isfinite(times))[0])
        raise InvalidSample(f"timestamp at row {line_numbers[bad]} is not a finite number; fix it")
    if len(times) < 2:
        raise InvalidSample(
            "one row is not enough to tell the interval from timestamps; pass --interval-ms"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing steps count as uneven
        steps = np.diff(times)
    not_increasing = np.flatnonzero(steps <= 0)
    if not_increasing.size:
        raise InvalidSample(
            f"timestamps must be strictly increasing (row {line_numbers[not_increasing[0] + 1]}); "
            "sort the rows or fix the timestamps"
        )
    median = float(np.median(steps))
    with np.errstate(invalid="ignore"):
        # "not within", so that steps that overflowed to infinity count as uneven too
        uneven = np.flatnonzero(~(np.abs(steps - median) <= _SPACING_TOLERANCE * median))
    if uneven.size:
        raise InvalidSample(
            f"timestamps are not evenly spaced (row {line_numbers[uneven[0] + 1]}); "
            "resample or pass --interval-ms"
        )
    return median
