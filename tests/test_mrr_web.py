"""The MRR labelling routes over HTTP: blind views, labels, the safety rules, one shared server."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from ps3_eval.errors import UsageError
from ps3_eval.mrr import sample_study
from ps3_eval.mrr.server import study_sections
from ps3_eval.mrr.study import Study
from ps3_eval.web.app import create_app
from ps3_eval.web.security import Security
from ps3_eval.web.server import BackgroundServer
from ps3_eval.web.tiles import max_level
from tests.conftest import write_mc_dataset
from tests.curate_media import scene_image
from tests.test_cli import cli, served

TOKEN = "a-test-token-0123456789"
SIZE = (1600, 900)
"""Above 2K's 1512 pixels: the 1K and 2K views are downsampled, the 4K view is the original."""


def make_study(tmp: Path, n: int = 5, name: str = "signs") -> Path:
    """A study of ``n`` textured 1600x900 items (with a designed MRR the page must not show)."""
    card = write_mc_dataset(tmp / f"{name}-data", n=n, size=(8, 8))
    for i in range(n):
        scene_image(SIZE, i, shift=12 * i).save(card.parent / "images" / f"{i}.png")
    return sample_study(str(card), n=n, seed=0, study=tmp / name).dir


def labelling_app(folders: list[Path], token: str | None = None) -> tuple[object, list[Study]]:
    studies = [Study(f) for f in folders]
    return create_app(study_sections(studies), Security(token=token)), studies


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Study]]:
    app, (study,) = labelling_app([make_study(tmp_path)])
    with BackgroundServer(app, Security()) as url:  # type: ignore[arg-type]
        yield url, study
    study.close()


def _until(condition: Callable[[], bool], limit: float = 60.0) -> None:
    """Wait for a state (never for a time): poll until ``condition`` holds."""
    end = time.monotonic() + limit
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("the state never came")
        time.sleep(0.05)


def _png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_views_are_blind_and_labels_land_as_the_rung_picked(site: tuple[str, Study]) -> None:
    url, study = site
    alice = httpx.Client(base_url=f"{url}/mrr/signs", timeout=60, headers={"X-Reviewer": "alice"})
    assert httpx.get(url, follow_redirects=False).headers["location"] == "/mrr/signs/"
    nxt = alice.get("/api/next").json()
    first = study.next_item("alice")
    assert first is not None and nxt == {"item": study.items.index(first), "labelled": 0,
                                         "total": 5}  # fmt: skip
    n = nxt["item"]
    item = alice.get(f"/api/items/{n}").json()
    # while alice looks at it, her next item's rungs are made in the background
    upcoming = study.next_item("alice", skip={first.id})
    assert upcoming is not None
    made = [study.dir / "rungs" / r / f"{Path(upcoming.images[0]).stem}.png" for r in ("1K", "2K")]
    _until(lambda: all(f.is_file() for f in made))
    # nothing that hints at the answer: no benchmark id, no designed MRR, no box, no rung names
    assert set(item) == {"item", "question", "choices", "answer", "category", "native", "views",
                         "mine", "labelled", "total"}  # fmt: skip
    assert first.id not in str(item) and item["answer"] == first.answer_text
    (keys,) = item["views"]
    assert len(set(keys)) == 3 and all(re.fullmatch(r"[0-9a-f]{16}", k) for k in keys)
    # every view has the original's geometry: the descriptors are byte for byte the same
    dzis = {alice.get(f"/api/views/{k}/image.dzi").text for k in keys}
    assert len(dzis) == 1 and 'Width="1600" Height="900"' in dzis.pop()

    # each view's full-resolution tile is its rung's image, enlarged to the original's size
    # without smoothing; the views come in alice's order for this item
    order = study.rung_order(first.id, "alice")
    top = max_level(*SIZE)
    original = Image.open(study.dir / first.images[0]).convert("RGB")
    for key, rung in zip(keys, order, strict=True):
        tile = _png(alice.get(f"/api/views/{key}/image_files/{top}/1_1.png").content)
        rung_img = Image.open(study.render_rung(first.id, rung)).convert("RGB")
        shown = rung_img.resize(SIZE, Image.Resampling.NEAREST) if rung_img.size != SIZE else (
            original
        )  # fmt: skip
        assert tile.tobytes() == shown.crop((253, 253, 509, 509)).tobytes(), rung
    assert max(Image.open(study.render_rung(first.id, "1K")).size) == 756

    # a pick is stored as the rung of that view, with the labeller, time and source
    r = alice.post(f"/api/items/{n}/label", json={"view": 1})
    assert r.status_code == 201 and r.json()["mine"]["view"] == 1 and r.json()["labelled"] == 1
    (lab,) = study.labels.labels(labeller="alice")
    assert (lab.item, lab.label, lab.source) == (first.id, order[1], "web")
    assert alice.get(f"/api/items/{n}").json()["mine"]["choice"] == "view"
    # changing one's mind appends; the latest counts; bob's label is his own
    alice.post(f"/api/items/{n}/label", json={"label": "beyond"})
    bob = httpx.Client(base_url=f"{url}/mrr/signs", timeout=60, headers={"X-Reviewer": "b%C3%B6b"})
    assert bob.post(f"/api/items/{n}/label", json={"label": "no_image"}).status_code == 201
    assert study.human_labels() == {"alice": {first.id: "beyond"}, "böb": {first.id: "no_image"}}
    assert alice.get(f"/api/items/{n}").json()["mine"]["choice"] == "beyond"
    assert len(study.labels) == 3
    assert alice.get("/api/next").json()["item"] != n
    progress = alice.get("/api/progress").json()
    assert progress == {"total": 5, "labellers": [{"name": "alice", "labelled": 1},
                                                  {"name": "böb", "labelled": 1}]}  # fmt: skip

    # bad input is a clear 400 or 404 and stores nothing
    for body in ({"view": 3}, {"view": True}, {"label": "3K"}, {}):
        r = alice.post(f"/api/items/{n}/label", json=body)
        assert r.status_code == 400 and r.json()["error"], body
    anonymous = httpx.post(f"{url}/mrr/signs/api/items/{n}/label", json={"view": 0})
    assert anonymous.status_code == 400 and "your name" in anonymous.json()["error"]
    assert alice.get("/api/items/5").status_code == 404
    assert alice.post("/api/items/7/label", json={"view": 0}).status_code == 404
    assert len(study.labels) == 3


