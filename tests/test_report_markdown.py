"""The Markdown report renders every value from data and models as text, read by a real parser."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from markdown_it import MarkdownIt

from ps3_eval.report import Labelled, render_markdown, report_rows
from ps3_eval.runner import evaluate
from tests.conftest import write_mc_dataset

# A pipe would split a cell, a backslash would escape what follows, the rest is markup.
CATEGORIES = ["a | b", "c \\| d", "<b>e</b> *f* `g` [h](i) _j_"]
LABELS = ["run | one", "run \\ <i>two</i>"]


class _Tables(HTMLParser):
    """The text of every table cell of rendered HTML, table by table, row by row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_table_cells_read_back_as_the_data_said(tmp_path: Path) -> None:
    card = write_mc_dataset(tmp_path / "toy", n=6)
    data = card.parent / "data.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    for i, row in enumerate(rows):
        row["cat"] = CATEGORIES[i % 3]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dirs = []
    for i, accuracy in enumerate((0.5, 1.0)):
        out = tmp_path / f"runs{i}"
        run = evaluate(str(card), "scripted", model_args={"accuracy": accuracy}, output_dir=out)
        dirs.append(out / run.run_id)
    runs, _ = report_rows([Labelled(d, label) for d, label in zip(dirs, LABELS, strict=True)])
    text = render_markdown("title | with a pipe", runs, findings=["a | finding"])

    md = MarkdownIt("commonmark").enable("table")
    parsed = _Tables()
    parsed.feed(md.render(text))
    # Only the tables' own markup: no bold, italics, code, link or raw HTML from the data.
    assert {"b", "i", "em", "strong", "code", "a"}.isdisjoint(parsed.tags)
    main, mrr, category = parsed.tables
    assert len(main[0]) == 16 and all(len(r) == 16 for r in main)  # no cell split by a pipe
    assert [r[0] for r in main[1:]] == LABELS
    assert [r[0] for r in category[1:]] == [r[0] for r in mrr[1:]] == LABELS
    assert category[0] == ["run", *sorted(CATEGORIES)]
    assert all(len(r) == 1 + len(CATEGORIES) for r in category)
    # Each category holds two of the six samples: the sure run gets both right.
    assert category[2][1:] == ["1.000 (n=2)"] * 3
    html = md.render(text)
    assert "<h1>title | with a pipe</h1>" in html and "<li>a | finding</li>" in html
