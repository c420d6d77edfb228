"""The curation server over HTTP: safety rules, many reviewers at once, and crash durability."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ps3_eval.curate.project import Project
from ps3_eval.curate.routes import curation_security
from ps3_eval.curate.server import build_app
from ps3_eval.errors import UsageError
from ps3_eval.web.security import check_bind
from ps3_eval.web.server import BackgroundServer
from tests.curate_media import add_boxes, project_copy
from tests.test_cli import cli, served

TOKEN = "a-test-token-0123456789"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = project_copy(tmp_path)
    add_boxes(root, [(1, [100, 100, 400, 300], "lot sign")])
    return root


@pytest.fixture
def server(root: Path) -> Iterator[str]:
    with Project(root) as project:
        app = build_app(project)
        with BackgroundServer(app, curation_security("127.0.0.1", None)) as url:
            yield url


def test_traversal_foreign_origin_rebinding_and_sizes_are_refused(server: str, root: Path) -> None:
    c = httpx.Client(base_url=server, timeout=30)
    assert c.get("/static/lib/openseadragon.LICENSE.txt").status_code == 200
    for path in (
        "/static/../curate.sqlite",
        "/static/%2e%2e/%2e%2e/db.py",
        "/static/..%2f..%2fcurate.sqlite",
        "/api/frames/..%2fcurate.sqlite/image.dzi",
        "/api/frames/1%2f..%2f..%2fcurate.sqlite/image.dzi",
        "/frames/curate.sqlite",
    ):
        r = c.get(path)
        assert r.status_code == 404 and b"SQLite" not in r.content, path
    # A row cannot point outside the frames folder either.
    with Project(root) as project, project.db.write("intruder") as tx:
        tx.execute("UPDATE frames SET file = '../curate.sqlite' WHERE id = 2")
    assert c.get("/api/frames/2/image.dzi").status_code == 404
    assert c.get("/api/frames/1/image.dzi").status_code == 200

    box = {"bbox": [10, 10, 60, 60], "note": "x"}
    url = "/api/frames/1/boxes"
    assert c.post(url, json=box, headers={"Origin": "http://evil.example"}).status_code == 403
    assert c.post(url, json=box, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert c.post(url, content=b"bbox=1", headers=form).status_code == 415
    assert c.get("/api/frames/1", headers={"Host": "evil.example"}).status_code == 403
    with Project(root) as project:
        assert len(project.frame(1)["boxes"]) == 1  # nothing got through
    same = c.post(url, json=box, headers={"Origin": server, "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 201
    assert "script-src 'self'" in same.headers["content-security-policy"]

    big = b'{"note": "' + b"x" * (1 << 20) + b'"}'
    json_type = {"content-type": "application/json"}
    assert c.post(url, content=big, headers=json_type).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams
        yield b'{"note": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    assert c.post(url, content=chunks(), headers=json_type).status_code == 413
    # The Label Studio upload may be larger than other requests.
    r = c.post("/api/import/labelstudio", content=b"[" + b" " * (2 << 20) + b"]", headers=json_type)
    assert r.status_code == 200 and r.json()["added"] == 0


def test_a_token_guards_every_request(root: Path) -> None:
    with pytest.raises(UsageError, match="give it a token"):
        check_bind("0.0.0.0", None)
    res = cli("curate", "serve", str(root), "--host", "0.0.0.0", "--port", "0", check=False)
    assert res.returncode == 2 and "--token" in res.stderr
    with Project(root) as project:
        app = build_app(project, token=TOKEN)
        with BackgroundServer(app, curation_security("127.0.0.1", TOKEN)) as url:
            c = httpx.Client(base_url=url, timeout=30)
            assert c.get("/api/frames").status_code == 401
            assert c.get("/static/curate/index.html").status_code == 401
            box = {"bbox": [10, 10, 60, 60]}
            assert c.post("/api/frames/1/boxes", json=box).status_code == 401
            wrong = {"Authorization": "Bearer not-the-token-at-all"}
            assert c.get("/api/frames", headers=wrong).status_code == 401
            good = {"Authorization": f"Bearer {TOKEN}"}
            assert c.get("/api/frames", headers=good).status_code == 200
            # Opening the printed address sets a cookie and takes the token out of the URL.
            opened = c.get(f"/?token={TOKEN}")
            assert opened.status_code == 303 and opened.headers["location"] == "/"
            assert "HttpOnly" in opened.headers["set-cookie"]
            assert c.get("/api/frames").status_code == 200  # the client kept the cookie
            assert TOKEN not in c.get("/").text


def test_many_reviewers_editing_different_boxes_lose_nothing(server: str, root: Path) -> None:
    n_clients, n_edits = 16, 12
    ids = add_boxes(root, [(1 + i % 2, [10 + i, 10, 80 + i, 60], "") for i in range(n_clients)])
    failures: list[str] = []

    def reviewer(k: int, box_id: int) -> None:
        with httpx.Client(base_url=server, timeout=60, headers={"X-Reviewer": f"r{k}"}) as c:
            version = 1
            for n in range(n_edits):
                r = c.patch(f"/api/boxes/{box_id}", json={"version": version, "note": f"{k}:{n}"})
                if r.status_code != 200:
                    failures.append(f"{k}:{n} {r.status_code} {r.text}")
                    return
                version = r.json()["version"]

    threads = [threading.Thread(target=reviewer, args=(k, b)) for k, b in enumerate(ids)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    with Project(root) as project:
        for k, box_id in enumerate(ids):
            row = project.db.get("boxes", box_id)
            assert (row["note"], row["version"], row["updated_by"]) == (
                f"{k}:{n_edits - 1}",
                n_edits + 1,
                f"r{k}",
            )
            assert len(project.db.history("boxes", box_id)) == n_edits + 1


def test_two_reviewers_on_one_box_get_a_conflict(server: str) -> None:
    ann = httpx.Client(base_url=server, timeout=30, headers={"X-Reviewer": "ann"})
    bob = httpx.Client(base_url=server, timeout=30, headers={"X-Reviewer": "bob"})
    seen = ann.get("/api/frames/1").json()["boxes"][0]
    assert bob.get("/api/frames/1").json()["boxes"][0]["version"] == seen["version"]
    first = ann.patch("/api/boxes/1", json={"version": seen["version"], "note": "ann's"})
    assert first.status_code == 200
    second = bob.patch("/api/boxes/1", json={"version": seen["version"], "bbox": [0, 0, 50, 50]})
    assert second.status_code == 409
    current = second.json()["current"]
    assert current["note"] == "ann's" and current["updated_by"] == "ann"
    assert current["x0"] == 100  # Bob's move did not land
    gone = bob.request("DELETE", "/api/boxes/1", json={"version": seen["version"]})
    assert gone.status_code == 409
    redo = bob.patch("/api/boxes/1", json={"version": current["version"], "bbox": [0, 0, 50, 50]})
    assert redo.status_code == 200 and redo.json()["note"] == "ann's"


def test_a_killed_server_loses_nothing_it_acknowledged(root: Path) -> None:
    acked = []
    with served("curate", "serve", str(root)) as url:
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in range(30):
                r = c.post("/api/frames/1/boxes", json={"bbox": [i, i, i + 40, i + 40]})
                assert r.status_code == 201
                acked.append(r.json()["id"])
    with Project(root) as project:
        kept = {b["id"] for b in project.frame(1)["boxes"]}
        audited = {r["row_id"] for r in project.db.query("SELECT row_id FROM audit_log")}
    assert set(acked) <= kept and set(acked) <= audited


def test_a_missing_extra_is_named_in_one_line(tmp_path: Path) -> None:
    # uvicorn made unimportable, as in an install without the curate extra.
    code = (
        "import sys; sys.modules['uvicorn'] = None; from ps3_eval.cli import main; "
        f"sys.argv = ['ps3-eval', 'curate', 'serve', {str(tmp_path)!r}]; main()"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip() == (
        "error: this needs uvicorn, which is not installed; install the 'curate' extra: pip "
        "install 'ps3-eval[curate]'."
    )
