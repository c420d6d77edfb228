"""MRR studies: the rule, kappa, the sample, the label store and the report."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
from PIL import Image

from ps3_eval.errors import UsageError
from ps3_eval.mrr import (
    BEYOND,
    DEFAULT_LADDER,
    INCOMPLETE,
    NO_IMAGE,
    LabelStore,
    Ladder,
    agreement,
    build_mrr_report,
    cohen_kappa,
    mrr_of,
    sample_study,
    study_agreement,
)
from ps3_eval.mrr.kappa import confusion_matrix
from ps3_eval.mrr.study import Study
from ps3_eval.scoring.stats import bootstrap_ci
from ps3_eval.tasks import load_task
from tests.conftest import LETTERS

if not os.environ.get("CI"):
    pytest.importorskip("sklearn", reason="the kappa check needs scikit-learn (dev extra)")

SCALE = DEFAULT_LADDER.scale  # no_image, 1K, 2K, 4K, beyond


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["right", "right", "right"], "1K"),
        (["wrong", "right", "right"], "2K"),
        (["wrong", "wrong", "right"], "4K"),
        # right at 1K but wrong at 2K: the answer does not hold from 1K up, so 4K
        (["right", "wrong", "right"], "4K"),
        # wrong at the top rung: reported apart, never counted as 4K
        (["right", "right", "wrong"], BEYOND),
        (["wrong", "wrong", "wrong"], BEYOND),
        # every rung without an answer
        (["abstain", "abstain", "abstain"], BEYOND),
        (["abstain", "right", "right"], "2K"),
        # a failed call decides only where the rule needs it
        (["right", "error", "right"], INCOMPLETE),
        (["error", "wrong", "right"], "4K"),
        (["right", "right", "error"], INCOMPLETE),
        (["right", "right", "missing"], INCOMPLETE),
    ],
)
def test_mrr_rule(outcomes: list[str], expected: str) -> None:
    assert mrr_of(outcomes, DEFAULT_LADDER) == expected  # type: ignore[arg-type]


def test_mrr_rule_by_label_and_without_the_image() -> None:
    assert mrr_of({"1K": "wrong", "2K": "right", "4K": "right"}) == "2K"
    assert mrr_of({"2K": "right", "4K": "right"}) == INCOMPLETE  # 1K never ran
    right = ["right", "right", "right"]
    assert mrr_of(right, no_image="right") == NO_IMAGE  # type: ignore[arg-type]
    assert mrr_of(right, no_image="abstain") == "1K"  # type: ignore[arg-type]
    assert mrr_of(right, no_image="error") == INCOMPLETE  # type: ignore[arg-type]
    assert mrr_of(["wrong", "right", "right"], no_image="right") == "2K"  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 outcomes for a ladder of 3"):
        mrr_of(["right", "right"])  # type: ignore[list-item]


def test_ladder_parse_and_labels() -> None:
    assert Ladder.parse("1K=756,2K=1512,4K=3780") == DEFAULT_LADDER
    assert DEFAULT_LADDER.text() == "1K=756,2K=1512,4K=3780"
    bare = Ladder.parse("512, 1024")
    assert bare.labels == ["512", "1024"] and bare.side("1024") == 1024
    assert DEFAULT_LADDER.canonical(" 2k ") == "2K"
    assert DEFAULT_LADDER.canonical("Needs more than the original") == BEYOND
    assert DEFAULT_LADDER.canonical("answerable without the image") == NO_IMAGE
    for bad, says in [
        ("1K=abc", "LABEL=PIXELS"),
        ("2K=1512,1K=756", "lowest side to the highest"),
        ("1K=756,1K=1512", "repeat"),
        ("beyond=4000", "label of its own"),
    ]:
        with pytest.raises(UsageError, match=says):
            Ladder.parse(bad)
    with pytest.raises(UsageError, match="not an MRR label; use one of 1K, 2K, 4K"):
        DEFAULT_LADDER.canonical("8K")


# --------------------------------------------------------------------------- kappa


def test_kappa_on_constructed_cases() -> None:
    # 3 of 4 agree; marginals 1/2-1/2 and 1/4-3/4 give chance agreement 1/2: kappa 1/2
    assert cohen_kappa(["1K", "1K", "2K", "2K"], ["1K", "2K", "2K", "2K"], SCALE) == 0.5
    assert cohen_kappa(["1K", "2K", "4K"], ["1K", "2K", "4K"], SCALE, "quadratic") == 1.0
    # 1K vs 4K is a worse miss than 1K vs 2K for the weighted kappas, not the unweighted one
    near = cohen_kappa(["1K", "2K", "4K", "4K"], ["2K", "2K", "4K", "4K"], SCALE, "linear")
    far = cohen_kappa(["1K", "2K", "4K", "4K"], ["4K", "2K", "4K", "4K"], SCALE, "linear")
    assert near is not None and far is not None and near > far
    # every item "beyond" from both raters (all abstain): chance agreement is certain
    ag = agreement({"a": BEYOND, "b": BEYOND}, {"a": BEYOND, "b": BEYOND, "c": "1K"}, SCALE)
    assert ag.n == 2 and ag.observed == 1.0 and ag.only_b == 1
    assert ag.kappa is None and ag.kappa_linear is None and ag.kappa_quadratic is None
    assert ag.confusion[SCALE.index(BEYOND)][SCALE.index(BEYOND)] == 2
    assert cohen_kappa([], [], SCALE) is None


def test_kappa_and_confusion_match_scikit_learn() -> None:
    import numpy as np
    from sklearn.metrics import cohen_kappa_score
    from sklearn.metrics import confusion_matrix as sk_confusion

    rng = random.Random(0)
    checked = 0
    for case in range(300):
        n = rng.randint(1, 40)
        used = rng.sample(SCALE, rng.randint(1, len(SCALE)))  # some categories never occur
        a = [rng.choice(used) for _ in range(n)]
        # b agrees with a part of the time, so kappas spread over the whole range
        b = [x if rng.random() < case / 300 else rng.choice(used) for x in a]
        assert confusion_matrix(a, b, SCALE) == sk_confusion(a, b, labels=SCALE).tolist()
        for weights in (None, "linear", "quadratic"):
            ours = cohen_kappa(a, b, SCALE, weights)  # type: ignore[arg-type]
            with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scikit-learn warns where kappa is undefined
                theirs = cohen_kappa_score(a, b, labels=SCALE, weights=weights)
            if ours is None:
                assert np.isnan(theirs)
            else:
                assert ours == pytest.approx(float(theirs), abs=1e-12)
                checked += 1
    assert checked > 600  # most cases are defined


# --------------------------------------------------------------------------- studies


def _dataset(root: Path, n: int = 12, reverse: bool = False) -> Path:
    """A jsonl multiple-choice set whose images differ in size, with a designed MRR."""
    root.mkdir(parents=True)
    (root / "images").mkdir()
    rows = []
    for i in range(n):
        Image.new("RGB", (800 + 100 * i, 400 + 10 * i), (i * 20, 90, 160)).save(
            root / "images" / f"{i}.png"
        )
        rows.append(
            {
                "qid": f"q{i:03d}",
                "image": f"images/{i}.png",
                "question": f"What is written on sign {i}?",
                "options": ["47B", "478", "4B7", "17B"],
                "answer": LETTERS[i % 4],
                "mrr": ["1K", "2K", "4K"][i % 3],
                "note": f"hint {i}",
            }
        )
    if reverse:
        rows.reverse()
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    card = root / "card.yaml"
    card.write_text(
        "name: signs\nsource:\n  path: data.jsonl\nfields:\n  id: qid\n  image: image\n"
        "  question: question\n  choices: options\n  answer: answer\n  mrr: mrr\n"
        "  keep: [note]\nprompt: '{note}: {question}\\n{options}'\n"
    )
    return card


def test_sample_is_reproducible_self_contained_and_records_native_size(tmp_path: Path) -> None:
    card = _dataset(tmp_path / "data")
    a = sample_study(str(card), n=5, seed=0, study=tmp_path / "a")
    b = sample_study(str(card), n=5, seed=0, study=tmp_path / "b")
    # the same items from a copy of the data in another order
    shuffled = _dataset(tmp_path / "data-reversed", reverse=True)
    c = sample_study(str(shuffled), n=5, seed=0, study=tmp_path / "c")
    d = sample_study(str(card), n=5, seed=1, study=tmp_path / "d")
    ids = [it.id for it in a.items]
    assert len(ids) == 5 and [it.id for it in b.items] == ids
    assert sorted(it.id for it in c.items) == sorted(ids)
    assert sorted(it.id for it in d.items) != sorted(ids)
    assert (tmp_path / "a" / "items.jsonl").read_bytes() == (
        tmp_path / "b" / "items.jsonl"
    ).read_bytes()
    for it in a.items:
        i = int(it.id[1:])
        assert it.native == [(800 + 100 * i, 400 + 10 * i)] and it.native_side == 800 + 100 * i
        copy = tmp_path / "a" / it.images[0]
        assert copy.read_bytes() == (tmp_path / "data" / "images" / f"{i}.png").read_bytes()
        assert it.metadata == {"note": f"hint {i}"} and it.mrr == ["1K", "2K", "4K"][i % 3]
    assert a.spec.n_items == 5 and a.spec.n_seen == 12 and a.spec.ladder == DEFAULT_LADDER

    # the study is a task of its own: the benchmark's prompt, answers and options, its images
    task = load_task(str(a.card_path))
    samples = list(task.samples())
    assert [s.id for s in samples] == ids  # type: ignore[union-attr]
    source = {s.id: s for s in load_task(str(card)).samples()}  # type: ignore[union-attr]
    for s in samples:
        assert s.targets == source[s.id].targets and s.choices == source[s.id].choices  # type: ignore[union-attr]
        assert task.prompt_text(s) == load_task(str(card)).prompt_text(source[s.id])  # type: ignore[arg-type]

    # moving the study folder keeps it whole
    moved = tmp_path / "elsewhere" / "a"
    moved.parent.mkdir()
    (tmp_path / "a").rename(moved)
    assert len(list(load_task(str(Study(moved).card_path)).samples())) == 5

    # sampling again into a folder is a no-op for the same sample, refused for another
    assert [it.id for it in sample_study(str(card), n=5, seed=0, study=moved).items] == ids
    with pytest.raises(UsageError, match="already holds another sample"):
        sample_study(str(card), n=5, seed=2, study=moved)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    with pytest.raises(UsageError, match="not an empty folder"):
        sample_study(str(card), n=5, study=tmp_path / "busy")
    assert (tmp_path / "busy" / "x.txt").read_text() == "mine"


def test_labeller_order_rungs_and_rung_images(tmp_path: Path) -> None:
    study = sample_study(str(_dataset(tmp_path / "data")), n=12, study=tmp_path / "s")
    first = study.next_item("alice")
    assert first is not None and study.next_item("alice") == first  # nothing labelled yet
    order_a, order_b = [], []
    for who, order in (("alice", order_a), ("bob", order_b)):
        while (it := study.next_item(who)) is not None:
            order.append(it.id)
            study.add_label(it.id, who, "2K")
    assert sorted(order_a) == sorted(order_b) == sorted(it.id for it in study.items)
    # each labeller has an order of their own, not the dataset's nor the designed buckets'
    assert order_a != order_b and order_a != sorted(order_a)
    assert study.next_item("alice") is None
    assert study.next_item("carol", skip={order_a[0]}) is not None

    orders = {tuple(study.rung_order(it.id, "alice")) for it in study.items}
    assert all(sorted(o) == sorted(DEFAULT_LADDER.labels) for o in orders) and len(orders) > 1
    assert study.rung_order(first.id, "alice") == study.rung_order(first.id, "alice")

    big = max(study.items, key=lambda it: it.native_side)  # 1900 px wide
    for rung, side in (("1K", 756), ("2K", 1512)):
        with Image.open(study.render_rung(big.id, rung)) as im:
            assert max(im.size) == side
    assert study.render_rung(big.id, "4K") == study.dir / big.images[0]  # never upsampled
    with pytest.raises(UsageError, match="not a rung"):
        study.render_rung(big.id, "8K")


def test_labels_are_append_only_and_the_latest_counts(tmp_path: Path) -> None:
    study = sample_study(str(_dataset(tmp_path / "data", n=4)), n=4, study=tmp_path / "s")
    item = study.items[0].id
    study.add_label(item, "alice", "1K")
    study.add_label(item, "alice", "needs more than the original")
    study.add_label(item, "bob", "4k")
    assert [lab.label for lab in study.labels.labels(item=item, labeller="alice")] == ["1K", BEYOND]
    assert study.human_labels() == {"alice": {item: BEYOND}, "bob": {item: "4K"}}
    for bad_item, who, label, says in [
        ("nope", "alice", "1K", "has no item 'nope'"),
        (item, "", "1K", "labeller name"),
        (item, "alice", "3K", "not an MRR label"),
    ]:
        with pytest.raises(UsageError, match=says):
            study.add_label(bad_item, who, label)
    assert len(study.labels) == 3

    # an import is all or none: a bad row stores nothing and names its line
    csv = tmp_path / "labels.csv"
    other = study.items[1].id
    csv.write_text(
        f"Item,Labeller,MRR,Time\n{other},carol,2K,2026-01-02T10:00:00Z\n"
        f"{other},carol,12K,2026-01-02T10:01:00Z\n"
    )
    with pytest.raises(UsageError, match=r"labels.csv:3: '12K' is not an MRR label.*Nothing"):
        study.import_labels(csv)
    assert len(study.labels) == 3
    csv.write_text(
        f"item,mrr,time\n{other},2K,2026-01-02T10:00:00Z\n{other},no image,2026-01-02T10:05:00\n"
    )
    with pytest.raises(UsageError, match="needs the columns item, labeller and mrr"):
        study.import_labels(csv)
    assert study.import_labels(csv, labeller="carol") == (2, 0)
    assert study.import_labels(csv, labeller="carol") == (0, 2)  # times given: nothing twice
    assert study.human_labels()["carol"] == {other: NO_IMAGE}
    exported = tmp_path / "all.csv"
    assert study.export_labels(exported) == 5
    assert exported.read_text().splitlines()[0] == "item,labeller,mrr,time,source"


# The label store as ps3-eval wrote it before it moved onto ps3_eval.db (its own connections,
# a ``meta`` table with the schema version, no ``schema_versions`` or ``audit_log``).
_V1_LABELS = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    item TEXT NOT NULL,
    labeller TEXT NOT NULL,
    label TEXT NOT NULL,
    at TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    UNIQUE (item, labeller, label, at)
);
CREATE INDEX IF NOT EXISTS labels_by_labeller ON labels (labeller, item);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '{version}');
INSERT INTO labels (item, labeller, label, at, source) VALUES
    ('{a}', 'alice', '1K', '2026-01-02T10:00:00.000000Z', 'web'),
    ('{a}', 'alice', '4K', '2026-01-02T10:05:00.000000Z', 'web'),
    ('{b}', 'bob', 'no_image', '2026-01-02T11:00:00.000000Z', 'import:bob.csv');
"""


