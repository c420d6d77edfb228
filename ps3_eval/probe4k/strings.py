"""Random strings for the scenes, and the near-miss answer options built around one hidden centre.

The options are near misses of one another (character swaps, visually similar substitutions such
as 0/8/B or 5/S, transpositions), built around a hidden "centre" string so that every option, the
true one included, is one edit away from it: the correct option is not the one closest to all the
others, so the choices alone give nothing away.
"""

from __future__ import annotations

import random
from collections.abc import Callable

LETTERS = "ABCDEFGHJKMNPRSTUVWXYZ"  # no I/L/O/Q: they are ambiguous with 1/1/0/0 in print
# No zero in letter/digit codes: PP-OCR reads "0" between letters as "O" at any
# resolution (a font/OCR quirk, not a resolution effect), which broke items.
DIGITS = "123456789"
# Visually similar substitutions. Every value stays inside LETTERS/DIGITS or
# the lower-case pseudo-word alphabet, so a near miss never introduces I/L/O.
CONFUSABLE: dict[str, str] = {
    "0": "8D", "1": "7", "2": "Z7", "3": "8", "4": "A9", "5": "S6", "6": "G5", "7": "1",
    "8": "B30", "9": "4", "A": "4", "B": "8E", "C": "G", "D": "0B", "E": "F", "F": "E",
    "G": "6C", "H": "N", "K": "X", "M": "N", "N": "MH", "P": "R", "R": "P", "S": "5",
    "T": "Y", "U": "V", "V": "UY", "W": "V", "X": "K", "Y": "V", "Z": "2",
    "a": "oe", "e": "ca", "c": "e", "o": "ae", "n": "hmr", "m": "n", "h": "nb", "b": "hd",
    "d": "b", "r": "n", "u": "vn", "v": "u", "t": "f", "f": "t", "k": "x", "x": "k",
    "s": "z", "z": "s", "g": "q", "q": "g", "p": "q", "w": "v",
}  # fmt: skip
SYLLABLES = (
    "ka", "ve", "dor", "ran", "mu", "tes", "bra", "gon", "pe", "sun", "tar", "vo", "nex",
    "ha", "zer", "cu", "mon", "det", "bu", "fen", "gra", "wo", "ret", "sa", "kor", "pu",
)  # fmt: skip


def norm(text: str) -> str:
    """Upper-case letters and digits only: how options are told apart and found in other text."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def code(rng: random.Random, pattern: str) -> str:
    """Random string: 'A' letter, '9' digit, '*' letter or digit, others literal."""
    out = []
    for ch in pattern:
        if ch == "A":
            out.append(rng.choice(LETTERS))
        elif ch == "9":
            out.append(rng.choice(DIGITS))
        elif ch == "*":
            out.append(rng.choice(LETTERS + DIGITS))
        else:
            out.append(ch)
    return "".join(out)


def word(rng: random.Random, syllables: tuple[int, int] = (2, 3)) -> str:
    """A capitalised pseudo-word of 2-3 (or ``syllables``) random syllables."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(*syllables))).capitalize()


def _same_class(a: str, b: str) -> bool:
    return a.isdigit() == b.isdigit()


def _one_edit_variants(s: str, keep_class: bool) -> dict[str, int]:
    """All strings one substitution or adjacent transposition away, keyed to the edit position."""
    out: dict[str, int] = {}
    has_letters = any(c.isalpha() for c in s)
    for i, ch in enumerate(s):
        for sub in CONFUSABLE.get(ch, ""):
            if keep_class and not _same_class(ch, sub):
                continue
            if sub == "0" and has_letters:
                continue  # see DIGITS
            if i == 0 and ch.isupper() != sub.isupper() and s[:1].isalpha():
                continue  # keep a capitalised word capitalised
            out.setdefault(s[:i] + sub + s[i + 1 :], i)
        if i + 1 < len(s) and s[i + 1] != ch and ch.isalnum() and s[i + 1].isalnum():
            if i == 0 and ch.isupper() != s[1].isupper():
                continue
            out.setdefault(s[:i] + s[i + 1] + ch + s[i + 2 :], i)
    return out


def near_misses(
    rng: random.Random, make: Callable[[random.Random], str], keep_class: bool = False
) -> tuple[str, list[str]]:
    """Draws a truth and three near misses, symmetric around a hidden centre.

    All four strings are single edits of one random centre string, spread over
    different character positions where possible, and pairwise distinct even
    after case and punctuation are dropped.

    Returns:
        ``(truth, options)``: the four options in random order, the truth among them.
    """
    for _ in range(200):
        centre = make(rng)
        variants = _one_edit_variants(centre, keep_class)
        by_pos: dict[int, list[str]] = {}
        for v, pos in sorted(variants.items()):
            if norm(v) != norm(centre):
                by_pos.setdefault(pos, []).append(v)
        positions = sorted(by_pos)
        rng.shuffle(positions)
        picked: list[str] = []
        # One option per edit position first, then fill up from any position.
        pool = [rng.choice(by_pos[p]) for p in positions]
        pool += [v for p in positions for v in by_pos[p]]
        for v in pool:
            if all(norm(v) != norm(w) for w in picked):
                picked.append(v)
            if len(picked) == 4:
                break
        if len(picked) == 4:
            rng.shuffle(picked)
            return picked[0], picked
    raise RuntimeError("could not build near-miss options")  # pragma: no cover


def mixed_text(rng: random.Random) -> str:
    """Distractor text: a word, two words, a code or a number."""
    r = rng.random()
    if r < 0.35:
        return word(rng)
    if r < 0.6:
        return f"{word(rng)} {word(rng, (1, 2))}"
    if r < 0.85:
        return code(rng, rng.choice(["AA99", "9A9A9", "A-999", "99:99", "AAA 99"]))
    return str(rng.randint(1, 99999))
