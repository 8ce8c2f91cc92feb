"""The recipe editor's form, generated from the parameter schemas: every block's, learner's and
the input's pydantic model becomes labelled inputs (numbers with their bounds, choices, yes/no,
YAML for lists and nested settings), and pydantic's errors come back next to their field."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from edgeops.blocks import registry
from edgeops.errors import InvalidInput
from edgeops.recipes.spec import InputSpec, Recipe, recipe_hash, validate

Form = Mapping[str, str]


@dataclass
class FormField:
    """One input of the editor. `key` is the form field's name, e.g. `f.0.fft_length`."""

    key: str
    label: str
    kind: str  # number | integer | boolean | choice | yaml | text
    value: str
    choices: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    error: str | None = None


@dataclass
class Section:
    """The fields of the input, of one feature block, or of a learner."""

    title: str
    prefix: str
    name: str | None  # the block or learner name (None for the input)
    fields: list[FormField]
    error: str | None = None
    given: str = ""  # the learner params the recipe names (see _without_defaults)


@dataclass
class Editor:
    """Everything the editor page shows: sections, the recipe it describes, and whether it is
    valid (then `canonical` is its YAML with defaults and versions pinned, `digest` its hash)."""

    name: str
    sections: list[Section]
    recipe: dict[str, Any]
    problem: str | None = None
    canonical: str | None = None
    digest: str | None = None

    @property
    def valid(self) -> bool:
        return self.canonical is not None


