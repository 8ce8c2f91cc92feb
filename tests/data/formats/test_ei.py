"""Edge Impulse acquisition files: parsing, signatures, rejection of bad input, and fuzzing."""

import json
import math
from decimal import Decimal

import cbor2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst
from tests.data.formats.checks import check_parses_or_rejects

from edgeops.data.formats import Sensor, ei
from edgeops.data.formats.ei import parse_ei_cbor, parse_ei_json, sign_ei
from edgeops.errors import InvalidSample

KEY = "project-hmac-key"
FUZZ = settings(max_examples=200, deadline=None)


def accelerometer_payload() -> dict:
    return {
        "device_name": "ac:87:a3:0a:2d:1b",
        "device_type": "DISCO-L475VG-IOT01A",
        "interval_ms": 10,
        "sensors": [
            {"name": "accX", "units": "m/s2"},
            {"name": "accY", "units": "m/s2"},
            {"name": "accZ", "units": "m/s2"},
        ],
        "values": [[-9.81, 0.03, 1.21], [-9.83, 0.04, 1.25], [-9.12, 0.03, 1.23]],
    }


def unsigned(payload: dict, **protected: object) -> dict:
    return {
        "protected": {"ver": "v1", "alg": "none", "iat": 1603914126, **protected},
        "signature": "0" * 64,
        "payload": payload,
    }


def json_bytes(message: object) -> bytes:
    return json.dumps(message).encode()


def rejection(data: bytes, *, cbor: bool = False, hmac_key: str | None = None) -> str:
    parse = parse_ei_cbor if cbor else parse_ei_json
    with pytest.raises(InvalidSample) as caught:
        parse(data, hmac_key=hmac_key)
    return str(caught.value)


def test_json_file_becomes_a_timeseries_sample() -> None:
    sample = parse_ei_json(json_bytes(unsigned(accelerometer_payload())))

    assert sample.kind == "timeseries"
    assert sample.format == "ei-json"
    assert sample.values.dtype == np.float32
    np.testing.assert_array_equal(
        sample.values,
        np.array([[-9.81, 0.03, 1.21], [-9.83, 0.04, 1.25], [-9.12, 0.03, 1.23]], np.float32),
    )
    assert sample.interval_ms == 10.0
    assert sample.sensors == [
        Sensor("accX", "m/s2"),
        Sensor("accY", "m/s2"),
        Sensor("accZ", "m/s2"),
    ]
    assert sample.device_name == "ac:87:a3:0a:2d:1b"
    assert sample.device_type == "DISCO-L475VG-IOT01A"
    assert sample.metadata == {"iat": 1603914126, "signature": "none"}


def test_cbor_file_reads_like_json() -> None:
    sample = parse_ei_cbor(cbor2.dumps(unsigned(accelerometer_payload())))

    assert sample.format == "ei-cbor"
    assert sample.values.shape == (3, 3)
    assert sample.sensors[2] == Sensor("accZ", "m/s2")