def test_a_study_labelled_before_the_shared_store_opens_as_it_is(tmp_path: Path) -> None:
    import sqlite3

    study_dir = tmp_path / "s"
    a, b = (it.id for it in sample_study(str(_dataset(tmp_path / "data", n=4)), n=4,
                                         study=study_dir).items[:2])  # fmt: skip
    with sqlite3.connect(study_dir / "labels.sqlite") as old:
        old.executescript(_V1_LABELS.format(version=1, a=a, b=b))
    old.close()

    with Study(study_dir) as study:
        assert study.human_labels() == {"alice": {a: "4K"}, "bob": {b: NO_IMAGE}}
        assert [lab.source for lab in study.labels.labels()] == ["web", "web", "import:bob.csv"]
        nxt = study.next_item("alice")
        assert nxt is not None and nxt.id != a  # alice labelled a already
        added = study.add_label(b, "alice", "2K", source="web")
        assert added.id == 4 and study.labels.db.schema_version("mrr") == 1
    # what the older code reads is still there, unchanged: it can read the file back
    with sqlite3.connect(study_dir / "labels.sqlite") as conn:
        assert conn.execute("SELECT value FROM meta").fetchall() == [("1",)]
        assert conn.execute("SELECT COUNT(*) FROM labels").fetchone() == (4,)
    conn.close()

    # a fresh store has the same label table, so older versions read new studies too
    fresh = LabelStore(tmp_path / "fresh.sqlite")
    fresh.close()
    ddl = "SELECT sql FROM sqlite_master WHERE name IN ('labels', 'labels_by_labeller', 'meta')"
    with (
        sqlite3.connect(tmp_path / "fresh.sqlite") as new,
        sqlite3.connect(study_dir / "labels.sqlite") as old,
    ):
        assert sorted(new.execute(ddl).fetchall()) == sorted(old.execute(ddl).fetchall())
    new.close()
    old.close()

    # an old-style file from a newer version is refused, not changed
    newer = tmp_path / "newer" / "labels.sqlite"
    newer.parent.mkdir()
    with sqlite3.connect(newer) as conn:
        conn.executescript(_V1_LABELS.format(version=2, a=a, b=b))
    conn.close()
    with pytest.raises(UsageError, match="newer ps3-eval"):
        LabelStore(newer)
    with sqlite3.connect(newer) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "schema_versions" not in tables  # the refused open rolled back whole


