"""VQA accuracy as TextVQA's official evaluator computes it (the EvalAI answer processor).

Both the prediction and each of the human answers are normalised the same way, then the score is
``min(#matching other answers / 3, 1)`` averaged over the leave-one-out subsets of the answers (ten
for TextVQA), so 3 or more agreeing humans give 1.0 and 2 give 0.6 (not 2/3).

The normaliser keeps the reference's quirks on purpose, because published numbers include them:

- commas and question marks are deleted before the punctuation pass, so the pass's "digit,digit"
  rule never fires (``"1,000"`` becomes ``"1000"``);
- a period is deleted unless a digit follows it (the reference's look-behind is a typo and never
  applies), so ``"3.5"`` keeps its period and ``"3."`` loses it; at most 32 are deleted (the
  reference passes ``re.UNICODE`` as the substitution count);
- the number words are "none" and "zero" to "ten" only, and the contraction table is the
  reference's, odd entries included (``"somebody'd"`` becomes ``"somebodyd"``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

__all__ = ["normalize_vqa_answer", "vqa_accuracy"]

# Contractions written without apostrophes, mapped to their written form (the reference table).
_CONTRACTIONS: dict[str, str] = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've",
    "couldnt": "couldn't", "couldn'tve": "couldn't've", "couldnt've": "couldn't've",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't",
    "hadnt've": "hadn't've", "hadn'tve": "hadn't've", "hasnt": "hasn't", "havent": "haven't",
    "hed": "he'd", "hed've": "he'd've", "he'dve": "he'd've", "hes": "he's", "howd": "how'd",
    "howll": "how'll", "hows": "how's", "Id've": "I'd've", "I'dve": "I'd've", "Im": "I'm",
    "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itd've": "it'd've", "it'dve": "it'd've",
    "itll": "it'll", "let's": "let's", "maam": "ma'am", "mightnt": "mightn't",
    "mightnt've": "mightn't've", "mightn'tve": "mightn't've", "mightve": "might've",
    "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't", "notve": "not've",
    "oclock": "o'clock", "oughtnt": "oughtn't", "ow's'at": "'ow's'at", "'ows'at": "'ow's'at",
    "'ow'sat": "'ow's'at", "shant": "shan't", "shed've": "she'd've", "she'dve": "she'd've",
    "she's": "she's", "shouldve": "should've", "shouldnt": "shouldn't",
    "shouldnt've": "shouldn't've", "shouldn'tve": "shouldn't've", "somebody'd": "somebodyd",
    "somebodyd've": "somebody'd've", "somebody'dve": "somebody'd've",
    "somebodyll": "somebody'll", "somebodys": "somebody's", "someoned": "someone'd",
    "someoned've": "someone'd've", "someone'dve": "someone'd've", "someonell": "someone'll",
    "someones": "someone's", "somethingd": "something'd", "somethingd've": "something'd've",
    "something'dve": "something'd've", "somethingll": "something'll", "thats": "that's",
    "thered": "there'd", "thered've": "there'd've", "there'dve": "there'd've",
    "therere": "there're", "theres": "there's", "theyd": "they'd", "theyd've": "they'd've",
    "they'dve": "they'd've", "theyll": "they'll", "theyre": "they're", "theyve": "they've",
    "twas": "'twas", "wasnt": "wasn't", "wed've": "we'd've", "we'dve": "we'd've",
    "weve": "we've", "werent": "weren't", "whatll": "what'll", "whatre": "what're",
    "whats": "what's", "whatve": "what've", "whens": "when's", "whered": "where'd",
    "wheres": "where's", "whereve": "where've", "whod": "who'd", "whod've": "who'd've",
    "who'dve": "who'd've", "wholl": "who'll", "whos": "who's", "whove": "who've",
    "whyll": "why'll", "whyre": "why're", "whys": "why's", "wont": "won't",
    "wouldve": "would've", "wouldnt": "wouldn't", "wouldnt've": "wouldn't've",
    "wouldn'tve": "wouldn't've", "yall": "y'all", "yall'll": "y'all'll", "y'allll": "y'all'll",
    "yall'd've": "y'all'd've", "y'alld've": "y'all'd've", "y'all'dve": "y'all'd've",
    "youd": "you'd", "youd've": "you'd've", "you'dve": "you'd've", "youll": "you'll",
    "youre": "you're", "youve": "you've",
}  # fmt: skip
_NUMBERS = {
    "none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}  # fmt: skip
_ARTICLES = frozenset({"a", "an", "the"})
_PUNCTUATION = (
    ";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`",
    ",", "?", "!",
)  # fmt: skip
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
_DIGIT_COMMA = re.compile(r"(?<=\d)(\,)+(?=\d)")
_MAX_PERIODS = 32  # re.UNICODE's value, which the reference passes as the count


def _punctuation(text: str) -> str:
    out = text
    digit_comma = _DIGIT_COMMA.search(text) is not None
    for p in _PUNCTUATION:
        # Deleted when it touches a space somewhere in the text (or a digit comma exists),
        # otherwise replaced by a space; the test looks at the text as it came in.
        if p + " " in text or " " + p in text or digit_comma:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD.sub("", out, count=_MAX_PERIODS)


def _digits_articles(text: str) -> str:
    words = [_NUMBERS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in _ARTICLES]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words)


# Human answers repeat across a benchmark (and across the ten annotators of one question).
@functools.lru_cache(maxsize=1 << 16)
def normalize_vqa_answer(text: str) -> str:
    """An answer as the reference's EvalAI processor leaves it (see the module's notes)."""
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return _digits_articles(_punctuation(text))


def vqa_accuracy(prediction: str, answers: Sequence[str]) -> float:
    """VQA accuracy of ``prediction`` against the human ``answers`` (leave-one-out, /3, capped).

    Returns 0.0 when there are no answers.
    """
    if not answers:
        return 0.0
    pred = normalize_vqa_answer(prediction)
    gts = [normalize_vqa_answer(a) for a in answers]
    hits = sum(g == pred for g in gts)
    # Leaving out answer i removes one match when answer i itself matches.
    total = sum(min(1.0, (hits - (g == pred)) / 3) for g in gts)
    return total / len(gts)