def test_safety_rules_hold_on_the_labelling_routes(site: tuple[str, Study]) -> None:
    url, study = site
    c = httpx.Client(base_url=url, timeout=30, headers={"X-Reviewer": "alice"})
    key = c.get("/mrr/signs/api/items/0").json()["views"][0][0]
    assert c.get(f"/mrr/signs/api/views/{key}/image.dzi").status_code == 200
    for path in (
        "/mrr/signs/labels.sqlite",
        "/mrr/signs/images/0.png",
        "/mrr/signs/../signs/labels.sqlite",
        "/mrr/signs/api/views/..%2f..%2flabels.sqlite/image.dzi",
        "/mrr/signs/api/views/%2e%2e/image.dzi",
        f"/mrr/signs/api/views/{key}%2f..%2f..%2fstudy.json/image.dzi",
        "/mrr/signs/api/views/0123456789abcdef/image.dzi",  # a key never handed out
        "/mrr/signs/api/items/-1",
        "/mrr/signs/api/items/0%2f..%2f..%2fitems.jsonl",
        "/mrr/nope/api/study",
        "/static/../mrr/signs/labels.sqlite",
    ):
        r = c.get(path)
        assert r.status_code == 404 and b"SQLite" not in r.content and b"question" not in (
            r.content
        ), path  # fmt: skip

    label = "/mrr/signs/api/items/0/label"
    body = {"view": 0}
    assert c.post(label, json=body, headers={"Origin": "http://evil.example"}).status_code == 403
    assert c.post(label, json=body, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert c.post(label, content=b"view=0", headers=form).status_code == 415
    assert c.get("/mrr/signs/api/items/0", headers={"Host": "evil.example"}).status_code == 403
    big = b'{"label": "' + b"x" * (1 << 20) + b'"}'
    json_type = {"content-type": "application/json"}
    assert c.post(label, content=big, headers=json_type).status_code == 413
    assert len(study.labels) == 0  # nothing got through
    same = c.post(label, json=body, headers={"Origin": url, "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 201
    assert "script-src 'self'" in same.headers["content-security-policy"]


def test_a_token_guards_the_labelling_routes(tmp_path: Path) -> None:
    folder = make_study(tmp_path, n=2)
    res = cli("mrr", "serve", str(folder), "--host", "0.0.0.0", "--port", "0", check=False)
    assert res.returncode == 2 and "--token" in res.stderr and not res.stdout
    app, (study,) = labelling_app([folder], token=TOKEN)
    with BackgroundServer(app, Security(token=TOKEN)) as url:  # type: ignore[arg-type]
        c = httpx.Client(base_url=url, timeout=30, headers={"X-Reviewer": "alice"})
        key = study.items[0].id  # not a key: nothing is reachable anyway
        for path in ("/", "/mrr/signs/", "/mrr/signs/api/items/0", "/mrr/signs/api/progress",
                     f"/mrr/signs/api/views/{key}/image.dzi", "/static/mrr/label.js"):  # fmt: skip
            assert c.get(path).status_code == 401, path
        assert c.post("/mrr/signs/api/items/0/label", json={"view": 0}).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token-at-all"}
        assert c.get("/mrr/signs/api/items/0", headers=wrong).status_code == 401
        assert len(study.labels) == 0
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert c.get("/mrr/signs/api/items/0", headers=good).status_code == 200
        opened = c.get(f"/mrr/signs/?token={TOKEN}")
        assert opened.status_code == 303 and opened.headers["location"] == "/mrr/signs/"
        assert c.post("/mrr/signs/api/items/0/label", json={"view": 0}).status_code == 201
    study.close()


def test_one_server_hosts_a_curation_project_and_studies(tmp_path: Path) -> None:
    from ps3_eval.curate.project import Project
    from ps3_eval.curate.server import build_app
    from tests.curate_media import project_copy

    a = make_study(tmp_path / "a", n=2, name="same")
    b = make_study(tmp_path / "b", n=3, name="same")
    studies = [Study(a), Study(b)]
    with Project(project_copy(tmp_path)) as project:
        app = build_app(project, studies=studies)
        with BackgroundServer(app, Security()) as url:
            c = httpx.Client(base_url=url, timeout=30, headers={"X-Reviewer": "ann"})
            sections = c.get("/api/sections").json()
            assert [(s["kind"], s["url"]) for s in sections] == [
                ("curate", "/"), ("mrr", "/mrr/same/"), ("mrr", "/mrr/same-2/")
            ]  # fmt: skip
            assert c.get("/api/frames").status_code == 200  # curation keeps the root
            assert c.get("/mrr/same/api/study").json()["items"] == 2
            assert c.get("/mrr/same-2/api/study").json()["items"] == 3
            assert c.post("/mrr/same-2/api/items/2/label", json={"label": "4K"}).status_code == 201
    assert studies[1].human_labels() == {"ann": {studies[1].items[2].id: "4K"}}
    assert studies[0].human_labels() == {}
    with pytest.raises(UsageError, match="a prefix of its own"):
        create_app([*study_sections(studies[:1]), *study_sections(studies[:1])], Security())
    for s in studies:
        s.close()


def test_labellers_at_once_lose_no_label(site: tuple[str, Study]) -> None:
    url, study = site
    failures: list[str] = []

    def labeller(k: int) -> None:
        with httpx.Client(base_url=f"{url}/mrr/signs", timeout=60,
                          headers={"X-Reviewer": f"l{k}"}) as c:  # fmt: skip
            for n in range(5):
                r = c.post(f"/api/items/{n}/label", json={"view": (n + k) % 3})
                if r.status_code != 201:
                    failures.append(f"{k}:{n} {r.status_code} {r.text}")

    threads = [threading.Thread(target=labeller, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    humans = study.human_labels()
    assert len(study.labels) == 40 and sorted(humans) == [f"l{k}" for k in range(8)]
    for k in range(8):
        for n, it in enumerate(study.items):
            assert humans[f"l{k}"][it.id] == study.rung_order(it.id, f"l{k}")[(n + k) % 3]


def test_mrr_serve_keeps_every_label_it_acknowledged(tmp_path: Path) -> None:
    folder = make_study(tmp_path, n=2)
    with served("mrr", "serve", str(folder)) as url:
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True,
                          headers={"X-Reviewer": "alice"}) as c:  # fmt: skip
            assert "label.js" in c.get("/").text  # / leads to the study's page
            for n in (0, 1):
                assert c.post(f"/mrr/signs/api/items/{n}/label",
                              json={"label": "2K"}).status_code == 201  # fmt: skip
    with Study(folder) as study:
        assert study.human_labels() == {"alice": {it.id: "2K" for it in study.items}}


def test_an_item_with_two_images_has_views_of_each(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "data", n=2, size=(8, 8))
    rows = [json.loads(line) for line in (card.parent / "data.jsonl").read_text().splitlines()]
    for i, row in enumerate(rows):
        scene_image(SIZE, i).save(card.parent / "images" / f"{i}.png")
        scene_image((900, 1600), i + 1).save(card.parent / "images" / f"{i}b.png")
        row["image2"] = f"images/{i}b.png"
    (card.parent / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    card.write_text(card.read_text().replace("  image: image\n", "  image: [image, image2]\n"))
    app, (study,) = labelling_app([sample_study(str(card), n=2, study=tmp_path / "two").dir])
    with BackgroundServer(app, Security()) as url:  # type: ignore[arg-type]
        c = httpx.Client(base_url=f"{url}/mrr/two", timeout=30, headers={"X-Reviewer": "ann"})
        item = c.get("/api/items/0").json()
        assert item["native"] == [[1600, 900], [900, 1600]] and len(item["views"]) == 2
        for keys, (w, h) in zip(item["views"], item["native"], strict=True):
            assert len(set(keys)) == 3
            for key in keys:
                assert f'Width="{w}" Height="{h}"' in c.get(f"/api/views/{key}/image.dzi").text
        # one pick labels the item (its rung holds for both images)
        assert c.post("/api/items/0/label", json={"view": 2}).status_code == 201
    assert (
        study.human_labels()["ann"][study.items[0].id]
        == study.rung_order(study.items[0].id, "ann")[2]
    )
    study.close()
