"""The recipe spec: pydantic models, loading from YAML/JSON, the canonical form and its hash."""

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeops.blocks import registry
from edgeops.blocks.base import FeatureBlock, SignalSpec
from edgeops.errors import InvalidInput

MAX_RECIPE_BYTES = 1_000_000
MAX_WINDOW_SAMPLES = 10_000_000
LEARNERS = ("nn-classifier", "nn-regressor", "trees", "anomaly-kmeans", "anomaly-gmm")
LearnerName = Literal["nn-classifier", "nn-regressor", "trees", "anomaly-kmeans", "anomaly-gmm"]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class InputSpec(_Spec):
    """How raw samples become windows. Time series and audio: `axes` (audio has one),
    `frequency_hz`, `window_ms`, `stride_ms` (a stride shorter than the window overlaps windows),
    `zero_pad` (pad a short sample to one window instead of dropping it). Images: width, height,
    channels."""

    kind: Literal["timeseries", "audio", "image"] = "timeseries"
    axes: list[str] = Field(default_factory=list, max_length=64)
    frequency_hz: float | None = Field(None, gt=0, le=10_000_000)
    window_ms: float | None = Field(None, gt=0, le=3_600_000)
    stride_ms: float | None = Field(None, gt=0, le=3_600_000)
    zero_pad: bool = True
    width: int | None = Field(None, ge=1, le=4096)
    height: int | None = Field(None, ge=1, le=4096)
    channels: int | None = Field(None, ge=1, le=4)

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> "InputSpec":
        signal_fields = ("frequency_hz", "window_ms", "stride_ms")
        image_fields = ("width", "height", "channels")
        required, forbidden = (
            (image_fields, signal_fields) if self.kind == "image" else (signal_fields, image_fields)
        )
        for field in required:
            if getattr(self, field) is None:
                raise ValueError(f"{field} is required for {self.kind} input")
        for field in forbidden:
            if getattr(self, field) is not None:
                raise ValueError(f"{field} does not apply to {self.kind} input")
        if self.kind == "audio" and not self.axes:
            self.axes = ["audio"]
        if self.kind == "image" and self.axes:
            raise ValueError("axes does not apply to image input")
        if self.kind != "image" and not self.axes:
            raise ValueError(f"axes must name at least one axis for {self.kind} input")
        if self.kind == "audio" and len(self.axes) != 1:
            raise ValueError(f"audio input has exactly one axis, not {len(self.axes)}")
        if len(set(self.axes)) != len(self.axes):
            raise ValueError(f"axes must be unique names, got {self.axes}")
        return self


class BlockSpec(_Spec):
    """A feature block by name and version (None: the newest registered) with its params."""

    name: str = Field(min_length=1, max_length=100)
    version: int | None = Field(None, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)


class LearnerSpec(_Spec):
    """A learner by name with free-form params (checked by the learner when it trains)."""

    name: LearnerName
    params: dict[str, Any] = Field(default_factory=dict)


class Recipe(_Spec):
    """Window settings + feature blocks + learner (+ optional anomaly learner)."""

    name: str = Field(min_length=1, max_length=200)
    input: InputSpec
    features: list[BlockSpec] = Field(min_length=1, max_length=32)
    learner: LearnerSpec
    anomaly: LearnerSpec | None = None


def _path(location: tuple[int | str, ...], recipe_data: Any = None) -> str:
    """('features', 0, 'params') → 'features[0] (mfcc).params' (the block name when known)."""
    text = ""
    for index, part in enumerate(location):
        if isinstance(part, int):
            text += f"[{part}]"
            if index == 1 and location[0] == "features":
                text += _block_label(recipe_data, part)
        else:
            text += f".{part}" if text else str(part)
    return text


def _block_label(recipe_data: Any, index: int) -> str:
    try:
        name = recipe_data["features"][index]["name"]
    except (KeyError, IndexError, TypeError):
        return ""
    return f" ({name})" if isinstance(name, str) and len(name) <= 100 else ""


def _problem(error: Any) -> str:
    """One pydantic error as a short phrase a person can act on."""
    kind, given, context = error["type"], error.get("input"), error.get("ctx") or {}
    shown = repr(given) if isinstance(given, str) else str(given)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    phrases: dict[str, Callable[[], str]] = {
        "less_than_equal": lambda: f"{shown} is above the maximum {context.get('le')}",
        "less_than": lambda: f"{shown} must be below {context.get('lt')}",
        "greater_than_equal": lambda: f"{shown} is below the minimum {context.get('ge')}",
        "greater_than": lambda: f"{shown} must be above {context.get('gt')}",
        "missing": lambda: "is required",
        "extra_forbidden": lambda: "unknown field",
        "literal_error": lambda: f"{shown} is not one of {context.get('expected')}",
    }
    if kind in phrases:
        return phrases[kind]()
    message = str(error["msg"]).removeprefix("Value error, ")
    return message if kind in ("value_error", "assertion_error") else f"{message} (got {shown})"


def _first_error(exc: ValidationError, prefix: str = "", data: Any = None) -> InvalidInput:
    errors = exc.errors()
    first = errors[0]
    where = _path(tuple(first["loc"]), data)
    where = f"{prefix}.{where}" if prefix and where else prefix or where or "recipe"
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return InvalidInput(f"{where}: {_problem(first)}{more}")


