"""Accessibility basics on every page of Data, Features and Models, checked in the browser:
every control has a label, every picture a text alternative, landmarks are there, the first
Tab stop is the skip link, and nothing overflows a tablet's width."""

from typing import Any

import pytest
from tests.ui.conftest import PROJECT

pytestmark = pytest.mark.browser

PAGES = [
    f"/projects/{PROJECT}/data",
    f"/projects/{PROJECT}/data/samples/2",
    f"/projects/{PROJECT}/data/versions",
    f"/projects/{PROJECT}/features",
    f"/projects/{PROJECT}/models",
]
# Controls without a name, pictures without a text alternative, as the browser sees them.
PROBLEMS = """() => {
  const unnamed = [...document.querySelectorAll(
      "input:not([type=hidden]), select, textarea, button")]
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                  && !(el.tagName === "BUTTON" && el.textContent.trim()))
    .map(el => el.outerHTML.slice(0, 80));
  const unlabelledImages = [...document.querySelectorAll("img, svg")]
    .filter(el => el.tagName === "IMG" ? !el.getAttribute("alt")
                  : !(el.getAttribute("role") === "img" && el.getAttribute("aria-label")))
    .map(el => el.outerHTML.slice(0, 80));
  const wide = document.documentElement.scrollWidth > window.innerWidth + 1;
  return {unnamed, unlabelledImages, wide,
          main: document.querySelectorAll("main").length,
          nav: document.querySelectorAll("nav[aria-label]").length};
}"""


@pytest.mark.slow
def test_pages_have_labels_alternatives_and_landmarks(page_as: Any) -> None:
    page = page_as("admin", width=820, height=1180)  # a tablet, where overflow shows first
    for url in PAGES:
        page.goto(url, timeout=90_000)  # the editor's first load imports every block
        found = page.evaluate(PROBLEMS)
        assert found["unnamed"] == [], url
        assert found["unlabelledImages"] == [], url
        assert not found["wide"], f"{url} scrolls sideways at 820 px"
        assert found["main"] == 1 and found["nav"] >= 1, url
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
