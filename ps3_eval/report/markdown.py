"""The Markdown report: the same tables for a README or a pull request, figures as PNG files."""

from __future__ import annotations

from ps3_eval.paper import PaperMatch
from ps3_eval.report.page import breakdown_table, paper_table, summary_table
from ps3_eval.report.rows import RunRow


def _cell(text: str) -> str:
    """A table cell that renders as the text: no pipe splits it, no markup runs."""
    for a, b in (("\\", "\\\\"), ("|", "\\|"), ("<", "&lt;"), (">", "&gt;"), ("\n", " ")):
        text = text.replace(a, b)
    for ch in "*_`[]":
        text = text.replace(ch, "\\" + ch)
    return text


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(map(_cell, headers)) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(map(_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(
    title: str,
    rows: list[RunRow],
    findings: list[str],
    intro: str = "",
    figures: list[tuple[str, str]] | None = None,
    paper: list[tuple[str, PaperMatch]] | None = None,
    paper_notes: list[str] | None = None,
) -> str:
    """The report as Markdown; ``figures`` are (title, relative image path) pairs."""
    parts = [f"# {_cell(title)}"]
    if intro:
        parts.append(_cell(intro))
    incomplete = [r for r in rows if not r.complete]
    if incomplete:
        parts.append(
            f"> **{len(incomplete)} of {len(rows)} runs are incomplete:** "
            + "; ".join(f"{_cell(r.label)}: {r.status}" for r in incomplete)
        )
    if findings:
        parts.append("## What the numbers say\n\n" + "\n".join(f"- {_cell(f)}" for f in findings))
    parts.append("## Scores, tokens, latency\n\n" + _table(*summary_table(rows)))
    if paper is not None:
        body = (
            _table(*paper_table(paper))
            if paper
            else "No run matches a row of the requested paper tables."
        )
        notes = "".join(f"> {_cell(n)}\n\n" for n in paper_notes or [])
        parts.append(
            "## Beside the paper\n\n" + notes + body + "\n\nOn the paper's scale; delta is "
            "measured minus paper; whether the paper value lies inside the run's 95% CI is said "
            "only for a run of the row's own model."
        )
    if any(r.by_mrr for r in rows):
        parts.append("## Per designed MRR bucket\n\n" + _table(*breakdown_table(rows, "by_mrr")))
    if any(r.by_category for r in rows):
        parts.append("## Per category\n\n" + _table(*breakdown_table(rows, "by_category")))
    if figures:
        parts.append(
            "## Figures\n\n" + "\n\n".join(f"![{_cell(t)}]({path})" for t, path in figures)
        )
    runs = "\n".join(f"- {_cell(r.label)}: {_cell(str(r.dir))}" for r in rows)
    parts.append("## Runs\n\n" + runs)
    return "\n\n".join(parts) + "\n"
