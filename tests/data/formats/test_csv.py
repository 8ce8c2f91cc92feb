"""CSV time series: timestamps or a fixed interval, units in headers, and the ways to break it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst
from tests.data.formats.checks import check_parses_or_rejects

from edgeops.data.formats import Sensor
from edgeops.data.formats import csv as csv_format
from edgeops.data.formats.csv import parse_csv
from edgeops.errors import InvalidSample

FUZZ = settings(max_examples=200, deadline=None)
WITH_TIMESTAMPS = b"timestamp,accX,accY\n0,1.5,2\n10,1.25,3\n20,-1,4\n30,0,5\n"


def rejection(data: bytes, *, interval_ms: float | None = None) -> str:
    with pytest.raises(InvalidSample) as caught:
        parse_csv(data, interval_ms=interval_ms)
    return str(caught.value)


def test_timestamp_column_gives_the_interval_and_is_not_an_axis() -> None:
    sample = parse_csv(WITH_TIMESTAMPS)

    assert sample.kind == "timeseries"
    assert sample.format == "csv"
    assert sample.interval_ms == 10.0
    assert sample.sensors == [Sensor("accX", ""), Sensor("accY", "")]
    assert sample.values.dtype == np.float32
    np.testing.assert_array_equal(sample.values, [[1.5, 2], [1.25, 3], [-1, 4], [0, 5]])


def test_slightly_jittery_timestamps_use_the_median_step() -> None:
    sample = parse_csv(b"Time_ms,x\n0,1\n10,2\n19.5,3\n30,4\n40,5\n50,6\n")

    assert sample.interval_ms == 10.0


def test_fixed_interval_without_timestamps() -> None:
    sample = parse_csv(b"x,y,z\n1,2,3\n4,5,6\n", interval_ms=2.5)

    assert sample.interval_ms == 2.5
    assert sample.values.shape == (2, 3)


def test_given_interval_overrides_uneven_timestamps() -> None:
    sample = parse_csv(b"timestamp,x\n0,1\n10,2\n50,3\n", interval_ms=10)

    assert sample.interval_ms == 10.0
    assert sample.sensors == [Sensor("x", "")]


def test_units_in_header_bom_crlf_quotes_and_blank_lines() -> None:
    data = '\ufefftimestamp (ms),"accX (m/s2)",gyr[deg/s]\r\n0,1,2\r\n\r\n5,"3",4\r\n\r\n'

    sample = parse_csv(data.encode())

    assert sample.sensors == [Sensor("accX", "m/s2"), Sensor("gyr", "deg/s")]
    assert sample.interval_ms == 5.0
    np.testing.assert_array_equal(sample.values, [[1, 2], [3, 4]])


@pytest.mark.parametrize(
    ("data", "interval_ms", "expected"),
    [
        (b"x,y\n1,2\n", None, "no timestamp column; add one named 'timestamp' (ms)"),
        (b"timestamp,x\n0,1\n10,2\n20,3\n40,4\n", None, "timestamps are not evenly spaced (row 5)"),
        (b"timestamp,x\n0,1\n10,2\n10,3\n", None, "strictly increasing (row 4)"),
        (b"timestamp,x\n20,1\n10,2\n", None, "strictly increasing (row 3)"),
        (b"timestamp,x\n0,1\n", None, "one row is not enough"),
        (b"timestamp,x\n0,1\nnan,2\n", None, "timestamp at row 3 is not a finite number"),
        (b"timestamp,x\n0,1\n1e308,2\n2e308,3\n", None, "timestamp at row 4 is not a finite"),
        (b"timestamp,x\n-1e308,1\n1e308,2\n", None, "not evenly spaced (row 3)"),
        (b"time (s),x\n0,1\n", None, "timestamp column is in 's'"),
        (b"time,timestamp,x\n0,0,1\n", None, "several timestamp columns (time, timestamp)"),
        (b"timestamp\n0\n1\n", None, "no value columns besides the timestamp"),
        (b"x,y\n1,2\n3\n", 1, "row 3 has 1 columns but the header has 2"),
        (b"x,y\n1,2\n3,4,5\n", 1, "row 3 has 3 columns but the header has 2"),
        (b"x,y\n1,2\n3,abc\n", 1, "row 3 column 'y' is 'abc', not a number"),
        (b"x,y\n1,\n", 1, "row 2 column 'y' is '', not a number"),
        (b"x,y\n1,2\n3,nan\n", 1, "values contain NaN or infinity at row 3"),
        (b"x,y\n1,2\n\n3,-inf\n", 1, "values contain NaN or infinity at row 4"),
        (b"x,y\n1,2\n3,1e39\n", 1, "row 3 holds a value too large for float32"),
        (b"x,x\n1,2\n", 1, "column name 'x' appears twice"),
        (b"x,,y\n1,2,3\n", 1, "column 2 has no name"),
        (b"\nx\n1\n", 1, "first line must be a header row"),
        (b"x,y\n", 1, "no data rows after the header"),
        (b"x,y\n\n\n", 1, "no data rows after the header"),
        (b"x\n1\n", 0, "interval_ms must be a positive number"),
        (b"x\n1\n", float("nan"), "interval_ms must be a positive number"),
        (b"x\n1\n", float("inf"), "interval_ms must be a positive number"),
        (b"x,y\n\xff\xfe1,2\n", 1, "not UTF-8 text (bad byte at offset 4)"),
        (b'x,y\n"1,2\n', 1, "malformed CSV at line"),
        (b"x\n" + b"1" * 200_000 + b"\n", 1, "malformed CSV at line"),
    ],
)
def test_bad_files_are_rejected_with_a_clear_message(
    data: bytes, interval_ms: float | None, expected: str
) -> None:
    assert expected in rejection(data, interval_ms=interval_ms)


def test_too_many_axes_are_rejected() -> None:
    header = ",".join(f"s{index}" for index in range(1025))

    assert "1025 value columns is more than 1024" in rejection(
        f"{header}\n".encode(), interval_ms=1
    )


def test_too_many_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_format, "MAX_VALUES", 5)

    assert "more than 5 values" in rejection(b"x,y\n1,2\n3,4\n5,6\n", interval_ms=1)


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([None, 10.0]))
def test_random_bytes_raise_only_invalid_sample(data: bytes, interval_ms: float | None) -> None:
    check_parses_or_rejects(parse_csv, data, interval_ms=interval_ms)


@FUZZ
@given(st.text(alphabet=st.sampled_from("0123456789,.-e\n\r\"' nainf"), max_size=300))
def test_random_csv_like_text_raises_only_invalid_sample(text: str) -> None:
    check_parses_or_rejects(parse_csv, text.encode(), interval_ms=1)


@FUZZ
@given(st.data())
def test_mutated_files_raise_only_invalid_sample(data: st.DataObject) -> None:
    mutated = bytearray(WITH_TIMESTAMPS[: data.draw(st.integers(1, len(WITH_TIMESTAMPS)))])
    positions = st.integers(0, len(mutated) - 1)
    for position, value in data.draw(st.lists(st.tuples(positions, st.integers(0, 255)))):
        mutated[position] = value
    check_parses_or_rejects(parse_csv, bytes(mutated))


@FUZZ
@given(
    npst.arrays(
        np.float32,
        st.tuples(st.integers(1, 20), st.integers(1, 5)),
        elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
    )
)
def test_float32_values_round_trip_exactly(values: np.ndarray) -> None:
    header = ",".join(f"axis{index}" for index in range(values.shape[1]))
    rows = [",".join(repr(value) for value in row) for row in values.tolist()]
    data = "\n".join([header, *rows]).encode()

    sample = parse_csv(data, interval_ms=1)

    np.testing.assert_array_equal(sample.values, values)
