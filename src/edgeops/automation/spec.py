"""The workflow spec: steps wired by `${step.output}` references, triggers, conditions; loaded
from YAML, validated, and versioned by the hash of its canonical JSON (like recipes)."""

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edgeops.automation import cron
from edgeops.automation.catalog import STEP_TYPES
from edgeops.errors import InvalidInput
from edgeops.monitoring.service import parse_duration
from edgeops.recipes.spec import _first_error, load_recipe, load_recipe_file

MAX_WORKFLOW_BYTES = 1_000_000
NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# `${step.output}` or `${trigger.field}`; a whole-string reference keeps the value's type.
REFERENCE = re.compile(r"\$\{\s*([a-z0-9_-]+)\.([a-z0-9_]+)\s*\}")
CONDITION = re.compile(r"^\s*(not\s+)?(\$\{[^}]+\})\s*(?:(==|!=|>=|<=|>|<)\s*(.+?))?\s*$")
TriggerKind = Literal["manual", "schedule", "data", "code", "alert"]
SEVERITIES = ("info", "warning", "critical")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)


class TriggerSpec(_Spec):
    """What starts a run. schedule: `cron` in `timezone`. data: `new_samples` (at least this
    many samples since the last run) and/or `new_version` (a new dataset version), after
    `debounce` of quiet. code: a change of the workflow, its recipes or their blocks' versions
    (also a git webhook). alert: a monitor alert of `kind` (any if unset) at or above
    `severity`."""

    type: TriggerKind
    cron: str | None = None
    timezone: str = "UTC"
    new_samples: int | None = Field(None, ge=1)
    new_version: bool = False
    debounce: str = "0s"
    kind: str | None = Field(None, max_length=32)
    severity: Literal["info", "warning", "critical"] = "warning"

    @model_validator(mode="after")
    def _fits_kind(self) -> "TriggerSpec":
        if self.type == "schedule":
            if self.cron is None:
                raise ValueError("a schedule trigger needs cron, e.g. '0 3 * * *'")
            cron.parse(self.cron)
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {self.timezone!r}") from None
        elif self.cron is not None:
            raise ValueError("cron applies to schedule triggers only")
        if self.type == "data" and self.new_samples is None and not self.new_version:
            raise ValueError("a data trigger needs new_samples: N and/or new_version: true")
        if self.type != "data" and (self.new_samples is not None or self.new_version):
            raise ValueError("new_samples and new_version apply to data triggers only")
        parse_duration(self.debounce, "debounce")
        return self


class StepSpec(_Spec):
    """One step: a built-in `type`, its parameters (`with`, values may reference earlier
    steps' outputs as `${step.output}`), extra ordering (`needs`), a condition (`when`, e.g.
    `${gate.passed}` or `${evaluate.accuracy} >= 0.9`) and how often to retry a failure.
    Without `needs` a step follows the one above it; `needs: []` lets it start as soon as the
    steps it references are done (in parallel with others)."""

    id: str = Field(pattern=NAME)
    type: str
    params: dict[str, Any] = Field(default_factory=dict, alias="with")
    needs: list[str] | None = Field(None, max_length=64)
    when: str | None = Field(None, max_length=500)
    retries: int = Field(2, ge=0, le=20)


class WorkflowSpec(_Spec):
    name: str = Field(pattern=NAME)
    description: str = Field("", max_length=2000)
    concurrency: int = Field(1, ge=1, le=100, description="runs of this workflow at a time")
    triggers: list[TriggerSpec] = Field(default_factory=lambda: [TriggerSpec(type="manual")])
    steps: list[StepSpec] = Field(min_length=1, max_length=100)


def references(value: Any) -> list[tuple[str, str]]:
    """Every `${source.field}` inside a parameter value (strings, lists, mappings)."""
    if isinstance(value, str):
        return REFERENCE.findall(value)
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in references(item)]
    return []


def dependencies(step: StepSpec, previous: str | None) -> list[str]:
    """The steps `step` waits for: named in `needs` (default: the step above it) or referenced
    by its params or condition."""
    found = list(step.needs) if step.needs is not None else ([previous] if previous else [])
    for source, _ in references(step.params) + references(step.when or ""):
        if source != "trigger" and source not in found:
            found.append(source)
    return found


