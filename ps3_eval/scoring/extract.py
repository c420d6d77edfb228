"""Answer extraction: pure functions from a model's text to an option letter.

A letter is only taken when the text uses it as a letter. English puts single letters in ordinary
prose: the article "a"/"A" ("a plate", "A car"), the pronoun "I" ("I think", a valid letter once
there are nine options, as in MMMU-Pro's ten), and letters that are negated ("not A") or hedged
("A or B"). Each rule below guards against them.
"""

from __future__ import annotations

import re
import string

_ONLY_LETTER = re.compile(r"^\s*[\(\[]?\s*([A-Za-z])\s*[\)\].:]?\s*$")
# A letter in a stated answer: bracketed in any case, "B" in capitals, or a lower-case "b" that
# ends the text or is closed by punctuation ("answer: b." / "answer is b)"). Markdown bold allowed.
_LETTER = (
    r"\**\s*(?:[\(\[]\s*(?P<br>[A-Za-z])\s*[\)\]]"
    r"|(?P<up>[A-Z])(?![A-Za-z0-9'])"
    r"|(?P<low>[a-z])(?=\s*\**\s*(?:[.)\]:]|$)))"
)
# Keywords in any case, the letter itself case-sensitive (scoped flags keep "a" from being "A").
_ANSWER_IS = re.compile(
    r"(?i:\b(?:(?:final\s+|correct\s+)?answer|correct\s+(?:option|choice))\s*"
    r"(?:is|would\s+be|:|=)?\s*:?\s*(?:option\s*|choice\s*)?)" + _LETTER
)
_OPTION_NAMED = re.compile(r"(?i:\b(?:option|choice)\s*)" + _LETTER)
# "A or B", "A/B", "A and C" right after a stated letter: the text hedges between options.
_HEDGE = re.compile(r"\s*\**\s*(?:,|/|&|\bor\b|\band\b)\s*[\(\[]?\s*[A-Z](?![A-Za-z0-9'])")
_LEADING = re.compile(r"^\s*(?:[\(\[]?([A-Z])[\)\].:]|\(?([a-z])\))\s+")
_STANDALONE = re.compile(r"(?<![A-Za-z0-9'])([A-Z])(?![A-Za-z0-9'])")
# After "A" or "I": a lower-case word makes it the article or the pronoun ("A car", "I think").
_PROSE_AFTER = re.compile(r"\s+(?!(?:or|and|nor)\b)[a-z]{1,}")
_NEGATED = re.compile(r"\b(?:not|no|isn't|never)\s+(?:option\s+)?$", re.IGNORECASE)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _stated(pattern: re.Pattern[str], text: str, letters: str) -> set[str] | None:
    """Letters a pattern states; ``None`` when the text hedges between several."""
    found: set[str] = set()
    for m in pattern.finditer(text):
        raw = m.group("br") or m.group("up") or m.group("low")
        letter = raw.upper()
        if letter not in letters:
            continue
        if m.group("up") and letter in "AI" and _PROSE_AFTER.match(text, m.end("up")):
            continue  # "the answer is A plate reading 4B7", "the answer is I think C"
        if _HEDGE.match(text, m.end()):
            return None
        found.add(letter)
    return found


def _standalone(prediction: str, letters: str) -> set[str]:
    out = set()
    for m in _STANDALONE.finditer(prediction):
        letter = m.group(1)
        if letter not in letters:
            continue
        if letter in "AI" and _PROSE_AFTER.match(prediction, m.end()):
            continue
        if _NEGATED.search(prediction, 0, m.start()):
            continue
        out.add(letter)
    return out


def extract_choice(prediction: str, choices: list[str]) -> str | None:
    """Return the option letter a free-text answer picks, or ``None`` when it picks none or several.

    Tried in order: a bare letter (``B``, ``(b)``, ``B.``); a stated answer (``The answer is B``,
    ``Answer: (C)``, ``the correct option is b.``); a named option (``Option B``); a leading
    ``B.`` / ``B)`` / ``b)``; the text of exactly one option; exactly one distinct capital letter
    standing alone. Articles, the pronoun "I", negated letters and hedges ("A or B") never count.
    """
    letters = string.ascii_uppercase[: len(choices)]
    if not letters:
        return None
    m = _ONLY_LETTER.match(prediction)
    if m and m.group(1).upper() in letters:
        return str(m.group(1).upper())
    for pattern in (_ANSWER_IS, _OPTION_NAMED):
        stated = _stated(pattern, prediction, letters)
        if stated is None or len(stated) > 1:
            return None
        if stated:
            return stated.pop()
    m = _LEADING.match(prediction)
    if m:
        letter = (m.group(1) or m.group(2)).upper()
        if letter in letters:
            return letter
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
    alone = _standalone(prediction, letters)
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