def test_single_sensor_accepts_a_flat_list_and_optional_fields_may_be_absent() -> None:
    payload = {"interval_ms": 5, "sensors": [{"name": "temp", "units": "C"}], "values": [1, 2, 3]}

    sample = parse_ei_json(json_bytes({"payload": payload}))

    assert sample.values.shape == (3, 1)
    assert sample.values[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert sample.device_name is None
    assert sample.metadata == {"signature": "none"}


def test_payload_metadata_is_kept_with_iat() -> None:
    payload = {**accelerometer_payload(), "metadata": {"site": "line 3"}}

    sample = parse_ei_json(json_bytes(unsigned(payload)))

    assert sample.metadata == {"site": "line 3", "iat": 1603914126, "signature": "none"}


def test_wav_units_make_an_audio_sample_scaled_from_int16() -> None:
    payload = {
        "interval_ms": 0.0625,
        "sensors": [{"name": "audio", "units": "wav"}],
        "values": [0, 16384, -32768, 32767],
    }

    sample = parse_ei_json(json_bytes(unsigned(payload)))

    assert sample.kind == "audio"
    assert sample.sample_rate == 16000
    assert sample.interval_ms is None
    assert sample.sensors == [Sensor("audio", "wav")]
    assert sample.values.dtype == np.float32
    assert sample.values[:, 0].tolist() == [0.0, 0.5, -1.0, 32767 / 32768]


@pytest.mark.parametrize("value", [40000, -40000, 1.5])
def test_wav_values_must_be_int16_pcm(value: float) -> None:
    payload = {"interval_ms": 1, "sensors": [{"name": "a", "units": "wav"}], "values": [0, value]}

    assert "16-bit PCM" in rejection(json_bytes(unsigned(payload)))


@pytest.mark.parametrize("cbor", [False, True])
def test_signed_file_verifies_with_its_key(cbor: bool) -> None:
    data = sign_ei(accelerometer_payload(), KEY, cbor=cbor)
    parse = parse_ei_cbor if cbor else parse_ei_json

    sample = parse(data, hmac_key=KEY)

    assert sample.values.shape == (3, 3)
    assert isinstance(sample.metadata["iat"], int)


def test_signature_is_the_reference_hmac_over_the_zeroed_message() -> None:
    import hashlib
    import hmac

    data = sign_ei(accelerometer_payload(), KEY)
    message = json.loads(data)
    signature = message["signature"]
    message["signature"] = "0" * 64
    expected = hmac.new(KEY.encode(), json.dumps(message).encode(), hashlib.sha256).hexdigest()

    assert signature == expected


@pytest.mark.parametrize("cbor", [False, True])
def test_wrong_key_is_rejected(cbor: bool) -> None:
    data = sign_ei(accelerometer_payload(), KEY, cbor=cbor)

    assert "signature does not match" in rejection(data, cbor=cbor, hmac_key="another-key")


def test_editing_one_value_in_signed_json_breaks_the_signature() -> None:
    data = sign_ei(accelerometer_payload(), KEY)
    assert data.count(b"1.25") == 1
    edited = data.replace(b"1.25", b"1.26")

    assert "was the file edited" in rejection(edited, hmac_key=KEY)
    assert parse_ei_json(edited).values[1, 2] == np.float32(1.26)  # without a key: not checked


def test_editing_one_value_in_signed_cbor_breaks_the_signature() -> None:
    data = sign_ei(accelerometer_payload(), KEY, cbor=True)
    original, replacement = cbor2.dumps(1.25), cbor2.dumps(1.5)
    assert len(original) == len(replacement) and data.count(original) == 1

    edited = data.replace(original, replacement)

    assert "was the file edited" in rejection(edited, cbor=True, hmac_key=KEY)


def test_uppercase_hex_signature_still_verifies() -> None:
    data = sign_ei(accelerometer_payload(), KEY)
    signature = json.loads(data)["signature"]

    upper = data.replace(signature.encode(), signature.upper().encode())
    assert parse_ei_json(upper, hmac_key=KEY).metadata["signature"] == "verified"


def test_unsigned_file_with_a_key_is_rejected() -> None:
    message = rejection(json_bytes(unsigned(accelerometer_payload())), hmac_key=KEY)

    assert message.startswith("file is not signed (alg none) but an HMAC key was given")


@pytest.mark.parametrize("signature", ["abc", "z" * 64, 42, None])
def test_hs256_needs_a_64_hex_signature(signature: object) -> None:
    message = {**unsigned(accelerometer_payload(), alg="HS256"), "signature": signature}

    assert "64 hex characters" in rejection(json_bytes(message))


def test_signature_that_cannot_be_located_in_the_bytes_is_rejected() -> None:
    data = sign_ei(accelerometer_payload(), KEY)
    signature = json.loads(data)["signature"]
    # "\\u0061" is JSON for "a": same text once decoded, different bytes.
    escaped_first = f"\\u{ord(signature[0]):04x}{signature[1:]}"
    escaped = data.replace(signature.encode(), escaped_first.encode())
    assert json.loads(escaped)["signature"] == signature

    assert "cannot locate the signature" in rejection(escaped, hmac_key=KEY)


def with_payload(**changes: object) -> bytes:
    payload = {**accelerometer_payload(), **changes}
    return json_bytes(unsigned({key: value for key, value in payload.items() if value != "DROP"}))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (json_bytes([1, 2]), "top level must be an object"),
        (json_bytes({"protected": {}}), "missing 'payload'"),
        (json_bytes({"protected": [], "payload": {}}), "'protected' must be an object"),
        (json_bytes(unsigned(accelerometer_payload(), alg="RS256")), "unsupported protected.alg"),
        (json_bytes(unsigned(accelerometer_payload(), iat="yesterday")), "protected.iat"),
        (with_payload(sensors="DROP"), "payload.sensors must be a non-empty list"),
        (with_payload(sensors=[]), "payload.sensors must be a non-empty list"),
        (with_payload(sensors=[{"name": "x"}]), "payload.sensors[0] must be an object"),
        (with_payload(sensors=[{"name": 1, "units": ""}]), "payload.sensors[0] must be an object"),
        (
            with_payload(sensors=[{"name": "x", "units": ""}, {"name": "x", "units": ""}]),
            "'x' is repeated",
        ),
        (with_payload(interval_ms="DROP"), "payload.interval_ms must be a positive number"),
        (with_payload(interval_ms=0), "payload.interval_ms must be a positive number"),
        (with_payload(interval_ms=-1), "payload.interval_ms must be a positive number"),
        (with_payload(interval_ms="10"), "payload.interval_ms must be a positive number"),
        (with_payload(interval_ms=True), "payload.interval_ms must be a positive number"),
        (with_payload(interval_ms=math.nan), "payload.interval_ms must be a positive number"),
        (with_payload(interval_ms=10**400), "payload.interval_ms must be a positive number"),
        (with_payload(values="DROP"), "payload.values must be a non-empty list"),
        (with_payload(values=[]), "payload.values must be a non-empty list"),
        (with_payload(values={"a": 1}), "payload.values must be a non-empty list"),
        (with_payload(values=[1, 2, 3]), "payload.values[0] must be a list"),
        (with_payload(values=[[1, 2, 3], 4]), "payload.values[1] must be a list"),
        (
            with_payload(values=[[1, 2, 3], [1, 2]]),
            "payload.values[1] has 2 numbers but payload.sensors lists 3",
        ),
        (with_payload(values=[[1, 2, "3"]]), "payload.values[0][2] is '3', not a number"),
        (with_payload(values=[[1, True, 3]]), "payload.values[0][1] is True, not a number"),
        (with_payload(values=[[1, None, 3]]), "payload.values[0][1] is None, not a number"),
        (with_payload(values=[[1, 2, 3], [1, [2], 3]]), "payload.values[1][1] is [2]"),
        (
            with_payload(values=[[1, 2, 3], [math.nan, 2, 3]]),
            "NaN or infinity at payload.values[1]",
        ),
        (with_payload(values=[[1, 2, math.inf]]), "NaN or infinity at payload.values[0]"),
        (
            with_payload(values=[[1, 2, 1e39]]),
            "payload.values[0] holds a value too large for float32",
        ),
        (with_payload(values=[[1, 2, 10**400]]), "integer too large"),
        (with_payload(metadata={"a": 1}), "payload.metadata must map strings to strings"),
        (with_payload(metadata=[]), "payload.metadata must map strings to strings"),
        (with_payload(device_name=7), "payload.device_name must be a string"),
        (with_payload(device_type=["x"]), "payload.device_type must be a string"),
        (b'{"payload": ', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_bad_json_files_are_rejected_with_a_clear_message(data: bytes, expected: str) -> None:
    assert expected in rejection(data)


def test_single_sensor_flat_list_reports_the_bad_position() -> None:
    payload = {"interval_ms": 1, "sensors": [{"name": "t", "units": "C"}], "values": [1, "x"]}

    assert "payload.values[1] is 'x'" in rejection(json_bytes({"payload": payload}))


def cbor_with_payload(**changes: object) -> bytes:
    return cbor2.dumps(unsigned({**accelerometer_payload(), **changes}))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (cbor_with_payload()[:-5], "not valid CBOR"),
        (b"\x1c", "not valid CBOR"),
        (cbor_with_payload() + b"\x00\x00", "2 unexpected bytes"),
        (cbor2.dumps("payload"), "top level must be an object"),
        (cbor_with_payload(values=b"\x01\x02"), "payload.values must be a non-empty list"),
        (cbor_with_payload(values=[[1, 2, Decimal("3")]]), "payload.values[0][2] is Decimal('3')"),
        (cbor_with_payload(values=[[1, 2, math.nan]]), "NaN or infinity at payload.values[0]"),
        (cbor_with_payload(interval_ms=None), "payload.interval_ms must be a positive number"),
    ],
)
def test_bad_cbor_files_are_rejected_with_a_clear_message(data: bytes, expected: str) -> None:
    assert expected in rejection(data, cbor=True)


