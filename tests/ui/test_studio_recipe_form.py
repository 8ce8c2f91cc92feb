"""The recipe editor's form: generated from the parameter schemas, read back typed, errors by
the field, blocks added, removed and switched. No browser needed."""

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeops.demo import NN_LEARNER, RECIPE, TREES_LEARNER
from edgeops.recipes.spec import load_recipe, recipe_hash
from edgeops.server.ui import recipe_form

DEMO = yaml.safe_load(RECIPE.replace(NN_LEARNER, TREES_LEARNER))


def _as_form(editor: recipe_form.Editor) -> dict[str, str]:
    """What a browser submits for the editor as rendered (menus, hidden fields, inputs)."""
    form = {"name": editor.name, "blocks": str(len(editor.recipe["features"]))}
    for section in editor.sections:
        if section.prefix.startswith("f."):
            form[f"{section.prefix}.block"] = form[f"{section.prefix}.was"] = section.name or ""
        elif section.prefix in ("l", "a"):  # the learner, the anomaly learner
            form[f"{section.prefix}.name"] = form[f"{section.prefix}.was"] = section.name or ""
            form[f"{section.prefix}.given"] = section.given
        form.update({field.key: field.value for field in section.fields})
    return form


def test_a_rendered_recipe_reads_back_to_the_same_recipe() -> None:
    editor = recipe_form.build(DEMO)
    assert editor.valid and editor.problem is None
    again = recipe_form.from_form(_as_form(editor))
    assert again.valid
    assert (
        again.digest
        == editor.digest
        == recipe_hash(load_recipe(RECIPE.replace(NN_LEARNER, TREES_LEARNER)))
    )


def test_fields_follow_the_schema() -> None:
    editor = recipe_form.build(DEMO)
    spectral = next(s for s in editor.sections if s.name == "spectral")
    fields = {f.key.rsplit(".", 1)[1]: f for f in spectral.fields}
    assert fields["filter"].kind == "choice" and fields["filter"].choices == ["none", "low", "high"]
    assert fields["bands"].kind == "integer" and fields["bands"].maximum is not None
    assert fields["fft_length"].value == "32"
    learner = next(s for s in editor.sections if s.prefix == "l")
    assert {f.key for f in learner.fields} >= {"l.trees", "l.max_depth"}
    anomaly = next(s for s in editor.sections if s.prefix == "a")
    assert anomaly.name is None and anomaly.fields == [] and anomaly.error is None


def test_the_anomaly_learner_is_kept_added_and_removed() -> None:
    with_anomaly = {**DEMO, "anomaly": {"name": "anomaly-gmm", "params": {"components": 3}}}
    editor = recipe_form.build(with_anomaly)
    assert editor.valid and "anomaly-gmm" in (editor.canonical or "")
    form = _as_form(editor)
    assert form["a.name"] == "anomaly-gmm" and form["a.components"] == "3"
    again = recipe_form.from_form(form)
    assert again.recipe["anomaly"] == {"name": "anomaly-gmm", "params": {"components": 3}}
    assert again.digest == editor.digest
    assert recipe_form.anomaly_learner_names() == ["anomaly-gmm", "anomaly-kmeans"]

    form["a.name"] = ""  # "none" in the menu
    dropped = recipe_form.from_form(form)
    assert dropped.valid and "anomaly" not in dropped.recipe
    assert dropped.digest == recipe_form.build(DEMO).digest

    form["a.name"] = "anomaly-kmeans"  # switched: its own defaults, not the GMM's values
    switched = recipe_form.from_form(form)
    assert switched.valid and switched.recipe["anomaly"] == {"name": "anomaly-kmeans", "params": {}}
    form = _as_form(switched)
    form["a.clusters"] = "0"
    refused = recipe_form.from_form(form, "check")
    assert not refused.valid
    assert next(f for s in refused.sections for f in s.fields if f.key == "a.clusters").error


def test_errors_come_back_next_to_their_field() -> None:
    form = _as_form(recipe_form.build(DEMO))
    form["f.0.bands"] = "99"
    form["l.trees"] = "many"
    editor = recipe_form.from_form(form, "check")
    assert not editor.valid and editor.problem == "fix the fields marked below"
    errors = {f.key: f.error for s in editor.sections for f in s.fields if f.error}
    assert set(errors) == {"f.0.bands", "l.trees"}
    assert "64" in errors["f.0.bands"]
    shown = next(f for s in editor.sections for f in s.fields if f.key == "l.trees")
    assert shown.value == "many"  # what the person typed stays in the field


def test_a_check_across_fields_is_reported_for_the_recipe() -> None:
    form = _as_form(recipe_form.build(DEMO))
    form["in.window_ms"] = "50"  # half a sample at 10 Hz
    editor = recipe_form.from_form(form, "check")
    assert not editor.valid and editor.problem is not None and "window" in editor.problem


def test_add_remove_and_switch_blocks() -> None:
    form = _as_form(recipe_form.build(DEMO))
    added = recipe_form.from_form({**form, "new_block": "raw"}, "add")
    assert [b["name"] for b in added.recipe["features"]] == ["spectral", "flatten", "raw"]
    removed = recipe_form.from_form(form, "remove.0")
    assert [b["name"] for b in removed.recipe["features"]] == ["flatten"]
    switched = recipe_form.from_form({**form, "f.0.block": "raw"}, "check")
    assert switched.recipe["features"][0] == {"name": "raw", "params": {}}  # raw's defaults
    learner = recipe_form.from_form({**form, "l.name": "anomaly-kmeans"}, "check")
    assert learner.recipe["learner"] == {"name": "anomaly-kmeans", "params": {}}


@settings(deadline=None, max_examples=60)
@given(st.dictionaries(st.sampled_from(["f.0.bands", "f.0.filter", "l.trees", "in.axes",
                                         "in.frequency_hz", "f.1.statistics", "blocks"]),
                       st.text(max_size=40)))  # fmt: skip
def test_any_typed_text_gives_an_editor_not_an_exception(changes: dict[str, str]) -> None:
    form = {**_as_form(recipe_form.build(DEMO)), **changes}
    editor = recipe_form.from_form(form, "check")
    assert editor.valid or editor.problem
