"""Signing in, the layout, the project switcher and role checks, in a real browser."""

import re
from typing import Any

import httpx
import pytest
from tests.ui.conftest import PASSWORD, PROJECT, Studio, sign_in, user_of

pytestmark = pytest.mark.browser


def test_sign_in_lands_on_data_with_every_section(studio: Studio, browser: Any, shoot: Any) -> None:
    context = browser.new_context(base_url=studio.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto("/projects/motions/models")
    assert "/login" in page.url  # no session: sent to sign in, then back where it was going
    sign_in(page, user_of("admin"), "not the password at all", navigate=False)
    assert page.get_by_role("alert").inner_text() == "wrong user name or password"
    sign_in(page, user_of("admin"), navigate=False)
    page.wait_for_url("**/projects/motions/models")
    nav = page.get_by_role("navigation", name="Sections")
    titles = nav.get_by_role("link").all_inner_texts()
    assert titles == [
        "Data", "Features", "Models", "Fleet", "Monitoring", "Automation", "Governance",
    ]  # fmt: skip
    cookie = next(c for c in context.cookies() if c["name"] == "edgeops_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    shoot(page, "data")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.goto("/projects/motions/data")
    assert "/login" in page.url
    context.close()


def test_project_switcher_keeps_the_section(page_as: Any) -> None:
    page = page_as("viewer")
    page.goto(f"/projects/{PROJECT}/models")
    page.get_by_label("Project").select_option("spare")
    page.wait_for_url("**/projects/spare/models")
    assert page.get_by_role("link", name="Models").get_attribute("aria-current") == "page"


def test_viewer_sees_only_what_the_role_allows(page_as: Any, shoot: Any) -> None:
    page = page_as("viewer", width=820, height=1180)  # a tablet, portrait
    page.goto(f"/projects/{PROJECT}/data")
    titles = page.get_by_role("navigation", name="Sections").get_by_role("link").all_inner_texts()
    assert "Governance" not in titles and "Data" in titles  # the audit log is admins' only
    answer = page.goto(f"/projects/{PROJECT}/governance")
    assert answer is not None and answer.status == 403
    assert "does not allow" in page.get_by_role("alert").inner_text()
    shoot(page, "tablet-403")


def test_forged_posts_are_refused(studio: Studio, page_as: Any) -> None:
    """A viewer's valid session and CSRF token still cannot create a project (403), and an
    admin's post without the token is refused too."""
    viewer = page_as("viewer")
    viewer.goto(f"/projects/{PROJECT}/data")
    token = viewer.locator("input[name=csrf]").first.get_attribute("value")
    answer = viewer.request.post("/projects", form={"csrf": token, "name": "forged"})
    assert answer.status == 403
    admin = page_as("admin")
    admin.goto(f"/projects/{PROJECT}/data")
    no_token = admin.request.post("/projects", form={"name": "forged"})
    assert no_token.status == 403
    assert "security token" in no_token.text()
    with studio.workspace() as ws:
        assert "forged" not in [p.name for p in ws.projects.list()]


def test_tampered_cookie_is_no_session(studio: Studio, page_as: Any) -> None:
    page = page_as("viewer")
    cookie = next(c for c in page.context.cookies() if c["name"] == "edgeops_session")
    payload, signature = cookie["value"].split(".")
    forged = re.sub(r"[0-9a-f]$", lambda m: "0" if m.group() != "0" else "1", signature)
    answer = httpx.get(
        f"{studio.url}/projects/{PROJECT}/data",
        cookies={"edgeops_session": f"{payload}.{forged}"},
    )
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_sign_in_never_redirects_off_site(studio: Studio) -> None:
    with httpx.Client(base_url=studio.url) as client:
        form = client.get("/login")
        nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
        assert nonce is not None
        answer = client.post("/login", data={
            "name": user_of("viewer"), "password": PASSWORD, "nonce": nonce.group(1),
            "next": "//evil.example/phish",
        })  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/"


def test_a_disabled_user_is_signed_out(studio: Studio) -> None:
    from sqlalchemy import update

    from edgeops.server.ui import session
    from edgeops.store.tables import User

    with studio.workspace() as ws:
        user = ws.users.create("leaver", PASSWORD, "viewer")
        cookie = session.encode(session.load_secret(studio.home), user.name, user.password_hash)
        page = f"{studio.url}/projects/{PROJECT}/data"
        assert httpx.get(page, cookies={session.COOKIE: cookie}).status_code == 200
        with ws.session() as db:
            db.execute(update(User).where(User.name == "leaver").values(disabled=True))
            db.commit()
    answer = httpx.get(page, cookies={session.COOKIE: cookie})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