def test_too_many_sensors_are_rejected() -> None:
    sensors = [{"name": f"s{index}", "units": ""} for index in range(ei.MAX_AXES + 1)]

    assert "1025 sensors is more than 1024" in rejection(with_payload(sensors=sensors))


def test_too_many_values_are_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ei, "MAX_VALUES", 8)

    assert "9 values is more than 8" in rejection(with_payload())


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_raise_only_invalid_sample(data: bytes) -> None:
    for parse in (parse_ei_json, parse_ei_cbor):
        for hmac_key in (None, KEY):
            check_parses_or_rejects(parse, data, hmac_key=hmac_key)


SIGNED_FILES = {cbor: sign_ei(accelerometer_payload(), KEY, cbor=cbor) for cbor in (False, True)}


@FUZZ
@given(st.booleans(), st.data())
def test_every_truncation_of_a_signed_file_is_rejected(cbor: bool, data: st.DataObject) -> None:
    original = SIGNED_FILES[cbor]
    cut = data.draw(st.integers(0, len(original) - 1))

    assert rejection(original[:cut], cbor=cbor, hmac_key=KEY)


@FUZZ
@given(st.booleans(), st.data())
def test_byte_flips_in_signed_files_raise_only_invalid_sample_and_never_forge(
    cbor: bool, data: st.DataObject
) -> None:
    mutated = bytearray(SIGNED_FILES[cbor])
    positions = st.integers(0, len(mutated) - 1)
    for position, value in data.draw(
        st.lists(st.tuples(positions, st.integers(0, 255)), min_size=1, max_size=6)
    ):
        mutated[position] = value
    parse = parse_ei_cbor if cbor else parse_ei_json

    check_parses_or_rejects(parse, bytes(mutated))
    try:
        sample = parse(bytes(mutated), hmac_key=KEY)
    except InvalidSample:
        return
    # Verification passed, so the flips can only have touched the signature's hex case.
    np.testing.assert_array_equal(
        sample.values, np.array(accelerometer_payload()["values"], np.float32)
    )


