"""Answer extraction: pure functions from a model's text to an option letter."""

from __future__ import annotations

import re
import string

_ONLY_LETTER = re.compile(r"^\s*[\(\[]?\s*([A-Za-z])\s*[\)\].:]?\s*$")
_STATED = re.compile(
    r"(?:answer|option|choice)\s*(?:is|:)?\s*(?:option\s*)?[\(\[]?\s*([A-Z])\b(?![a-z'])",
    re.IGNORECASE,
)
_LEADING = re.compile(r"^\s*[\(\[]?([A-Z])[\)\].:]\s+")
# A capital letter on its own; "A" followed by an ordinary lowercase word is the article.
_STANDALONE = re.compile(r"(?<![A-Za-z'])([A-Z])(?![A-Za-z'])")
_ARTICLE = re.compile(r"\s+(?!(?:or|and|nor)\b)[a-z]{2,}")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def extract_choice(prediction: str, choices: list[str]) -> str | None:
    """Return the option letter a free-text answer picks, or ``None`` when it picks none or several.

    Tried in order: a bare letter (``B``, ``(b)``, ``B.``); a stated answer (``The answer is B``,
    ``Answer: (C)``); a leading ``B.``/``B)``; the text of exactly one option; exactly one distinct
    capital letter standing alone (the article ``A`` before a lowercase word does not count).
    """
    letters = string.ascii_uppercase[: len(choices)]
    if not letters:
        return None
    m = _ONLY_LETTER.match(prediction)
    if m and m.group(1).upper() in letters:
        return str(m.group(1).upper())
    stated: set[str] = {s.upper() for s in _STATED.findall(prediction) if s.upper() in letters}
    if len(stated) == 1:
        return stated.pop()
    m = _LEADING.match(prediction)
    if m and m.group(1) in letters:
        return str(m.group(1))
    text = _norm(prediction)
    hits = [
        (i, c)
        for i, c in enumerate(choices)
        if _norm(c) and re.search(rf"(?<!\w){re.escape(_norm(c))}(?!\w)", text)
    ]
    # "MILK 2L" also contains "2L": keep only matches not contained in a longer matching option.
    hits = [
        (i, c)
        for i, c in hits
        if not any(j != i and _norm(c) in _norm(o) and len(o) > len(c) for j, o in hits)
    ]
    if len(hits) == 1:
        return letters[hits[0][0]]
    alone: set[str] = {
        m.group(1)
        for m in _STANDALONE.finditer(prediction)
        if m.group(1) in letters and not (m.group(1) == "A" and _ARTICLE.match(prediction, m.end()))
    }
    if len(alone) == 1 and not hits:
        return alone.pop()
    return None


def letter_of(answer: str, choices: list[str], answer_format: str) -> str:
    """Normalise a dataset's answer to an option letter (``letter``, ``index`` or ``text``).

    Raises:
        ValueError: when the answer does not name one of the choices.
    """
    letters = string.ascii_uppercase[: len(choices)]
    value = str(answer).strip()
    if answer_format == "index":
        idx = int(value)
        if not 0 <= idx < len(choices):
            raise ValueError(f"answer index {idx} is outside 0..{len(choices) - 1}")
        return letters[idx]
    if answer_format == "text":
        for i, c in enumerate(choices):
            if _norm(c) == _norm(value):
                return letters[i]
        raise ValueError(f"answer '{value}' is not one of the choices")
    m = _ONLY_LETTER.match(value)
    if not m or m.group(1).upper() not in letters:
        raise ValueError(f"answer '{value}' is not a letter in {letters[0]}..{letters[-1]}")
    return m.group(1).upper()


def normalize_text(text: str) -> str:
    """Lower-case, drop punctuation and articles, fold white space (SQuAD-style)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())
