"""The recipe spec: loading, readable errors naming the path, a hash that ignores spelling."""

import json
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeops.blocks import registry
from edgeops.errors import InvalidInput
from edgeops.recipes.spec import (
    Recipe,
    canonical_json,
    load_recipe,
    recipe_hash,
    signal_spec,
    validate,
)
from edgeops.recipes.templates import TEMPLATES

MINIMAL = """\
name: m
input: {axes: [accX, accY, accZ], frequency_hz: 100, window_ms: 2000, stride_ms: 200}
features:
  - name: spectral
  - name: flatten
learner: {name: nn-classifier, params: {epochs: 3, layers: [{dense: 20}]}}
"""


def minimal_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(MINIMAL)
    return data


def error_of(text: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        validate(load_recipe(text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_key_order_and_format_do_not_change_the_hash() -> None:
    data = minimal_data()
    as_yaml = load_recipe(MINIMAL)
    reordered = dict(reversed(list(data.items())))
    reordered["input"] = dict(reversed(list(data["input"].items())))
    as_json = load_recipe(json.dumps(reordered, indent=4), "json")
    sniffed = load_recipe(json.dumps(reordered))
    assert recipe_hash(as_yaml) == recipe_hash(as_json) == recipe_hash(sniffed)
    assert canonical_json(as_yaml) == canonical_json(as_json)
    assert len(recipe_hash(as_yaml)) == 64


def test_defaults_written_or_omitted_hash_the_same() -> None:
    data = minimal_data()
    spelled = json.loads(json.dumps(data))
    for block in spelled["features"]:
        block_class = registry.get(block["name"])
        block["version"] = block_class.version
        block["params"] = block_class.Params().model_dump(mode="json")
    spelled["input"]["zero_pad"] = True
    spelled["input"]["kind"] = "timeseries"
    spelled["anomaly"] = None
    assert recipe_hash(load_recipe(json.dumps(spelled))) == recipe_hash(load_recipe(MINIMAL))
    assert b'"fft_length":128' in canonical_json(load_recipe(MINIMAL))


def test_different_params_give_a_different_hash() -> None:
    base = recipe_hash(load_recipe(MINIMAL))
    data = minimal_data()
    data["features"][0]["params"] = {"fft_length": 256}
    assert recipe_hash(load_recipe(json.dumps(data))) != base
    data = minimal_data()
    data["learner"]["params"]["epochs"] = 4
    assert recipe_hash(load_recipe(json.dumps(data))) != base
    data = minimal_data()
    data["input"]["stride_ms"] = 100
    assert recipe_hash(load_recipe(json.dumps(data))) != base


def test_canonical_json_is_compact_and_sorted() -> None:
    text = canonical_json(load_recipe(MINIMAL)).decode()
    assert " " not in text
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert json.loads(text)["features"][0]["version"] == registry.get("spectral").version


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("features", 0, "params", "bands", 300), "features[0] (spectral).params.bands: 300 is "
         "above the maximum 64"),
        (("features", 0, "params", "fft_length", 100), "features[0] (spectral).params.fft_length:"),
        (("features", 1, "params", "colour", 1), "features[1] (flatten).params.colour: unknown"),
        (("features", 1, "name", None, "nope"), "features[1] (nope): unknown block 'nope'"),
        (("features", 1, "version", None, 99), "features[1] (flatten): block 'flatten' has no "
         "version 99"),
        (("learner", None, "name", None, "svm"), "learner.name: 'svm' is not one of"),
        (("input", None, "stride_ms", None, 0), "input.stride_ms: 0 must be above 0"),
        (("input", None, "axes", None, []), "input: axes must name at least one axis"),
        (("input", None, "width", None, 9), "input: width does not apply to timeseries"),
        (("learner", None, "extra", None, 1), "learner.extra: unknown field"),
    ],
)  # fmt: skip
def test_errors_name_the_path(edit: tuple[Any, ...], expected: str) -> None:
    section, index, key, subkey, value = edit
    data = minimal_data()
    target = data[section] if index is None else data[section][index]
    if subkey is not None:
        target = target.setdefault(key, {})
        key = subkey
    target[key] = value
    assert error_of(json.dumps(data)).startswith(expected)


def test_missing_and_empty_sections_are_named() -> None:
    data = minimal_data()
    del data["learner"]
    assert error_of(json.dumps(data)) == "learner: is required"
    data = minimal_data()
    data["features"] = []
    assert error_of(json.dumps(data)).startswith("features: ")


def test_block_check_catches_cross_field_errors() -> None:
    data = minimal_data()
    data["features"][0]["params"] = {"filter": "low", "cutoff_hz": 60}
    recipe = load_recipe(json.dumps(data))  # the params alone are fine
    with pytest.raises(InvalidInput, match=r"^features\[0\] \(spectral\): .*Nyquist"):
        validate(recipe)


def test_signal_spec_rounds_the_window() -> None:
    data = minimal_data()
    data["input"].update(frequency_hz=62.5, window_ms=1000)
    spec = signal_spec(load_recipe(json.dumps(data)))
    assert (spec.frequency_hz, spec.axes, spec.window_samples) == (62.5, 3, 62)
    data["input"].update(frequency_hz=1, window_ms=100)
    with pytest.raises(InvalidInput, match="holds no sample"):
        signal_spec(load_recipe(json.dumps(data)))


def test_audio_and_image_inputs() -> None:
    data = minimal_data()
    data["input"] = {"kind": "audio", "frequency_hz": 16000, "window_ms": 1000, "stride_ms": 500}
    recipe = load_recipe(json.dumps(data))
    assert recipe.input.axes == ["audio"]
    assert signal_spec(recipe).window_samples == 16000
    data["input"] = {"kind": "image", "width": 4, "height": 3, "channels": 1}
    spec = signal_spec(load_recipe(json.dumps(data)))
    assert spec.image_shape == (3, 4, 1)
    data["input"]["window_ms"] = 10
    with pytest.raises(InvalidInput, match="window_ms does not apply to image"):
        load_recipe(json.dumps(data))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[", "not valid YAML"),
        ("{", "not valid JSON"),
        ("- 1\n- 2", "must be a mapping"),
        ("a: &x [1]\nb: *x", "aliases"),
        ("!!python/object:os.system {}", "not valid YAML"),
        ("x" * 1_000_001, "larger than"),
        ("", "must be a mapping"),
    ],
)
def test_unreadable_text_is_invalid_input(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected):
        load_recipe(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=20,
)  # fmt: skip
field_names = st.sampled_from([*Recipe.model_fields, "kind", "axes", "params", "x"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(field_names, json_values, max_size=6), st.booleans())
def test_random_recipes_fail_only_with_invalid_input(data: dict[str, Any], mutate: bool) -> None:
    if mutate:
        data = {**minimal_data(), **data}
    try:
        validate(load_recipe(yaml.safe_dump(data)))
    except InvalidInput as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_garbage_text_fails_only_with_invalid_input(text: str) -> None:
    for fmt in (None, "yaml", "json"):
        try:
            validate(load_recipe(text, fmt))
        except InvalidInput as exc:
            assert str(exc) and "\n" not in str(exc)


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_templates_are_valid(name: str) -> None:
    text = TEMPLATES[name]
    assert isinstance(yaml.safe_load(text), dict)
    known = {block.name for block in registry.all_blocks()}
    needed = {block["name"] for block in yaml.safe_load(text)["features"]}
    if needed - known:
        pytest.skip(
            f"template {name!r} needs block(s) not registered yet: {sorted(needed - known)}"
        )
    recipe = validate(load_recipe(text))
    assert recipe.name == name
