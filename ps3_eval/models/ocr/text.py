"""Recognised text and matching it to answer options: normalisation, fuzzy similarity, tiers.

Pure string functions (no model), used by the OCR reader to pick the option its reading supports,
to steer its selection toward text resembling an option, and to find what a question names.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from ps3_eval.models.ocr.geometry import Box

__all__ = [
    "TextLine",
    "compact",
    "match_option",
    "question_anchors",
    "sort_lines",
    "text_similarity",
]


@dataclass
class TextLine:
    """One recognised line of text.

    Attributes:
        text: The recognised string.
        score: Recogniser confidence in ``[0, 1]``.
        box: Axis-aligned bounding box ``(x0, y0, x1, y1)`` in pixel
            coordinates of the ORIGINAL image.
    """

    text: str
    score: float
    box: Box


def sort_lines(lines: list[TextLine]) -> list[TextLine]:
    """Sorts lines into reading order (rows by vertical centre, then x)."""
    if not lines:
        return []
    heights = sorted(line.box[3] - line.box[1] for line in lines)
    row_tol = max(1.0, 0.5 * heights[len(heights) // 2])
    ordered = sorted(lines, key=lambda ln: (ln.box[1] + ln.box[3]) / 2)
    rows: list[list[TextLine]] = []
    last_y = -math.inf
    for line in ordered:
        y = (line.box[1] + line.box[3]) / 2
        if not rows or y - last_y > row_tol:
            rows.append([])
        rows[-1].append(line)
        last_y = y
    return [ln for row in rows for ln in sorted(row, key=lambda ln: ln.box[0])]


def _norm(text: str) -> str:
    """Case-folds, NFKC-normalises and collapses whitespace."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.split())


def compact(text: str) -> str:
    """Keeps only letters and digits of the normalised text."""
    return "".join(ch for ch in _norm(text) if ch.isalnum())


def _token_pattern(option_norm: str) -> re.Pattern[str]:
    body = r"\s*".join(re.escape(tok) for tok in option_norm.split(" "))
    return re.compile(rf"(?<![^\W_]){body}(?![^\W_])")


def _tokens(text: str) -> list[str]:
    """Runs of letters/digits of the normalised text."""
    return re.findall(r"[^\W_]+", _norm(text))


def _spans(tokens: list[str], max_width: int) -> list[str]:
    """All concatenations of 1..max_width consecutive tokens."""
    return [
        "".join(tokens[i : i + w])
        for i in range(len(tokens))
        for w in range(1, min(max_width, len(tokens) - i) + 1)
    ]


def text_similarity(pattern: str, text: str) -> float:
    """Fuzzy similarity of ``pattern`` to the best-matching word span of ``text``.

    Both strings are split into runs of letters/digits (case-folded); the
    pattern's runs are concatenated and compared with every concatenation of
    consecutive runs of the text (so word boundaries are respected: ``"17B"``
    inside ``"417B"`` costs an edit). The score is ``1 - d / max(len)`` for the
    best span, ``d`` being the Levenshtein distance.

    Args:
        pattern: The string searched for (e.g. an answer option).
        text: The text searched in (e.g. a recognised line).

    Returns:
        Similarity in ``[0, 1]`` (0 if either string has no letters/digits).
    """
    p = "".join(_tokens(pattern))
    if not p:
        return 0.0
    best = 0.0
    for span in _spans(_tokens(text), len(_tokens(pattern)) + 2):
        best = max(best, 1.0 - Levenshtein.distance(p, span) / max(len(p), len(span)))
    return best