_WRITER = """
import sys, time
from pathlib import Path
from ps3_eval.mrr import LabelStore
path, who, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
store = LabelStore(path)
while not go.exists():
    time.sleep(0.01)
for i in range(60):
    store.add(f"item{i:03d}", who, "2K", source="test")
"""


def test_concurrent_writers_from_several_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    go = tmp_path / "go"
    LabelStore(path)
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), f"p{k}", str(go)])
        for k in range(4)
    ]
    go.touch()  # all four start writing at once
    # and threads of this process (a web server's) write at the same time
    store = LabelStore(path)
    threads = [
        threading.Thread(
            target=lambda k=k: [store.add(f"item{i:03d}", f"t{k}", "1K") for i in range(30)]
        )
        for k in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [p.wait(timeout=300) for p in procs] == [0, 0, 0, 0]
    labels = store.labels()
    assert len(labels) == 4 * 60 + 3 * 30 == len(store)
    latest = store.latest()
    assert all((f"item{i:03d}", f"p{k}") in latest for k in range(4) for i in range(60))
    assert store.labellers() == ["p0", "p1", "p2", "p3", "t0", "t1", "t2"]


def test_report_from_labels_and_designed_mrr(tmp_path: Path) -> None:
    study = sample_study(str(_dataset(tmp_path / "data")), n=6, study=tmp_path / "s")
    ids = [it.id for it in study.items]
    # alice labels everything, bob half; item 0 is beyond the ladder for alice
    alice = {ids[0]: BEYOND, ids[1]: "1K", ids[2]: "2K", ids[3]: "4K", ids[4]: "1K", ids[5]: "1K"}
    bob = {ids[1]: "2K", ids[2]: "2K", ids[3]: "4K"}
    for who, labels in (("alice", alice), ("bob", bob)):
        for item, lab in labels.items():
            study.add_label(item, who, lab)
    rep = build_mrr_report([study.dir], out=tmp_path / "rep", seed=3)
    for path in (rep.html, rep.figure8, rep.json, tmp_path / "rep" / "figure8.html"):
        assert path.is_file() and path.stat().st_size > 0
    with Image.open(rep.figure8) as im:
        assert im.format == "PNG" and im.width > 400
    page = rep.html.read_text()
    assert "approximate" in page and "Figure 8" in page and "human:alice" in page

    human = next(r for r in rep.rows if r.source == "human")
    # an item's MRR is the mean of its labellers' rungs; beyond is counted apart
    per_item = {ids[1]: (756 + 1512) / 2, ids[2]: 1512, ids[3]: 3780, ids[4]: 756, ids[5]: 756}
    mean, low, high = bootstrap_ci([v for _, v in sorted(per_item.items())], seed=3)
    assert (human.mean, human.ci_low, human.ci_high) == (mean, low, high)
    assert human.n_valued == 5 and human.n_items == 6 and human.labellers == 2
    assert human.counts == {NO_IMAGE: 0, "1K": 3, "2K": 3, "4K": 2, BEYOND: 1}
    natives = sorted(it.native_side for it in study.items)
    assert human.median_native == (natives[2] + natives[3]) / 2
    designed = next(r for r in rep.rows if r.source == "designed")
    assert designed.n_valued == 6
    data = json.loads(rep.json.read_text())
    assert {r["source"] for r in data["rows"]} == {"human", "designed"}
    assert any(p["benchmark"] == "4KPro" for p in data["paper_figure8"])
    pairs = {(a.a, a.b): a for a in study_agreement(study)}
    assert set(pairs) == {
        ("designed", "human:alice"),
        ("designed", "human:bob"),
        ("human:alice", "human:bob"),
    }
    assert pairs[("human:alice", "human:bob")].n == 3
    assert pairs[("human:alice", "human:bob")].observed == pytest.approx(2 / 3)

    # names and labels from people reach the page as text, never as markup
    study.add_label(ids[0], "<img src=x onerror=alert(1)>", "1K")
    page = build_mrr_report([study.dir], out=tmp_path / "rep2").html.read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