def _check(spec: WorkflowSpec) -> WorkflowSpec:
    seen: dict[str, StepSpec] = {}
    for index, step in enumerate(spec.steps):
        where = f"steps[{index}] ({step.id})"
        if step.id in seen or step.id == "trigger":
            raise InvalidInput(f"{where}: step id {step.id!r} is used twice or reserved")
        step_type = STEP_TYPES.get(step.type)
        if step_type is None:
            raise InvalidInput(
                f"{where}: unknown step type {step.type!r}: use one of {', '.join(STEP_TYPES)}"
            )
        if step_type.unavailable:
            raise InvalidInput(f"{where}: step type {step.type!r} {step_type.unavailable}")
        fields = step_type.params.model_fields
        unknown = sorted(set(step.params) - set(fields))
        if unknown:
            raise InvalidInput(
                f"{where}.with: unknown parameter {unknown[0]!r} for {step.type} "
                f"(known: {', '.join(fields) or 'none'})"
            )
        missing = [n for n, f in fields.items() if f.is_required() and n not in step.params]
        if missing:
            raise InvalidInput(f"{where}.with: {step.type} needs {missing[0]!r}")
        for source, output in references(step.params) + references(step.when or ""):
            if source == "trigger":
                continue
            if source not in seen:
                raise InvalidInput(
                    f"{where}: ${{{source}.{output}}} names no earlier step "
                    "(steps may only use the outputs of steps above them)"
                )
            outputs = STEP_TYPES[seen[source].type].outputs
            if output not in outputs:
                raise InvalidInput(
                    f"{where}: step {source!r} ({seen[source].type}) has no "
                    f"output {output!r} (it has {', '.join(outputs)})"
                )
        for need in step.needs or []:
            if need not in seen:
                raise InvalidInput(f"{where}.needs: {need!r} is not an earlier step")
        if step.when is not None and not CONDITION.match(step.when):
            raise InvalidInput(
                f"{where}.when: expected '${{step.output}}', 'not ${{…}}' or "
                f"'${{step.output}} >= 0.9', got {step.when!r}"
            )
        seen[step.id] = step
    return spec


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise InvalidInput("workflow: YAML aliases (*name) are not allowed")
        return super().compose_node(parent, index)


def _inline_recipes(data: Any, folder: Path | None) -> Any:
    """A step's `recipe: file.yaml` becomes the recipe itself, so that the stored workflow (and
    its hash) holds everything a run needs and a changed recipe file is a new version."""
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        return data
    for index, step in enumerate(data["steps"]):
        params = step.get("with") if isinstance(step, dict) else None
        recipe = params.get("recipe") if isinstance(params, dict) else None
        if isinstance(recipe, str) and not REFERENCE.search(recipe):
            if folder is None:
                raise InvalidInput(
                    f"steps[{index}].with.recipe: give the recipe inline (a "
                    "mapping); a file name needs a workflow file"
                )
            path = (folder / recipe).resolve()
            load_recipe_file(path)
            assert isinstance(params, dict)
            params["recipe"] = yaml.safe_load(path.read_text())
        elif isinstance(recipe, dict):
            try:
                load_recipe(json.dumps(recipe), "json")
            except InvalidInput as exc:
                raise InvalidInput(f"steps[{index}].with.recipe: {exc}") from None
    return data


def parse(data: Any, folder: Path | None = None) -> WorkflowSpec:
    """Validate plain data as a workflow (recipe files named relative to `folder`)."""
    if not isinstance(data, dict):
        raise InvalidInput("workflow: expected a mapping with name, triggers and steps")
    data = _inline_recipes(data, folder)
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        raise _first_error(exc, "", data) from None
    except InvalidInput as exc:
        raise InvalidInput(f"workflow: {exc}") from None
    return _check(spec)


def load(text: str, folder: Path | None = None) -> WorkflowSpec:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_WORKFLOW_BYTES:
        raise InvalidInput(f"workflow is larger than {MAX_WORKFLOW_BYTES} bytes")
    try:
        data = yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"workflow is not valid YAML: {' '.join(str(exc).split())}") from None
    return parse(data, folder)


def load_file(path: Path) -> WorkflowSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"cannot read workflow {path}: {exc}") from None
    try:
        return load(text, path.parent)
    except InvalidInput as exc:
        raise InvalidInput(f"{path.name}: {exc}") from None


def canonical_data(spec: WorkflowSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True)


def version_of(spec: WorkflowSpec) -> str:
    """SHA-256 of the canonical JSON: the workflow's version."""
    text = json.dumps(canonical_data(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def triggers_of(spec: WorkflowSpec, kind: str) -> list[TriggerSpec]:
    return [trigger for trigger in spec.triggers if trigger.type == kind]