def match_option(
    lines: list[TextLine],
    options: list[str],
    *,
    min_similarity: float = 0.75,
    min_margin: float = 0.15,
) -> tuple[int | None, float]:
    """Picks the answer option best supported by the recognised text.

    Matching is tiered; the first tier that yields a unique winner decides:

    1. Exact token match: the normalised option (case-folded,
       whitespace-collapsed) occurs in a line, or in all lines joined, with
       word boundaries on both sides.
    2. Compact match: after dropping everything but letters and digits, the
       option equals a run of consecutive words of a line or of all lines
       joined (``"K7Q 482"`` or ``"K7Q482"`` for ``"K7Q-482"``).
    3. Fuzzy match: the option with the highest :func:`text_similarity` to any
       line wins, provided the similarity is at least ``min_similarity`` and
       beats the runner-up option by at least ``min_margin``.

    In tiers 1 and 2, if several options match and one contains all others
    (e.g. ``"MILK"`` and ``"MILK 2L"``), the longest wins; if unrelated options
    both match (e.g. ``"47B"`` and ``"478"`` both visible), the answer is
    ambiguous and the function abstains. It never guesses.

    Args:
        lines: Recognised text lines (only ``text`` and ``score`` are used).
        options: Candidate answer strings.
        min_similarity: Minimum fuzzy similarity accepted in tier 3.
        min_margin: Minimum similarity lead over the runner-up in tier 3.

    Returns:
        ``(index, confidence)``: the index into ``options`` of the chosen
        option, or ``None`` when no option is matched unambiguously, and a
        confidence in ``[0, 1]`` (0 when abstaining).
    """
    if not options or not lines:
        return None, 0.0
    texts = [(_norm(ln.text), float(ln.score)) for ln in lines]
    joined = " ".join(t for t, _ in texts)
    min_score = min(s for _, s in texts)
    texts.append((joined, min_score))
    opt_norm = [_norm(o) for o in options]
    opt_compact = [compact(o) for o in options]

    def decide(hits: dict[int, float], key: list[str]) -> tuple[int | None, float] | None:
        if not hits:
            return None
        longest = max(hits, key=lambda i: len(key[i]))
        if all(key[i] in key[longest] for i in hits):
            return longest, hits[longest]
        return None, 0.0

    # Tier 1: exact, whitespace-normalised, token-bounded.
    hits: dict[int, float] = {}
    for i, opt in enumerate(opt_norm):
        if not opt:
            continue
        pat = _token_pattern(opt)
        for text, score in texts:
            if pat.search(text):
                hits[i] = max(hits.get(i, 0.0), score)
    verdict = decide(hits, opt_norm)
    if verdict is not None:
        idx, score = verdict
        return idx, (0.5 + 0.5 * score) if idx is not None else 0.0

    # Tier 2: letters and digits only, whole word spans (punctuation/spaces
    # inside the option may be missing or different in the OCR output).
    hits = {}
    for i, opt in enumerate(opt_compact):
        if not opt:
            continue
        for text, score in texts:
            if opt in _spans(_tokens(text), len(_tokens(text))):
                hits[i] = max(hits.get(i, 0.0), score)
    verdict = decide(hits, opt_compact)
    if verdict is not None:
        idx, score = verdict
        return idx, (0.45 + 0.45 * score) if idx is not None else 0.0

    # Tier 3: fuzzy, only if clearly better than the runner-up.
    sims = [max((text_similarity(opt, t) for t, _ in texts), default=0.0) for opt in options]
    order = sorted(range(len(options)), key=lambda i: sims[i], reverse=True)
    best = order[0]
    runner_up = sims[order[1]] if len(order) > 1 else 0.0
    if sims[best] < min_similarity or sims[best] - runner_up < min_margin:
        return None, 0.0
    margin_factor = min(1.0, (sims[best] - runner_up) / (2 * min_margin))
    return best, 0.8 * sims[best] * margin_factor


_OPTION_LINE = re.compile(r"^\s*[A-Z][.)]\s")
_QUOTED = re.compile(r"['\"\u2018\u201c]([^'\"\u2019\u201d\n]{2,60})['\"\u2019\u201d]")


def question_anchors(prompt: str) -> list[str]:
    """Text a multiple-choice prompt's question names: what the answer should be found near.

    The question is the prompt up to its first option line (``"A. ..."``). Anchors are its quoted
    strings (``'Brasa'``) and its capitalised words that do not begin a sentence (``"Save"`` in
    ``"the sign for Save"``), at least three characters long, in order and without repeats.

    Args:
        prompt: The prompt text (question, option lines, instruction).

    Returns:
        The anchors; empty when the question names nothing.
    """
    question: list[str] = []
    for line in prompt.splitlines():
        if _OPTION_LINE.match(line):
            break
        question.append(line)
    text = " ".join(question)
    found = [m.strip() for m in _QUOTED.findall(text)]
    words = text.split()
    for i, raw in enumerate(words):
        word = raw.strip(",.;:!?()[]'\"\u2018\u2019\u201c\u201d")
        starts_sentence = i == 0 or words[i - 1].endswith((".", "?", "!", ":"))
        if len(word) >= 3 and word[0].isupper() and not starts_sentence:
            found.append(word)
    out: list[str] = []
    for item in found:
        if len(compact(item)) >= 3 and item not in out:
            out.append(item)
    return out
