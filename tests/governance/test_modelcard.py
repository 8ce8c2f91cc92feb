import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.governance.test_fairness import write_project
from typer.testing import CliRunner

from edgeops.cli.main import app
from edgeops.governance.modelcard import model_card, to_html, to_markdown
from edgeops.targets.service import build
from edgeops.workspace import Workspace


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """v1 on the biased sites project, built for C and released; v2 follows v1, unbuilt."""
    folder = tmp_path_factory.mktemp("card")
    ws, recipe = write_project(folder, biased=True)
    ws.train(recipe, seed=1)
    ws.train(recipe, seed=2, parent="v1")
    build(ws, "v1", "c", folder / "build-c")
    ws.fleet.signing_init()
    ws.fleet.create_release("smartwatch", "1.0.0", {"model.bin": b"weights"}, model="v1")
    yield ws
    ws.close()


def test_card_states_lineage_data_metrics_and_limits(trained: Workspace) -> None:
    card = model_card(trained, "v2", intended_use="Coaching <only>, not medical use.")
    facts = trained.models.show("v2")
    version = trained.data.version(facts["dataset_version"])
    markdown = to_markdown(card)
    assert markdown.startswith("# Model card: basic-motions v2 (fair)")
    assert "Coaching <only>, not medical use." in markdown
    assert f"`{version.id}`" in markdown and f"`{facts['recipe_hash']}`" in markdown
    assert f"edgeops {facts['edgeops_version']}, seed 2" in markdown
    assert "Parent model: v1" in markdown
    for label, by in version.counts["labels"].items():
        assert f"| {label} | {by['training']} | {by['testing']} |" in markdown
    # Per-group metrics come from the model's own testing metrics.
    site = facts["metrics"]["testing"]["groups"]["site"]
    assert f"| b | {site['b']['windows']} | {site['b']['accuracy']:.1%} |" in markdown
    assert "Small test set (24 windows)" in markdown
    assert "Not built for a device yet" in markdown
    assert "Not released to the fleet." in markdown
    page = to_html(card)
    assert "Coaching &lt;only&gt;" in page and "<only>" not in page


def test_card_lists_builds_and_releases(trained: Workspace) -> None:
    card = model_card(trained, "v1")
    builds, releases = card["facts"]["builds"], card["facts"]["releases"]
    assert [(b["target"], b["archive_bytes"] > 0) for b in builds] == [("c", True)]
    assert [(r["device_type"], r["version"]) for r in releases] == [("smartwatch", "1.0.0")]
    markdown = to_markdown(card)
    assert f"| c | {builds[0]['precision']} | {builds[0]['archive_bytes']} | not verified |" in (
        markdown
    )
    assert "| smartwatch | 1.0.0 |" in markdown
    assert "Not built for a device yet" not in markdown
    assert "Recipe 'basic-motions': classify timeseries windows as one of" in markdown
    assert trained.governance.model_card("v1")["facts"]["builds"] == builds  # the SDK's way


def test_cli_writes_markdown_html_and_json(trained: Workspace, tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(trained.settings.home)]
    out = tmp_path / "cards" / "v1.md"
    result = runner.invoke(
        app, [*home, "report", "model-card", "v1", "-o", str(out), "--html", "--by", "site"]
    )
    assert result.exit_code == 0, result.output
    assert "## Fairness by site" in out.read_text()
    assert "<h2>Fairness by site</h2>" in out.with_suffix(".html").read_text()
    result = runner.invoke(app, [*home, "report", "model-card", "v1", "--json"])
    assert json.loads(result.stdout)["lineage"]["parent"] is None
    result = runner.invoke(app, [*home, "report", "model-card", "v9"])
    assert result.exit_code == 2 and "no model v9" in result.stderr
