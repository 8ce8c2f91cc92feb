"""The monitoring page in a real browser: four days of a model's telemetry drawn as drift per
day (SVG), the drift now per feature, and a drift alert that an operator acknowledges; a
viewer sees no acknowledge button and a forged one is refused."""

from typing import Any

import pytest
from tests.ui.conftest import Studio
from tests.ui.studio_seed import FIELD, drifting_telemetry, trained_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # trains a model once (~10 s)


@pytest.fixture(scope="module")
def drift_alert(studio: Studio) -> int:
    """A model with drifting telemetry and the alert its monitor raised."""
    model = trained_model(studio.home)
    drifting_telemetry(studio, model)
    with studio.workspace() as ws:
        ws.monitoring.add_monitor("field-drift", model=model, window="24h", project=FIELD)
        [result] = ws.monitoring.check(project=FIELD, monitor="field-drift")
        [alert_id] = result["alerts"]
        return int(alert_id)


def test_drift_charts_and_acknowledging_an_alert(
    studio: Studio, drift_alert: int, page_as: Any, shoot: Any
) -> None:
    page = page_as("operator")
    page.goto(f"/projects/{FIELD}/monitoring?days=5")
    over_time = page.get_by_role("region", name="Drift over time")
    chart = over_time.get_by_role("img")
    assert "drift per day" in (chart.get_attribute("aria-label") or "")
    assert chart.locator("polyline").count() == 7  # six features and the threshold line
    counts = over_time.locator(".badge").all_inner_texts()
    assert [c.split(": ")[1] for c in counts] == ["0", "150", "150", "150", "150"]
    now = page.get_by_role("region", name="Drift now")
    assert "(150 rows in the last 24 h)" in now.inner_text()
    drifting = page.locator("#feature-drift tr:has(.badge.bad) td:first-child").all_inner_texts()
    assert set(drifting) == {"flatten.0", "flatten.1", "flatten.2"}  # the three shifted ones
    assert now.get_by_role("img").locator("rect").count() >= 12  # the per-feature bars
    reporting = page.locator("#devices-reporting tr[data-device]")
    assert {r.get_attribute("data-device") for r in reporting.all()} == {"watch-1", "watch-2"}
    alert = page.locator(f"tr[data-alert='{drift_alert}']")
    assert "data drift in 3 of 24 features" in alert.inner_text()
    shoot(page, "drift")
    alert.get_by_role("button", name="Acknowledge").click()
    page.get_by_role("status").get_by_text(f"alert {drift_alert} acknowledged").wait_for()
    status = page.locator(f"tr[data-alert='{drift_alert}'] [data-status]")
    assert status.get_attribute("data-status") == "acknowledged"
    assert "by user:operator-user" in status.inner_text()
    assert page.locator(f"tr[data-alert='{drift_alert}']").get_by_role("button").count() == 0
    with studio.workspace() as ws:
        [event] = ws.audit.events(project=FIELD, action="alert.ack")
        assert event.actor == "user:operator-user" and event.target == f"alert:{drift_alert}"


def test_viewer_cannot_acknowledge(studio: Studio, drift_alert: int, page_as: Any) -> None:
    with studio.workspace() as ws:
        ws.monitoring.check(project=FIELD, monitor="field-drift")  # still drifting
        before = {a["id"]: a["status"] for a in ws.monitoring.alerts(project=FIELD, status=None)}
    page = page_as("viewer")
    page.goto(f"/projects/{FIELD}/monitoring?alerts=all")
    assert page.locator(f"tr[data-alert='{drift_alert}']").is_visible()
    assert page.get_by_role("button", name="Acknowledge").count() == 0
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    for alert_id in before:
        url = f"/projects/{FIELD}/monitoring/alerts/{alert_id}/ack"
        assert page.request.post(url, form={"csrf": token}).status == 403
    with studio.workspace() as ws:
        after = {a["id"]: a["status"] for a in ws.monitoring.alerts(project=FIELD, status=None)}
    assert after == before
