"""The governance pages in a real browser: the audit log paged and its chain verified (and a
tampered event caught), a data subject erased by an admin with the certificate shown, and a
fairness report by watch; an operator's forged erasure is refused."""

from typing import Any

import numpy as np
import pytest
from sqlalchemy import select, update
from tests.ui.conftest import Studio
from tests.ui.studio_seed import FIELD, trained_model

from edgeops.data.formats.ei import sign_ei
from edgeops.demo import HMAC_KEY, SENSORS
from edgeops.store.tables import AuditEvent, Sample

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # trains a model once (~10 s)

SUBJECT = "participant-7"


def _subject_recordings(studio: Studio, count: int = 2, start: int = 0) -> None:
    """Recordings of one consenting participant, committed into a new dataset version."""
    folder = studio.home.parent / "participant"
    folder.mkdir(exist_ok=True)
    paths = []
    for index in range(start, start + count):
        values = np.random.default_rng(index + 100).normal(size=(50, 6)).round(4)
        payload = {"device_name": "watch-9", "device_type": "watch", "interval_ms": 100,
                   "sensors": SENSORS, "values": values.tolist()}  # fmt: skip
        path = folder / f"walking.p7-{index}.json"
        path.write_bytes(sign_ei(payload, HMAC_KEY))
        paths.append(path)
    with studio.workspace() as ws:
        ws.data.import_files(paths, project=FIELD, hmac_key=HMAC_KEY, subject_id=SUBJECT)
        ws.data.commit("with participant 7", project=FIELD)


def _subject_samples(studio: Studio) -> int:
    with studio.workspace() as ws, ws.session() as session:
        return len(session.scalars(select(Sample.id).where(Sample.subject_id == SUBJECT)).all())


@pytest.fixture(scope="module")
def field(studio: Studio) -> str:
    model = trained_model(studio.home)
    _subject_recordings(studio)
    return model


def test_audit_log_pages_and_its_chain_verifies(studio: Studio, field: str, page_as: Any) -> None:
    page = page_as("admin")
    page.goto(f"/projects/{FIELD}/governance?scope=all&size=4")
    first = page.locator("#audit-events tbody tr").all()
    assert len(first) == 4  # a page
    newest = [int(row.get_attribute("data-event") or 0) for row in first]
    assert newest == sorted(newest, reverse=True)
    page.get_by_role("link", name="Older events").click()
    older = int(page.locator("#audit-events tbody tr").first.get_attribute("data-event") or 0)
    assert older < newest[-1] and page.get_by_role("link", name="Newest").is_visible()
    page.get_by_role("button", name="Verify the chain").click()
    assert "audit chain intact" in page.get_by_role("status").inner_text()

    # Someone edits an event in the database: the studio's check names it.
    with studio.workspace() as ws, ws.session() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.project_id.is_not(None))
                                .order_by(AuditEvent.id).limit(1)).one()  # fmt: skip
        event_id, original = event.id, event.target
        session.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(target="x"))
        session.commit()
    try:
        page.goto(f"/projects/{FIELD}/governance")
        page.get_by_role("button", name="Verify the chain").click()
        alert = page.get_by_role("alert").inner_text()
        assert f"event {event_id}: its contents do not match its hash" in alert
    finally:
        with studio.workspace() as ws, ws.session() as session:
            session.execute(
                update(AuditEvent).where(AuditEvent.id == event_id).values(target=original)
            )
            session.commit()


def test_admin_erases_a_subject_and_sees_the_certificate(
    studio: Studio, field: str, page_as: Any, shoot: Any
) -> None:
    assert _subject_samples(studio) == 2
    page = page_as("admin")
    page.goto(f"/projects/{FIELD}/governance")
    page.get_by_label("Subject id").fill(SUBJECT)
    page.get_by_label("Reason (for the certificate)").fill("request #42")
    page.get_by_label("Erase every sample").check()
    page.get_by_role("button", name="Erase subject").click()
    page.wait_for_url("**/governance/erasures/*")
    assert "2 samples of the subject erased" in page.get_by_role("status").inner_text()
    facts = page.get_by_role("region", name="What was erased").inner_text()
    assert "user:admin-user" in facts and "request #42" in facts
    assert SUBJECT not in page.content()  # only its hash is kept
    shoot(page, "certificate")
    assert _subject_samples(studio) == 0
    page.get_by_role("link", name="← Governance").click()
    listed = page.get_by_role("region", name="Erasure requests").inner_text()
    assert "user:admin-user" in listed


def test_fairness_report_by_watch(studio: Studio, field: str, page_as: Any, shoot: Any) -> None:
    page = page_as("ml-engineer")  # models.read: no audit log, but fairness reports
    page.goto(f"/projects/{FIELD}/monitoring")
    page.get_by_role("link", name="Fairness reports →").click()
    page.get_by_label("Model").select_option(field)
    page.get_by_label("Group by").select_option("device_id")
    page.set_default_timeout(60_000)  # the server's first report loads fairlearn (~10 s)
    page.get_by_role("button", name="Report").click()
    page.set_default_timeout(15_000)
    verdict = page.locator("[data-passed]")
    assert verdict.inner_text() in ("passes", "fails")
    groups = page.locator("#fairness-groups tbody tr").all()
    assert [g.get_attribute("data-group") for g in groups] == [f"watch-{n}" for n in range(1, 5)]
    charts = page.get_by_role("region", name="Per group").get_by_role("img")
    assert charts.count() == 2 and "accuracy per device_id" in (
        charts.first.get_attribute("aria-label") or ""
    )
    shoot(page, "fairness")
    with studio.workspace() as ws:
        report = ws.governance.fairness(field, "device_id", project=FIELD)
    assert verdict.inner_text() == ("passes" if report["passed"] else "fails")


def test_operator_cannot_erase_even_by_forging(studio: Studio, field: str, page_as: Any) -> None:
    _subject_recordings(studio, count=1, start=10)
    before = _subject_samples(studio)
    page = page_as("operator")
    answer = page.goto(f"/projects/{FIELD}/governance")
    assert answer is not None and answer.status == 403
    page.goto(f"/projects/{FIELD}/fleet")
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(
        f"/projects/{FIELD}/governance/erasures",
        form={"csrf": token, "subject": SUBJECT, "confirm": "yes"},
    )
    assert forged.status == 403
    assert _subject_samples(studio) == before >= 1
