"""The telemetry contract: parsing (JSON, CBOR, short keys, batches), refusals, and the
Parquet store (partitions, filters, DuckDB, retention, compaction)."""

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import cbor2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeops.errors import InvalidInput
from edgeops.monitoring import telemetry

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)
number = st.floats(-1e6, 1e6, allow_nan=False)
record = st.fixed_dictionaries(
    {"model": st.integers(1, 1000)},
    optional={
        "time": st.floats(1e9, 2e9),
        "device": text,
        "label": text,
        "confidence": st.floats(0, 1),
        "anomaly": number,
        "latency_ms": st.floats(0, 1e4),
        "features": st.lists(number, min_size=1, max_size=30),
        "feedback": text,
        "event": text,
    },
)


@settings(max_examples=80, deadline=None)
@given(st.lists(record, min_size=1, max_size=20), st.booleans(), st.booleans())
def test_valid_records_round_trip_through_json_and_cbor(
    records: list[dict[str, Any]], as_cbor: bool, short: bool
) -> None:
    long_to_short = {v: k for k, v in telemetry.SHORT.items()}
    sent = [{long_to_short[k] if short else k: v for k, v in r.items()} for r in records]
    body = cbor2.dumps(sent) if as_cbor else json.dumps(sent).encode()
    parsed = telemetry.parse(telemetry.decode(body), now=NOW)
    rows = parsed.table.to_pylist()
    assert len(rows) == len(records)
    for row, given_record in zip(rows, records, strict=True):
        assert row["model"] == given_record["model"]
        assert row["device"] == given_record.get("device")
        assert row["label"] == given_record.get("label")
        expected_time = (
            datetime.fromtimestamp(given_record["time"], UTC) if "time" in given_record else NOW
        )
        assert abs(row["time"] - expected_time) < timedelta(milliseconds=1)
        if "features" in given_record:
            assert np.allclose(row["features"], np.float32(given_record["features"]), rtol=1e-6)
        if "confidence" in given_record:
            assert row["confidence"] == pytest.approx(given_record["confidence"], rel=1e-6)


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(json_value)
def test_anything_else_is_refused_with_invalid_input_never_a_crash(document: Any) -> None:
    try:
        parsed = telemetry.parse(document, now=NOW)
    except InvalidInput as exc:
        assert str(exc)
        return
    assert parsed.table.num_rows >= 1


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=60))
def test_undecodable_bytes_are_invalid_input(body: bytes) -> None:
    """Any bytes either parse into records or raise InvalidInput with a message, nothing else."""
    try:
        parsed = telemetry.parse(telemetry.decode(body), now=NOW)
    except InvalidInput as exc:
        assert str(exc)
        return
    assert parsed.table.num_rows >= 1


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"label": "x"}, "missing model"),
        ({"model": "latest"}, "model version number"),
        ({"model": 1, "confidence": 1.5}, "[0, 1]"),
        ({"model": 1, "latency_ms": -1}, "≥ 0"),
        ({"model": 1, "features": [1, "a"]}, "every value must be a number"),
        ({"model": 1, "features": [1, float("nan")]}, "finite"),
        ({"model": 1, "colour": "red"}, "unknown field 'colour'"),
        ({"model": 1, "time": "yesterday"}, "ISO-8601"),
        ({"model": 1, "summary": [1, 2, 3]}, "features x 10"),
        ({"records": "nope"}, "records: expected a list"),
        ([], "no records"),
        ("hello", "record (object/map)"),
    ],
)
def test_refusals_say_what_is_wrong(document: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        telemetry.parse(document, now=NOW)


def test_batch_defaults_device_identity_and_compact_form() -> None:
    body = cbor2.dumps({"m": 3, "d": "mcu-7", "records": [{"p": 1, "c": 0.9}, {"p": 0}]})
    parsed = telemetry.parse(telemetry.decode(body, "application/cbor"), now=NOW)
    assert parsed.table.column("model").to_pylist() == [3, 3]
    assert parsed.table.column("device").to_pylist() == ["mcu-7", "mcu-7"]
    assert parsed.table.column("label").to_pylist() == ["1", "0"]
    with pytest.raises(InvalidInput, match="not this key's device"):
        telemetry.parse({"model": 1, "device": "other"}, device="mine", now=NOW)
    own = telemetry.parse({"model": 1}, device="mine", now=NOW)
    assert own.table.column("device").to_pylist() == ["mine"]
    summary = telemetry.parse({"model": 1, "h": [[1] * 10, [2] * 10]}, now=NOW)
    assert telemetry.summary_counts(summary.table, 2).tolist() == [[1] * 10, [2] * 10]
    scored = telemetry.parse({"model": 1, "scores": [0.1, 0.7, 0.2]}, now=NOW)
    assert scored.table.column("confidence").to_pylist() == [pytest.approx(0.7)]
    window = telemetry.parse({"model": 2, "w": [1, 2, 3], "r": 5}, now=NOW).windows
    assert window[0].collect == 5 and window[0].values.tolist() == [1, 2, 3]


def _table(days: list[int], model: int = 1, device: str = "d") -> Any:
    records = [
        {"model": model, "device": device, "time": (NOW + timedelta(days=d)).timestamp(),
         "features": [float(d), 1.0], "latency_ms": 5.0}
        for d in days
    ]  # fmt: skip
    return telemetry.parse(records, now=NOW).table


def test_store_partitions_by_day_and_filters(tmp_path: Path) -> None:
    store = telemetry.TelemetryStore(tmp_path)
    store.append("p", _table([0, 0, 1, 2]))
    store.append("p", _table([1], model=2, device="e"))
    store.append("other", _table([0]))
    assert store.days("p") == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]
    everything = store.read("p")
    assert everything.num_rows == 5
    assert everything.column("time").to_pylist() == sorted(everything.column("time").to_pylist())
    since = store.read("p", since=NOW + timedelta(days=1), model=1)
    assert since.num_rows == 2
    assert store.read("p", devices=["e"]).column("model").to_pylist() == [2]
    matrix, keep = telemetry.feature_matrix(everything, 2)
    assert matrix.shape == (5, 2) and keep.all()
    assert store.sql("p", "SELECT count(*), max(model) FROM telemetry") == [(5, 2)]
    assert store.read("nobody").num_rows == 0