float32_tables = npst.arrays(
    np.float32,
    st.tuples(st.integers(1, 20), st.integers(1, 5)),
    elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
)


@FUZZ
@given(float32_tables, st.booleans())
def test_float32_values_round_trip_exactly(values: np.ndarray, cbor: bool) -> None:
    payload = {
        "interval_ms": 4,
        "sensors": [{"name": f"axis{index}", "units": "g"} for index in range(values.shape[1])],
        "values": values.tolist(),
    }

    data = sign_ei(payload, KEY, cbor=cbor)
    sample = (parse_ei_cbor if cbor else parse_ei_json)(data, hmac_key=KEY)

    assert sample.values.dtype == np.float32
    np.testing.assert_array_equal(sample.values, values)


def test_signature_state_is_recorded_and_unsigned_files_pass_only_when_allowed() -> None:
    signed = sign_ei(accelerometer_payload(), KEY)
    assert parse_ei_json(signed, hmac_key=KEY).metadata["signature"] == "verified"
    assert parse_ei_json(signed).metadata["signature"] == "unverified"
    plain = json_bytes(unsigned(accelerometer_payload()))
    assert parse_ei_json(plain, hmac_key=KEY, allow_unsigned=True).metadata["signature"] == "none"
    with pytest.raises(InvalidSample, match="not signed"):
        parse_ei_json(plain, hmac_key=KEY)