def _shown(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "yaml":
        plain = to_jsonable_python(value)  # defaults may be pydantic models (augmentation)
        dumped: str = yaml.safe_dump(plain, default_flow_style=True, sort_keys=False)
        return dumped.strip().removesuffix("...").strip()
    return str(value)


def _describe(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The input kind for one property's schema, and the schema that carries its bounds."""
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    inner = options[0] if len(options) == 1 else schema
    if "$ref" in inner:
        return "yaml", inner
    if "enum" in inner:
        return "choice", inner
    kind = {"integer": "integer", "number": "number", "boolean": "boolean", "string": "text"}
    return kind.get(inner.get("type", ""), "yaml"), inner


def fields_for(
    model: type[BaseModel], prefix: str, values: dict[str, Any], errors: dict[str, str]
) -> list[FormField]:
    """One FormField per parameter of `model`, showing `values` (or the defaults)."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    found = []
    for name, info in model.model_fields.items():
        prop = schema["properties"].get(info.alias or name, {})
        kind, inner = _describe(prop, defs)
        value = values.get(name, info.get_default(call_default_factory=True))
        low = inner.get("minimum", inner.get("exclusiveMinimum"))
        found.append(
            FormField(
                key=f"{prefix}.{name}",
                label=name.replace("_", " "),
                kind=kind,
                value=value if isinstance(value, str) and kind != "yaml" else _shown(value, kind),
                choices=[str(c) for c in inner.get("enum", [])],
                minimum=low,
                maximum=inner.get("maximum"),
                help=str(prop.get("description", "")),
                error=errors.get(f"{prefix}.{name}"),
            )
        )
    return found


def read_values(
    model: type[BaseModel], prefix: str, form: Form, errors: dict[str, str]
) -> dict[str, Any]:
    """The submitted parameters of one section, typed per the schema. Blank means "default";
    unreadable text is passed on as is, so that pydantic names the problem."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        raw = form.get(f"{prefix}.{name}")
        if raw is None or raw.strip() == "":
            continue
        raw = raw.strip()
        kind, _ = _describe(schema["properties"].get(info.alias or name, {}), defs)
        try:
            if kind == "integer":
                values[name] = int(raw)
            elif kind == "number":
                values[name] = float(raw)
            elif kind == "boolean":
                values[name] = raw == "true"
            elif kind == "yaml":
                values[name] = yaml.safe_load(raw)
            else:
                values[name] = raw
        except ValueError:
            values[name] = raw
        except yaml.YAMLError as exc:
            errors[f"{prefix}.{name}"] = f"not readable YAML ({str(exc).splitlines()[0]})"
    return values


def _check(
    model: type[BaseModel], prefix: str, values: dict[str, Any], errors: dict[str, str]
) -> str | None:
    """Pydantic's verdict on one section: field errors into `errors`, the rest returned."""
    try:
        model.model_validate(values)
    except ValidationError as exc:
        general = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["loc"]:
                errors.setdefault(f"{prefix}.{error['loc'][0]}", message)
            else:
                general.append(message)
        return "; ".join(general) or None
    return None


def _without_defaults(
    model: type[BaseModel], values: dict[str, Any], given: set[str]
) -> dict[str, Any]:
    """Learner params as the recipe gave them: the form shows every default, but a recipe's
    hash (its version) covers only the learner params it names, so an unchanged recipe must
    read back with the same ones (`given`) plus those changed from their default."""
    kept = {}
    for name, value in values.items():
        default = model.model_fields[name].get_default(call_default_factory=True)
        if name in given or to_jsonable_python(value) != to_jsonable_python(default):
            kept[name] = value
    return kept


def _block_params(name: str) -> type[BaseModel] | None:
    try:
        return registry.get(name).Params
    except InvalidInput:
        return None


def _learner_params(name: str) -> type[BaseModel] | None:
    try:
        params: type[BaseModel] | None = getattr(registry.get_learner(name), "Params", None)
    except InvalidInput:
        return None
    return params


def block_names() -> list[str]:
    return sorted({block.name for block in registry.all_blocks()})


def learner_names() -> list[str]:
    return sorted({learner.name for learner in registry.all_learners()})


def anomaly_learner_names() -> list[str]:
    """The learners a recipe can add as its `anomaly` learner, beside its main one."""
    learners = registry.all_learners()
    return sorted({learner.name for learner in learners if learner.task == "anomaly"})


def from_form(form: Form, op: str = "") -> Editor:
    """The editor for a submitted form. `op`: `add` appends the block named `new_block`,
    `remove.N` drops block N; anything else just checks."""
    errors: dict[str, str] = {}
    input_values = read_values(InputSpec, "in", form, errors)
    features = []
    blocks = form.get("blocks", "0").strip()
    count = min(int(blocks), 32) if blocks.isascii() and blocks.isdigit() else 0
    for index in range(count):
        if op == f"remove.{index}":
            continue
        name = form.get(f"f.{index}.block", "")
        params_model = _block_params(name)
        # A block changed in its menu starts from its own defaults, not the old block's values.
        same = form.get(f"f.{index}.was") == name
        params = (
            read_values(params_model, f"f.{index}", form, errors) if params_model and same else {}
        )
        features.append({"name": name, "params": params})
    if op == "add" and form.get("new_block"):
        features.append({"name": form["new_block"], "params": {}})
    recipe = {
        "name": form.get("name", "").strip(),
        "input": input_values,
        "features": features,
        "learner": _learner_from_form(form, "l", errors),
    }
    anomaly = _learner_from_form(form, "a", errors)
    if anomaly["name"]:  # none chosen: the recipe has no anomaly learner
        recipe["anomaly"] = anomaly
    # Field numbers shift when a block is removed or added: errors only for a plain check.
    return build(
        recipe,
        errors if op in ("", "check", "explore") else {},
        check=op not in ("add",) and not op.startswith("remove"),
    )


def _learner_from_form(form: Form, prefix: str, errors: dict[str, str]) -> dict[str, Any]:
    """The learner (`l`) or anomaly learner (`a`) section as recipe data."""
    name = form.get(f"{prefix}.name", "")
    model = _learner_params(name)
    same = form.get(f"{prefix}.was") == name
    params = read_values(model, prefix, form, errors) if model and same else {}
    if model is not None:
        given = set(form.get(f"{prefix}.given", "").split(","))
        params = _without_defaults(model, params, given)
    return {"name": name, "params": params}


def _learner_section(
    title: str,
    prefix: str,
    learner: dict[str, Any],
    errors: dict[str, str],
    check: bool,
    optional: bool = False,
) -> Section:
    """The learner's section, or the anomaly learner's (`optional`: none chosen is fine)."""
    model = _learner_params(learner.get("name", ""))
    if model is None:
        problem = None if optional and not learner.get("name") else "choose a learner"
        return Section(title, prefix, learner.get("name"), [], problem)
    params = learner.get("params") or {}
    general = _check(model, prefix, params, errors) if check else None  # before the fields
    fields = fields_for(model, prefix, params, errors)
    return Section(title, prefix, learner["name"], fields, general, given=",".join(params))


def build(
    recipe: dict[str, Any], errors: dict[str, str] | None = None, check: bool = True
) -> Editor:
    """The editor for recipe data (a template, a model's recipe, or a submitted form)."""
    errors = dict(errors or {})
    source = recipe.get("input") or {}
    general_input = _check(InputSpec, "in", source, errors) if check else None
    sections = [
        Section("Input", "in", None, fields_for(InputSpec, "in", source, errors), general_input)
    ]
    for index, block in enumerate(recipe.get("features") or []):
        prefix = f"f.{index}"
        params_model = _block_params(block.get("name", ""))
        if params_model is None:
            sections.append(
                Section(
                    f"Block {index + 1}",
                    prefix,
                    block.get("name"),
                    [],
                    f"unknown block {block.get('name')!r}",
                )
            )
            continue
        params = block.get("params") or {}
        general = _check(params_model, prefix, params, errors) if check else None
        sections.append(
            Section(
                f"Block {index + 1}",
                prefix,
                block["name"],
                fields_for(params_model, prefix, params, errors),
                general,
            )
        )
    sections.append(_learner_section("Learner", "l", recipe.get("learner") or {}, errors, check))
    anomaly = recipe.get("anomaly") or {}
    sections.append(_learner_section("Anomaly learner", "a", anomaly, errors, check, optional=True))
    editor = Editor(name=str(recipe.get("name") or ""), sections=sections, recipe=recipe)
    if not check:
        return editor
    if errors or any(section.error for section in sections):
        editor.problem = "fix the fields marked below"
        return editor
    try:
        resolved = validate(
            Recipe.model_validate({k: v for k, v in recipe.items() if v is not None})
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        editor.problem = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        return editor
    except InvalidInput as exc:
        editor.problem = str(exc)
        return editor
    editor.canonical = yaml.safe_dump(
        resolved.model_dump(mode="json", exclude_none=True), sort_keys=False
    )
    editor.digest = recipe_hash(resolved)
    return editor
