"""Edge Impulse data acquisition format (JSON and CBOR): reading, HMAC verification and signing."""

import hashlib
import hmac
import io
import json
import re
import sys
import time
from itertools import chain
from typing import Any

import cbor2
import numpy as np
import orjson

from edgeops.data.formats import ParsedSample, Sensor, finite_float32
from edgeops.errors import InvalidSample

# Limits shared by every time-series importer: far above any real recording, low enough that a
# hostile or broken file cannot make us allocate gigabytes.
MAX_AXES = 1024
MAX_VALUES = 10_000_000

_ZERO_SIGNATURE = "0" * 64
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
# A 64-character CBOR text string is encoded as major type 3 with a one-byte length (0x78 0x40).
_CBOR_TEXT64_HEADER = b"\x78\x40"
# Exact types: bool is an int subclass, and a CBOR tag can decode to Decimal or Fraction.
_NUMBER_TYPES = frozenset({int, float})


def parse_ei_json(
    data: bytes, *, hmac_key: str | None = None, allow_unsigned: bool = False
) -> ParsedSample:
    """Read an EI acquisition file in JSON; with `hmac_key`, also check its signature (an
    unsigned file, alg none, passes only with `allow_unsigned`)."""
    try:
        message = _json_loads(data)
    except Exception as exc:
        raise InvalidSample(
            f"not valid JSON ({exc}); export the file again as Edge Impulse JSON"
        ) from exc
    return _parse_message(message, data, hmac_key, allow_unsigned, "ei-json")


