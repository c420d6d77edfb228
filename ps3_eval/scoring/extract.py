"""Answer extraction: pure functions from a model's text to an option letter.

A letter is only taken when the text uses it as a letter. English puts single letters in ordinary
prose: the article "a"/"A" ("a plate", "A car"), the pronoun "I" ("I think", a valid letter once
there are nine options, as in MMMU-Pro's ten), and letters that are negated ("not A") or hedged
("A or B"). Each rule below guards against them.
"""

from __future__ import annotations

import re
import string

_OPEN_Q = "'\"\u2018\u201c`"
_CLOSE_Q = "'\"\u2019\u201d`"
_ONLY_LETTER = re.compile(rf"^\s*[\(\[]?\s*[{_OPEN_Q}]?([A-Za-z])[{_CLOSE_Q}]?\s*[\)\].:]?\s*$")
# A letter in a stated answer: bracketed or quoted in any case, "B" in capitals, or a lower-case
# "b" that ends the text or is closed by punctuation ("answer: b." / "answer is b)"). Markdown
# bold allowed.
_LETTER = (
    r"\**\s*(?:[\(\[]\s*(?P<br>[A-Za-z])\s*[\)\]]"
    rf"|[{_OPEN_Q}](?P<qt>[A-Za-z])[{_CLOSE_Q}]"
    r"|(?P<up>[A-Z])(?![A-Za-z0-9'])"
    r"|(?P<low>[a-z])(?=\s*\**\s*(?:[.)\]:]|$)))"
)
# Keywords in any case, the letter itself case-sensitive (scoped flags keep "a" from being "A").
# `colon` marks a phrase after which a sentence starts ("Answer: A ..."), where a capital "A" may
# be the article; after "is" a capital "A" is a letter. `named`: "the answer is option A".
_ANSWER_IS = re.compile(
    r"(?i:\b(?:(?:final\s+|correct\s+)?answer|correct\s+(?:option|choice))\s*"
    r"(?:is|would\s+be|=|(?P<colon>:))?\s*(?P<colon2>:)?\s*(?P<named>option\s*|choice\s*)?)"
    + _LETTER
)
_OPTION_NAMED = re.compile(r"(?i:\b(?P<named>option|choice)\s*)" + _LETTER)
# "A or B", "A/B", "A and C", "(B) (C)" right after a stated letter: the text hedges between
# options.
_HEDGE = re.compile(
    r"\s*\**\s*(?:(?:,|/|&|\bor\b|\band\b)\s*[\(\[]?\s*[A-Z](?![A-Za-z0-9'])"
    r"|[\(\[]\s*[A-Z]\s*[\)\]])"
)
_LEADING = re.compile(r"^\s*(?:[\(\[]?([A-Z])[\)\].:]|\(?([a-z])\))\s+")
_STANDALONE = re.compile(
    r"(?<![A-Za-z0-9'])([A-Z])(?![A-Za-z0-9'])"
    rf"|(?<![A-Za-z0-9])[{_OPEN_Q}]([A-Z])[{_CLOSE_Q}](?![A-Za-z0-9])"
)
# After "A" or "I": a lower-case word makes it the article or the pronoun ("A car", "I think").
_PROSE_AFTER = re.compile(r"\s+(?!(?:or|and|nor)\b)[a-z]{1,}")
_NEXT_WORD = re.compile(r"\s+([a-z]+)")
# After an answer phrase a letter is read whatever follows, except the pronoun "I" before a verb
# ("Answer: I don't know") and, where a sentence starts, the article "A" before a word that is not
# one of these (the article comes before a noun or an adjective, never before "because" or "is").
_PRONOUN_NEXT = frozenset(
    "think believe don do did can cannot cant could would will should must might may am was "
    "have had guess see saw need feel suppose assume apologize hope notice noticed observe know "
    "really also just only still personally honestly actually probably".split()
)
_LETTER_NEXT = frozenset(
    "because since as is was which that it in on with for from of here there this the given due "
    "per according based but so while where when matches match shows corresponds fits seems "
    "appears best correctly accurately describes represents reflects indicates".split()
)
_NEGATED = re.compile(r"\b(?:not|no|isn't|never)\s+(?:option\s+)?$", re.IGNORECASE)


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def _word_or_letter(m: re.Match[str], text: str) -> bool:
    """True when a capital "A" / "I" right after an answer phrase is the article or the pronoun."""
    letter = m.group("up")
    if letter not in ("A", "I"):
        return False
    nxt = _NEXT_WORD.match(text, m.end("up"))
    if nxt is None:
        return False  # end of text, punctuation, or a capitalised word: a letter
    word = nxt.group(1)
    if letter == "I":
        return word in _PRONOUN_NEXT  # "Answer: I don't know" / "the answer is I because ..."
    groups = m.groupdict()
    if groups.get("named"):
        return False  # "option A": always the letter
    starts_sentence = groups.get("colon") or groups.get("colon2")
    return bool(starts_sentence and word not in _LETTER_NEXT)


def _stated(pattern: re.Pattern[str], text: str, letters: str) -> set[str] | None:
    """Letters a pattern states; ``None`` when the text hedges between several."""
    found: set[str] = set()
    for m in pattern.finditer(text):
        raw = m.group("br") or m.group("qt") or m.group("up") or m.group("low")
        letter = raw.upper()
        if letter not in letters:
            continue
        if _HEDGE.match(text, m.end()):
            return None
        if m.group("up") and _word_or_letter(m, text):
            continue  # "Answer: A plate reading 4B7", "the answer is I think C"
        found.add(letter)
    return found


def _standalone(prediction: str, letters: str) -> set[str]:
    out = set()
    for m in _STANDALONE.finditer(prediction):
        letter = m.group(1) or m.group(2)
        if letter not in letters:
            continue
        if m.group(1) and letter in "AI" and _PROSE_AFTER.match(prediction, m.end()):
            continue
        if _NEGATED.search(prediction, 0, m.start()):
            continue
        out.add(letter)
    return out


def extract_choice(prediction: str, choices: list[str]) -> str | None:
    """Return the option letter a free-text answer picks, or ``None`` when it picks none or several.

    Tried in order: a bare letter (``B``, ``(b)``, ``B.``, ``'B'``); a stated answer (``The answer
    is B``, ``Answer: (C)``, ``the correct option is b.``, ``The answer is A because ...``); a
    named option (``Option B``); a leading ``B.`` / ``B)`` / ``b)``; the text of exactly one option
    (as a whole word; the longest when one contains another); exactly one distinct capital letter
    standing alone (or quoted). The article "A" and the pronoun "I" before a lower-case word,
    negated letters and hedges ("A or B", "(A) and (B)", "(B) (C)") never count; after an answer
    phrase only "I" before a verb ("Answer: I don't know") and, where a sentence starts, "A"
    before a noun ("Answer: A red car") are taken for words.
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
            # "(A) and (B)", "(B) (C)": a leading letter followed by another hedges too.
            return None if _HEDGE.match(prediction, m.end()) else letter
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
