"""Features and Models in a real browser: edit a recipe with validation messages, explore its
features, train it through the job queue with live progress, see the confusion matrix, set an
alias, build for a target with its footprint, compare versions; and what a viewer may not do."""

from typing import Any

import pytest
import yaml
from tests.ui.conftest import PROJECT, Studio

from edgeops.demo import NN_LEARNER, RECIPE, TREES_LEARNER

pytestmark = pytest.mark.browser
FEATURES = f"/projects/{PROJECT}/features"
MODELS = f"/projects/{PROJECT}/models"
# The editor lists the registered blocks and learners: the first page in a server process loads
# them (and with the network learners, PyTorch), which takes a while on a busy machine.
FIRST_LOAD_MS = 90_000


def _quick_recipe(page: Any) -> None:
    """From the editor's starting recipe (fitted to the data: 6 axes at 10 Hz), the settings
    that suit 10-second recordings, and a fast learner."""
    page.get_by_label("window ms").fill("5000")
    page.get_by_label("stride ms").fill("2500")
    page.get_by_label("fft length").fill("32")
    page.get_by_label("Learner", exact=True).select_option("trees")
    page.get_by_role("button", name="Check recipe").click()  # the form now shows trees' params


def _trained(studio: Studio, max_depth: int) -> str:
    """A model trained next to the server (same workspace), for pages that need several."""
    recipe = yaml.safe_load(RECIPE.replace(NN_LEARNER, TREES_LEARNER))
    recipe["learner"]["params"]["max_depth"] = max_depth
    from edgeops.recipes.spec import Recipe

    with studio.workspace() as ws:
        return f"v{ws.train(Recipe.model_validate(recipe), project=PROJECT).number}"


@pytest.mark.slow
def test_recipe_editor_shows_validation_by_the_field(page_as: Any, shoot: Any) -> None:
    page = page_as("viewer")  # reading and checking recipes needs no write permission
    page.goto(FEATURES, timeout=FIRST_LOAD_MS)
    assert page.get_by_label("axes").input_value() == "[accX, accY, accZ, gyrX, gyrY, gyrZ]"
    _quick_recipe(page)
    page.get_by_label("bands").fill("99")
    page.get_by_role("button", name="Check recipe").click()
    assert page.get_by_role("alert").first.inner_text() == "fix the fields marked below"
    bands = page.get_by_label("bands")
    assert bands.get_attribute("aria-invalid") == "true"
    assert "less than or equal to 64" in page.locator("[id='f.0.bands-error']").inner_text()
    shoot(page, "invalid")
    bands.fill("4")
    page.get_by_role("button", name="Check recipe").click()
    assert page.get_by_role("status").inner_text().startswith("Recipe is valid")
    assert page.get_by_role("button", name="Train this recipe").count() == 0  # a viewer
    page.get_by_role("button", name="Explore features").click()
    explorer = page.get_by_role("img", name="2-D projection")
    assert explorer.is_visible()
    assert "silhouette per label: " in (explorer.get_attribute("alt") or "")
    assert page.get_by_role("cell", name="walking").is_visible()
    shoot(page, "explorer")


@pytest.mark.slow
def test_train_from_the_editor_and_see_the_confusion_matrix(
    studio: Studio, page_as: Any, shoot: Any
) -> None:
    page = page_as("data-scientist")
    page.goto(FEATURES, timeout=FIRST_LOAD_MS)
    _quick_recipe(page)
    page.get_by_label("max depth").fill("5")
    page.get_by_role("button", name="Check recipe").click()
    page.get_by_role("button", name="Train this recipe").click()
    page.wait_for_url("**/models/runs/*")
    assert page.get_by_role("status").first.inner_text() == "training queued"
    # The page polls the run: the link to the model appears without a reload.
    page.get_by_role("link", name="Open model").wait_for(timeout=120_000)
    assert page.locator("#run-status").inner_text() == "succeeded"
    shoot(page, "run")
    page.get_by_role("link", name="Open model").click()
    matrix = page.get_by_role("img", name="Confusion matrix")
    assert matrix.is_visible()
    model = page.url.rsplit("/", 1)[1]
    with studio.workspace() as ws:
        labels = ws.models.show(model, project=PROJECT)["labels"]
    assert len(labels) >= 4 and matrix.locator("rect").count() == len(labels) ** 2
    shoot(page, "model")

    page.get_by_label("Point alias").select_option("staging")
    page.get_by_role("button", name="Set alias").click()
    assert "staging now points at" in page.get_by_role("status").inner_text()
    with studio.workspace() as ws:
        assert "staging" in ws.models.show(model, project=PROJECT)["aliases"]

    page.get_by_role("link", name="Model card").click()
    assert page.get_by_role("heading", name="Lineage").is_visible()


@pytest.mark.slow
def test_build_shows_footprint_and_downloads(studio: Studio, page_as: Any, shoot: Any) -> None:
    model = _trained(studio, max_depth=4)
    page = page_as("ml-engineer")
    page.goto(f"{MODELS}/{model}")
    page.get_by_label("Target").select_option("c")
    page.get_by_role("button", name="Build").click()
    page.wait_for_url("**/models/runs/*")
    page.locator("#run-status", has_text="succeeded").wait_for(timeout=120_000)
    page.goto(f"{MODELS}/{model}")
    row = page.locator("tr", has=page.get_by_role("cell", name="c", exact=True))
    cells = row.locator("td").all_inner_texts()
    assert cells[2].endswith(" B") and int(cells[2][:-2].replace(",", "")) > 0  # flash
    assert "ms" in cells[4]  # estimated latency
    shoot(page, "builds")
    link = row.get_by_role("link", name="Download")
    archive = page.request.get(link.get_attribute("href") or "")
    assert archive.status == 200 and archive.body()[:2] == b"PK"


@pytest.mark.slow
def test_compare_two_versions(studio: Studio, page_as: Any, shoot: Any) -> None:
    first, second = _trained(studio, max_depth=2), _trained(studio, max_depth=3)
    page = page_as("viewer")
    page.goto(MODELS)
    page.get_by_label("Compare", exact=True).select_option(first)
    page.get_by_label("with", exact=True).select_option(second)
    page.get_by_role("button", name="Compare").click()
    assert page.get_by_role("heading", name=f"{first} compared with {second}").is_visible()
    assert page.get_by_role("cell", name="testing.accuracy").is_visible()
    assert page.get_by_role("img", name="Confusion matrix").count() == 2
    shoot(page, "compare")


@pytest.mark.slow
def test_viewer_sees_no_model_actions_and_forged_ones_fail(studio: Studio, page_as: Any) -> None:
    model = _trained(studio, max_depth=2)
    page = page_as("viewer")
    page.goto(f"{MODELS}/{model}")
    for name in ("Set alias", "Build", "Retrain on the newest data"):
        assert page.get_by_role("button", name=name).count() == 0
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(
        f"{MODELS}/{model}/alias", form={"csrf": token, "alias": "production"}
    )
    assert forged.status == 403
    train = page.request.post(f"{MODELS}/train", form={"csrf": token, "recipe": RECIPE})
    assert train.status == 403
    with studio.workspace() as ws:
        assert "production" not in ws.models.show(model, project=PROJECT)["aliases"]