class _NoAliasLoader(yaml.SafeLoader):
    """Safe YAML without anchors/aliases: a few aliases can expand to billions of nodes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise InvalidInput("recipe: YAML aliases (*name) are not allowed in a recipe")
        return super().compose_node(parent, index)


def _parse(text: str, fmt: Literal["yaml", "json"] | None) -> Any:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_RECIPE_BYTES:
        raise InvalidInput(f"recipe is larger than {MAX_RECIPE_BYTES} bytes")
    if fmt is None:
        fmt = "json" if text.lstrip().startswith("{") else "yaml"
    try:
        if fmt == "json":
            return json.loads(text)
        return yaml.load(text, Loader=_NoAliasLoader)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"recipe is not valid JSON: {exc}") from None
    except yaml.YAMLError as exc:
        detail = " ".join(str(exc).split())
        raise InvalidInput(f"recipe is not valid YAML: {detail}") from None
    except (RecursionError, ValueError, UnicodeError) as exc:
        raise InvalidInput(f"recipe could not be read as {fmt}: {exc}") from None


def _resolve_block(index: int, block: BlockSpec) -> BlockSpec:
    where = f"features[{index}] ({block.name})"
    try:
        block_class = registry.get(block.name, block.version)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    try:
        params = block_class.Params.model_validate(block.params)
    except ValidationError as exc:
        error = _first_error(exc, f"{where}.params")
        if exc.errors()[0]["type"] == "extra_forbidden":
            known = ", ".join(block_class.Params.model_fields) or "no params"
            error = InvalidInput(f"{error} ({block.name} v{block_class.version} accepts: {known})")
        raise error from None
    return BlockSpec(
        name=block.name, version=block_class.version, params=params.model_dump(mode="json")
    )


def resolve(recipe: Recipe) -> Recipe:
    """The recipe with block versions pinned and block params validated, defaults filled in."""
    features = [_resolve_block(index, block) for index, block in enumerate(recipe.features)]
    return recipe.model_copy(update={"features": features})


def load_recipe(text: str, fmt: Literal["yaml", "json"] | None = None) -> Recipe:
    """Parse and resolve a recipe; every problem is one InvalidInput line naming its path."""
    data = _parse(text, fmt)
    if not isinstance(data, dict):
        raise InvalidInput(f"recipe must be a mapping of fields, not {type(data).__name__}")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, data=data) from None
    resolved = resolve(recipe)
    canonical_json(resolved)  # surfaces params JSON cannot hold now rather than at hashing
    return resolved


def load_recipe_file(path: Path) -> Recipe:
    """A recipe from a .yaml/.yml/.json file (other names: format sniffed)."""
    try:
        if path.stat().st_size > MAX_RECIPE_BYTES:
            raise InvalidInput(f"{path}: recipe is larger than {MAX_RECIPE_BYTES} bytes")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read the recipe ({exc})") from None
    suffix = path.suffix.lower()
    fmt: Literal["yaml", "json"] | None = (
        "json" if suffix == ".json" else "yaml" if suffix in (".yaml", ".yml") else None
    )
    try:
        return load_recipe(text, fmt)
    except InvalidInput as exc:
        raise InvalidInput(f"{path.name}: {exc}") from None


def canonical_data(recipe: Recipe) -> dict[str, Any]:
    """The resolved recipe as plain JSON data (block versions pinned, defaults filled in)."""
    return resolve(recipe).model_dump(mode="json")


def canonical_json(recipe: Recipe) -> bytes:
    """Sorted keys, no spaces, UTF-8: equal recipes give equal bytes, however they were written."""
    try:
        text = json.dumps(
            canonical_data(recipe),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"recipe holds a value JSON cannot represent: {exc}") from None
    return text.encode("utf-8")


def recipe_hash(recipe: Recipe) -> str:
    """SHA-256 hex of the canonical JSON: the recipe's version."""
    return hashlib.sha256(canonical_json(recipe)).hexdigest()


def signal_spec(recipe: Recipe) -> SignalSpec:
    """What the feature blocks receive for this recipe's input."""
    source = recipe.input
    if source.kind == "image":
        assert source.width and source.height and source.channels  # guaranteed by InputSpec
        return SignalSpec(
            frequency_hz=0.0,
            axes=source.channels,
            window_samples=source.width * source.height,
            image_shape=(source.height, source.width, source.channels),
        )
    assert source.frequency_hz is not None and source.window_ms is not None
    samples = round(source.window_ms * source.frequency_hz / 1000)
    if samples < 1 or not math.isfinite(samples):
        raise InvalidInput(
            f"input.window_ms: {source.window_ms} ms at {source.frequency_hz} Hz holds no sample; "
            "use a longer window"
        )
    if samples > MAX_WINDOW_SAMPLES:
        raise InvalidInput(
            f"input.window_ms: {source.window_ms} ms at {source.frequency_hz} Hz is {samples} "
            f"samples per window, above the maximum {MAX_WINDOW_SAMPLES}"
        )
    return SignalSpec(
        frequency_hz=source.frequency_hz, axes=len(source.axes), window_samples=samples
    )


def validate(recipe: Recipe) -> Recipe:
    """Resolve the recipe and let each block refuse the signal it would receive."""
    resolved = resolve(recipe)
    spec = signal_spec(resolved)
    for index, block_spec in enumerate(resolved.features):
        block: FeatureBlock = registry.get(block_spec.name, block_spec.version)(block_spec.params)
        try:
            block.check(spec)
        except InvalidInput as exc:
            raise InvalidInput(f"features[{index}] ({block_spec.name}): {exc}") from None
    return resolved