def test_retention_and_compaction(tmp_path: Path) -> None:
    store = telemetry.TelemetryStore(tmp_path)
    for _ in range(3):
        store.append("p", _table([0, 1]))
    store.append("p", _table([0], model=2))
    compacted = store.compact("p", date(2026, 3, 1))
    assert [Path(f).name.split("_")[0] for f in compacted] == ["m1", "m2"]
    assert sorted(str(f) for f in Path(compacted[0]).parent.glob("*.parquet")) == compacted
    assert store.read("p", model=2).num_rows == 1
    assert store.read("p").num_rows == 7
    removed = store.prune("p", keep_days=1, today=date(2026, 3, 2))
    assert removed == [date(2026, 3, 1)]
    assert store.read("p").num_rows == 3
    with pytest.raises(InvalidInput, match="at least 1 day"):
        store.prune("p", keep_days=0)


vector = st.lists(st.floats(-1e6, 1e6, allow_nan=False, width=32), min_size=3, max_size=3)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.none(), vector), min_size=1, max_size=12),
    st.lists(st.one_of(st.none(), vector, st.lists(number, min_size=1, max_size=5)), max_size=6),
    st.booleans(),
)
def test_feature_vectors_round_trip_packed_or_not(
    tmp_path_factory: pytest.TempPathFactory,
    regular: list[list[float] | None],
    mixed: list[list[float] | None],
    compact: bool,
) -> None:
    """A batch whose vectors share one width is stored packed (fixed-size binary), any other
    as a list column; reading gives the same vectors back either way, also after compaction
    merges both kinds of file, and with or without the features column."""
    store = telemetry.TelemetryStore(tmp_path_factory.mktemp("store"))
    written = []
    for batch in (regular, mixed):
        if not batch:
            continue
        records = [{"model": 1, "time": NOW.timestamp() + len(written) + i,
                    **({"features": f} if f is not None else {})}
                   for i, f in enumerate(batch)]  # fmt: skip
        store.append("p", telemetry.parse(records, now=NOW).table)
        written.extend(batch)
    layouts = {Path(f).name.split("-")[0].split("_")[-1] for f in store.files("p")}
    assert "f3" in layouts or all(f is None for f in regular)
    if compact:
        store.compact("p", NOW.date())
    expected = [None if f is None else [float(np.float32(v)) for v in f] for f in written]
    assert store.read("p")["features"].to_pylist() == expected
    assert store.read("p", columns=["time", "device"]).num_rows == len(written)