def _json_loads(data: bytes) -> Any:
    """orjson reads a device's JSON in a fifth of the time `json` takes (it is most of the cost
    of ingesting a sample). What orjson refuses but `json` reads (NaN and Infinity literals,
    integers beyond 64 bits, UTF-16 text) goes to `json`, so both the accepted files and the
    error messages stay those of the standard library."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def parse_ei_cbor(
    data: bytes, *, hmac_key: str | None = None, allow_unsigned: bool = False
) -> ParsedSample:
    """Read an EI acquisition file in CBOR; signatures are checked as in `parse_ei_json`."""
    stream = io.BytesIO(data)
    try:
        message = cbor2.CBORDecoder(stream).decode()
    except Exception as exc:
        raise InvalidSample(
            f"not valid CBOR ({exc}); export the file again as Edge Impulse CBOR"
        ) from exc
    if stream.tell() != len(data):
        raise InvalidSample(
            f"{len(data) - stream.tell()} unexpected bytes after the CBOR message; "
            "the file is probably corrupted, export it again"
        )
    return _parse_message(message, data, hmac_key, allow_unsigned, "ei-cbor")


def sign_ei(payload: dict[str, Any], hmac_key: str, *, cbor: bool = False) -> bytes:
    """Wrap `payload` in a signed EI message, the way the EI firmware SDK does.

    The HMAC covers the serialized message with the signature set to 64 zeros; the hex digest
    then replaces the zeros, which keeps the layout (and so the verification procedure) intact.
    """
    message = {
        "protected": {"ver": "v1", "alg": "HS256", "iat": int(time.time())},
        "signature": _ZERO_SIGNATURE,
        "payload": payload,
    }
    message["signature"] = _hmac_hex(_serialize(message, cbor), hmac_key)
    return _serialize(message, cbor)


def _serialize(message: dict[str, Any], cbor: bool) -> bytes:
    if cbor:
        encoded: bytes = cbor2.dumps(message)
        return encoded
    return json.dumps(message).encode()


def _hmac_hex(data: bytes, hmac_key: str) -> str:
    return hmac.new(hmac_key.encode(), data, hashlib.sha256).hexdigest()


def _parse_message(
    message: Any, raw: bytes, hmac_key: str | None, allow_unsigned: bool, fmt: str
) -> ParsedSample:
    if not isinstance(message, dict):
        raise InvalidSample("top level must be an object with a 'payload'; is this an EI file?")
    protected = message.get("protected", {})
    if not isinstance(protected, dict):
        raise InvalidSample("'protected' must be an object with 'ver', 'alg' and 'iat'")
    payload = message.get("payload")
    if not isinstance(payload, dict):
        raise InvalidSample("missing 'payload' object; is this an Edge Impulse acquisition file?")

    signature = _check_signature(message, protected, raw, hmac_key, allow_unsigned, fmt)

    sensors = _read_sensors(payload.get("sensors"))
    interval_ms = _interval_ms(payload.get("interval_ms"))
    values = _read_values(payload.get("values"), len(sensors))

    metadata = _read_metadata(payload.get("metadata"))
    if "iat" in protected:
        iat = protected["iat"]
        if type(iat) is not int:
            raise InvalidSample(f"protected.iat must be an integer Unix time, got {iat!r}")
        metadata["iat"] = iat
    metadata["signature"] = signature
    common: dict[str, Any] = {
        "format": fmt,
        "sensors": sensors,
        "device_name": _optional_str(payload, "device_name"),
        "device_type": _optional_str(payload, "device_type"),
        "metadata": metadata,
    }

    if len(sensors) == 1 and sensors[0].units == "wav":
        return ParsedSample(
            kind="audio",
            values=_pcm16_to_float(values),
            sample_rate=_sample_rate(interval_ms),
            **common,
        )
    return ParsedSample(kind="timeseries", values=values, interval_ms=interval_ms, **common)


def _check_signature(
    message: dict[str, Any],
    protected: dict[str, Any],
    raw: bytes,
    hmac_key: str | None,
    allow_unsigned: bool,
    fmt: str,
) -> str:
    """Check the signature: 'verified' (with a key), 'unverified' (signed, no key to check it
    with) or 'none' (alg none, accepted without a key or with `allow_unsigned`)."""
    alg = protected.get("alg", "none")
    if alg not in ("HS256", "none"):
        raise InvalidSample(f"unsupported protected.alg {alg!r}; sign with 'HS256' or use 'none'")
    if alg == "none":
        if hmac_key is not None and not allow_unsigned:
            raise InvalidSample(
                "file is not signed (alg none) but an HMAC key was given; sign the file with "
                "HS256 or import it without a key"
            )
        return "none"
    signature = message.get("signature")
    if not isinstance(signature, str) or not _HEX_SIGNATURE.fullmatch(signature):
        raise InvalidSample(
            "signature must be 64 hex characters (HMAC-SHA256) when alg is HS256; sign it again"
        )
    if hmac_key is None:
        return "unverified"
    # The signed bytes are the file itself with the signature zeroed; we find the signature in
    # its serialized form so that any other edit to the file changes the HMAC.
    if fmt == "ei-cbor":
        encoded = _CBOR_TEXT64_HEADER + signature.encode()
        zeroed = _CBOR_TEXT64_HEADER + _ZERO_SIGNATURE.encode()
    else:
        encoded = f'"{signature}"'.encode()
        zeroed = f'"{_ZERO_SIGNATURE}"'.encode()
    if raw.count(encoded) != 1:
        raise InvalidSample(
            "cannot locate the signature in the file's bytes to verify it; sign the file again "
            "with a standard EI encoder"
        )
    expected = _hmac_hex(raw.replace(encoded, zeroed), hmac_key)
    if not hmac.compare_digest(expected, signature.lower()):
        raise InvalidSample(
            "signature does not match the HMAC key "
            "(was the file edited after signing, or signed with another key?)"
        )
    return "verified"


def _read_sensors(sensors: Any) -> list[Sensor]:
    if not isinstance(sensors, list) or not sensors:
        raise InvalidSample(
            'payload.sensors must be a non-empty list of {"name": ..., "units": ...}'
        )
    if len(sensors) > MAX_AXES:
        raise InvalidSample(f"{len(sensors)} sensors is more than {MAX_AXES}; split the file")
    result = []
    for index, sensor in enumerate(sensors):
        if (
            not isinstance(sensor, dict)
            or not isinstance(sensor.get("name"), str)
            or not isinstance(sensor.get("units"), str)
        ):
            raise InvalidSample(
                f"payload.sensors[{index}] must be an object with string 'name' and 'units'"
            )
        result.append(Sensor(name=sensor["name"], units=sensor["units"]))
    names = [sensor.name for sensor in result]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidSample(
            f"sensor names must be unique, {duplicates[0]!r} is repeated; rename it"
        )
    return result


def _interval_ms(value: Any) -> float:
    # An upper bound of float max (not infinity) also rejects integers too large for a float.
    if type(value) not in _NUMBER_TYPES or not 0 < value < sys.float_info.max:
        raise InvalidSample(
            f"payload.interval_ms must be a positive number of milliseconds, got {value!r}"
        )
    return float(value)


def _read_values(values: Any, n_sensors: int) -> np.ndarray:
    """Rows of numbers (or, for one sensor, a flat list) → finite float32 (n_steps, n_sensors)."""
    if not isinstance(values, list) or not values:
        raise InvalidSample("payload.values must be a non-empty list of readings")
    if len(values) * n_sensors > MAX_VALUES:
        raise InvalidSample(
            f"{len(values) * n_sensors:,} values is more than {MAX_VALUES:,}; split the recording"
        )
    wide = _numeric_rows(values, n_sensors)
    if wide is None:
        wide = _checked_rows(values, n_sensors)
    return finite_float32(wide, lambda row: f"payload.values[{row}]")


def _numeric_rows(values: list[Any], n_sensors: int) -> np.ndarray | None:
    """The readings as float64 (n_steps, n_sensors) when every row is a list of `n_sensors`
    plain numbers (what devices send), checked in a few C-speed passes; None for anything
    else, which `_checked_rows` then examines to say what is wrong."""
    try:
        if set(map(len, values)) != {n_sensors}:
            return None
        flat = list(chain.from_iterable(values))
        if not set(map(type, flat)) <= _NUMBER_TYPES:
            return None
        # From the flat list: numpy reads it in a third of the time it takes for nested rows.
        return np.array(flat, dtype=np.float64).reshape(len(values), n_sensors)
    except (TypeError, ValueError, OverflowError):  # a row is no list, huge ints
        return None


def _checked_rows(values: list[Any], n_sensors: int) -> np.ndarray:
    """The readings as float64 (n_steps, n_sensors), also from one sensor's flat list, or an
    `InvalidSample` naming the first reading that is not right."""
    if n_sensors == 1 and not isinstance(values[0], list):
        values = [values]  # one row of n_steps numbers, transposed below
        rows_are_steps = False
    else:
        rows_are_steps = True
    for index, row in enumerate(values):
        if not isinstance(row, list):
            raise InvalidSample(
                f"payload.values[{index}] must be a list with one number per sensor "
                f"({n_sensors} sensors)"
            )
        if rows_are_steps and len(row) != n_sensors:
            raise InvalidSample(
                f"payload.values[{index}] has {len(row)} numbers but payload.sensors lists "
                f"{n_sensors}; give one number per sensor in every row"
            )
    # One pass over all cells at C speed; the slow search for the culprit runs only on error.
    if not set(map(type, chain.from_iterable(values))) <= _NUMBER_TYPES:
        index, column, value = next(
            (index, column, value)
            for index, row in enumerate(values)
            for column, value in enumerate(row)
            if type(value) not in _NUMBER_TYPES
        )
        where = f"[{index}][{column}]" if rows_are_steps else f"[{column}]"
        raise InvalidSample(
            f"payload.values{where} is {value!r}, not a number; write readings as numbers"
        )
    try:
        wide = np.array(values, dtype=np.float64)
    except OverflowError as exc:
        raise InvalidSample(
            "payload.values holds an integer too large for a float; check the readings"
        ) from exc
    return wide if rows_are_steps else wide.T


def _pcm16_to_float(values: np.ndarray) -> np.ndarray:
    """EI stores audio as int16 PCM samples; canonical audio is float32 in [-1, 1]."""
    bad = np.flatnonzero(
        ((values < -32768) | (values > 32767) | (values != np.round(values))).any(axis=1)
    )
    if bad.size:
        raise InvalidSample(
            f"payload.values[{bad[0]}] is not a 16-bit PCM sample (an integer from -32768 to "
            "32767), which units 'wav' requires"
        )
    scaled: np.ndarray = values / np.float32(32768)
    return scaled


def _sample_rate(interval_ms: float) -> int:
    rate = round(1000 / interval_ms)
    if rate < 1:
        raise InvalidSample(
            f"payload.interval_ms {interval_ms} gives an audio sample rate below 1 Hz; "
            "set interval_ms to 1000 / sample rate"
        )
    return rate


def _read_metadata(metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in metadata.items()
    ):
        raise InvalidSample("payload.metadata must map strings to strings; quote its values")
    return dict(metadata)


def _optional_str(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidSample(f"payload.{key} must be a string, got {value!r}")
    return value
