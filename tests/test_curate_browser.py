"""The curation pages in headless Chromium (Debian's, through Playwright), under their real CSP.

One project, one server and one browser for the module: draw a box and find it after a reload,
zoom into full-resolution tiles, see the resolution previews, screen questions by keyboard.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ps3_eval.curate.generate import generate_questions
from ps3_eval.curate.project import Project
from ps3_eval.curate.routes import curation_security
from ps3_eval.curate.server import build_app
from ps3_eval.web.server import BackgroundServer
from ps3_eval.web.tiles import max_level
from tests.curate_media import add_boxes, project_copy
from tests.test_report import CHROMIUM_ARGS, _browser


def _wait(page: Any, expression: str, timeout: float = 20.0) -> None:
    """Poll a JS expression (the pages' CSP forbids Playwright's eval-based waits)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if page.evaluate(expression):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"still false after {timeout:g}s: {expression}")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Any]]:
    chromium = _browser()
    tmp = tmp_path_factory.mktemp("browser")
    root = project_copy(tmp)
    add_boxes(root, [(2, [100, 100, 400, 300], "lot sign"), (2, [600, 600, 900, 800], "gate")])
    q = {"question": "Which lot code?", "options": ["9Q2", "902", "9O2", "QQ2"], "answer": "A"}
    answers = tmp / "answers.json"
    answers.write_text(json.dumps({"box-1": json.dumps(q), "box-2": json.dumps(q)}))
    generate_questions(root, f"scripted:answers={answers}")
    from playwright.sync_api import sync_playwright

    with Project(root) as project:
        app = build_app(project)
        with (
            BackgroundServer(app, curation_security("127.0.0.1", None)) as url,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(
                executable_path=chromium, headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield url, root, browser
            finally:
                browser.close()


def _page(browser: Any, problems: list[str]) -> Any:
    page = browser.new_page(viewport={"width": 1300, "height": 850})
    page.on("pageerror", lambda e: problems.append(f"page error {e}"))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    return page


def test_draw_reload_zoom_and_previews(site: tuple[str, Path, Any]) -> None:
    url, root, browser = site
    problems: list[str] = []
    page = _page(browser, problems)
    tiles: list[tuple[str, int]] = []
    page.on(
        "response", lambda r: tiles.append((r.url, r.status)) if "image_files" in r.url else None
    )
    page.goto(f"{url}/frames/1")
    _wait(page, "document.querySelectorAll('#boxes li').length === 1")  # "none yet"
    viewer = page.locator("#viewer").bounding_box()
    assert viewer is not None
    page.keyboard.press("b")
    x, y = viewer["x"] + 200, viewer["y"] + 250
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 150, y + 90, steps=6)
    page.mouse.up()
    _wait(page, "document.querySelectorAll('.bbox').length === 1")
    # The selected box's crop at 756, 1512 and 3780, each drawn.
    _wait(
        page,
        "[...document.querySelectorAll('#previews img')].length === 3 && [...document"
        ".querySelectorAll('#previews img')].every(i => i.complete && i.naturalWidth > 0)",
    )
    sides = page.evaluate(
        "[...document.querySelectorAll('#previews img')].map(i => i.dataset.side)"
    )
    assert sides == ["756", "1512", "3780"]
    with Project(root) as project:
        (drawn,) = project.frame(1)["boxes"]
    assert drawn["x1"] - drawn["x0"] > 100 and drawn["annotator"] == "anonymous"
    # Drag it by its middle: it moves, its size stays, the save is a new version.
    page.mouse.move(x + 75, y + 45)
    page.mouse.down()
    page.mouse.move(x + 175, y + 45, steps=6)
    page.mouse.up()
    _wait(page, "document.getElementById('box-id').textContent.includes('version 2')")
    with Project(root) as project:
        (box,) = project.frame(1)["boxes"]
    assert box["x0"] > drawn["x0"] + 100 and box["y0"] == pytest.approx(drawn["y0"], abs=1)
    assert box["x1"] - box["x0"] == pytest.approx(drawn["x1"] - drawn["x0"], abs=0.5)

    page.reload()
    _wait(page, "document.querySelectorAll('.bbox').length === 1")
    assert page.locator("#boxes li").first.inner_text().startswith(f"#{box['id']} ")

    # Zoom in with the wheel until tiles of the full-resolution level arrive.
    top = max_level(3840, 2160)
    page.mouse.move(viewer["x"] + viewer["width"] / 2, viewer["y"] + viewer["height"] / 2)
    for _ in range(30):
        if any(f"/image_files/{top}/" in u for u, _ in tiles):
            break
        page.mouse.wheel(0, -500)
        page.wait_for_timeout(150)
    full = [(u, s) for u, s in tiles if f"/image_files/{top}/" in u]
    assert full and all(s == 200 for _, s in full)
    assert all(s == 200 for _, s in tiles) and not problems, problems


def test_screen_questions_with_the_keyboard(site: tuple[str, Path, Any]) -> None:
    url, root, browser = site
    problems: list[str] = []
    page = _page(browser, problems)
    page.goto(f"{url}/screen")
    _wait(page, "!document.getElementById('item').hidden")
    page.fill("#reviewer", "alice")
    page.press("#reviewer", "Enter")
    page.locator("h3").first.click()  # leave the text field: keys go to the page
    page.keyboard.press("4")
    _wait(page, "document.querySelector('[data-mrr=\"4K\"]').classList.contains('on')")
    page.keyboard.press("a")
    _wait(page, "document.getElementById('qa-title').textContent === 'Question #2'")
    page.keyboard.press("r")
    page.keyboard.type("the code is readable at 1512")
    page.keyboard.press("Enter")
    _wait(page, "document.querySelector('#qa-state .badge').textContent === 'rejected'")
    with Project(root) as project:
        rows = project.db.query("SELECT id, decision, mrr, reviewer, reason FROM qa ORDER BY id")
    assert rows == [
        {"id": 1, "decision": "accepted", "mrr": "4K", "reviewer": "alice", "reason": ""},
        {
            "id": 2,
            "decision": "rejected",
            "mrr": None,
            "reviewer": "alice",
            "reason": "the code is readable at 1512",
        },
    ]
    assert "alice: 2 screened" in page.inner_text("#mine")
    assert not problems, problems
