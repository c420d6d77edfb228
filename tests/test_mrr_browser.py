"""The MRR labelling page in headless Chromium (Debian's, through Playwright), as labellers use it.

One study, one server, one browser: alice labels items with the keyboard and the mouse, zooms
(every view follows), reloads and finds her labels; bob then gets his own order and progress.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ps3_eval.mrr.server import study_sections
from ps3_eval.mrr.study import Study
from ps3_eval.web.app import create_app
from ps3_eval.web.security import Security
from ps3_eval.web.server import BackgroundServer
from tests.test_curate_browser import _page, _wait
from tests.test_mrr_web import make_study
from tests.test_report import CHROMIUM_ARGS, _browser

LOADED = "[...document.querySelectorAll('figure.view')].every(f => f.dataset.loaded === '1')"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Study, Any]]:
    chromium = _browser()
    study = Study(make_study(tmp_path_factory.mktemp("mrr"), n=5))
    from playwright.sync_api import sync_playwright

    app = create_app(study_sections([study]), Security())
    with BackgroundServer(app, Security()) as url, sync_playwright() as pw:  # type: ignore[arg-type]
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            yield url, study, browser
        finally:
            browser.close()
            study.close()


def _shown(page: Any, study: Study) -> int:
    """The study position of the item on the page, once its views are drawn."""
    _wait(page, f"!document.getElementById('item').hidden && {LOADED}")
    return int(page.evaluate("state.index"))


def _latest(study: Study, who: str, index: int) -> str | None:
    return study.human_labels().get(who, {}).get(study.items[index].id)


def test_label_with_keys_and_mouse_reload_and_a_second_labeller(
    site: tuple[str, Study, Any],
) -> None:
    url, study, browser = site
    problems: list[str] = []
    page = _page(browser, problems)
    tiles: list[int] = []
    page.on("response", lambda r: tiles.append(r.status) if "image_files" in r.url else None)
    page.goto(f"{url}/")  # leads to the study's page
    _wait(page, "document.getElementById('mine').textContent === 'enter your name to start'")
    page.fill("#reviewer", "alice")
    page.press("#reviewer", "Enter")
    page.locator("h1").click()  # leave the text field: keys go to the page

    order = []
    n = _shown(page, study)
    expected = study.next_item("alice")
    assert expected is not None and study.items[n] == expected  # alice's own first item
    # three views of one size, question and answer on the page, nothing naming a rung
    boxes = [page.locator(f"#viewer-{k}").bounding_box() for k in range(3)]
    assert all(b is not None for b in boxes)
    assert len({(round(b["width"]), round(b["height"])) for b in boxes if b}) == 1
    text = page.inner_text("#item")
    assert expected.question in text and expected.answer_text in text
    assert not any(rung in text for rung in ("1K", "2K", "4K", "756", "1512", "3780"))

    # zoom one view: every view shows the same region
    box = boxes[0]
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    for _ in range(4):
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(150)
    _wait(page, "viewers[0].viewport.getZoom() > 2")
    _wait(page, "viewers.every(v => Math.abs(v.viewport.getZoom() - viewers[0].viewport."
          "getZoom()) < 1e-6 && v.viewport.getCenter().distanceTo(viewers[0].viewport"
          ".getCenter()) < 1e-6)")  # fmt: skip

    # keyboard: 2 picks the second view, which is the rung alice's order put there
    order.append(n)
    page.keyboard.press("2")
    _wait(page, f"state.index !== {n}")
    assert _latest(study, "alice", n) == study.rung_order(study.items[n].id, "alice")[1]
    # mouse: the first view's button
    n = _shown(page, study)
    order.append(n)
    page.locator("button.pick[data-view='0']").click()
    _wait(page, f"state.index !== {n}")
    assert _latest(study, "alice", n) == study.rung_order(study.items[n].id, "alice")[0]
    # keyboard m: needs more than the original; mouse: answerable without the image
    n = _shown(page, study)
    order.append(n)
    page.keyboard.press("m")
    _wait(page, f"state.index !== {n}")
    n = _shown(page, study)
    order.append(n)
    page.click("#no-image")
    _wait(page, f"state.index !== {n}")
    assert [_latest(study, "alice", i) for i in order[2:]] == ["beyond", "no_image"]
    last = _shown(page, study)
    assert last not in order
    _wait(page, "document.getElementById('mine').textContent === 'alice: 4 of 5 labelled'")
    assert {lab.source for lab in study.labels.labels()} == {"web"}

    # k goes back to the item just labelled, with the label shown; a new pick replaces it
    page.keyboard.press("k")
    _wait(page, f"state.index === {order[-1]}")
    _wait(page, "document.getElementById('no-image').classList.contains('on')")

    # reload: the labels are there (the first item shows alice's pick)
    page.goto(f"{url}/mrr/signs/?item={order[0]}")
    _wait(page, f"state.index === {order[0]}")
    _shown(page, study)
    assert "alice: 4 of 5 labelled" in page.inner_text("#mine")
    assert "your label: view B" in page.inner_text("#my-label")
    assert page.evaluate("document.querySelector('button.pick[data-view=\"1\"]').className") == (
        "pick on"
    )
    assert "alice" in page.inner_text("#progress") and "4 of 5" in page.inner_text("#progress")

    # bob: his own first item and progress, his own view order
    page.fill("#reviewer", "bob")
    page.press("#reviewer", "Enter")
    page.locator("h1").click()
    _wait(page, "document.getElementById('mine').textContent === 'bob: 0 of 5 labelled'")
    first_bob = study.next_item("bob")
    assert first_bob is not None
    n = _shown(page, study)
    assert study.items[n] == first_bob
    page.keyboard.press("1")
    _wait(page, f"state.index !== {n}")
    assert _latest(study, "bob", n) == study.rung_order(first_bob.id, "bob")[0]
    _wait(page, "document.getElementById('mine').textContent === 'bob: 1 of 5 labelled'")
    assert len(study.human_labels()["alice"]) == 4  # bob's labels are his own
    assert tiles and all(s == 200 for s in tiles) and not problems, problems
