"""Scoring throughput per metric over generated predictions, beside a plain Python loop of the
same rule; prints ratios measured in this one run.

    python perf/scoring.py [--n 100000]

The plain loop for ANLS is the textbook dynamic-programming edit distance in Python; the target
is ANLS at least 10x that loop. The other metrics are printed as predictions per second.
"""

from __future__ import annotations

import argparse
import random
import string
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ps3_eval.scoring.anls import _fold, anls
from ps3_eval.scoring.relaxed import relaxed_accuracy
from ps3_eval.scoring.vqa import vqa_accuracy


def _edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _plain_anls(prediction: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    values = []
    for answer in answers:
        length = max(len(answer.upper()), len(prediction.upper()))
        distance = _edit_distance(_fold(answer), _fold(prediction))
        values.append(0.0 if length == 0 else distance / length)
    score = 1.0 - min(values)
    return score if score >= threshold else 0.0


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(0, 3)):
        if chars:
            chars[rng.randrange(len(chars))] = rng.choice(string.ascii_lowercase)
    return "".join(chars)


def _rate(fn: Callable[[str, Sequence[str]], float], pairs: list[tuple[str, list[str]]]) -> float:
    start = time.perf_counter()
    for prediction, answers in pairs:
        fn(prediction, answers)
    return len(pairs) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    a = ap.parse_args()
    rng = random.Random(0)
    words = ["invoice", "total", "date", "march 3 2021", "acme corp", "$1,250.00", "page 2"]
    doc = []
    for _ in range(a.n):
        answers = [rng.choice(words) + " " + rng.choice(words) for _ in range(rng.randint(1, 3))]
        doc.append((_mutate(rng, answers[0]), answers))
    vqa = [(rng.choice(["cat", "two", "the dog"]), rng.choices(["cat", "dog", "2"], k=10))
           for _ in range(a.n)]  # fmt: skip
    chart = [(f"{rng.uniform(0, 200):.1f}", [f"{rng.uniform(0, 200):.1f}"]) for _ in range(a.n)]

    fast = _rate(anls, doc)
    sample = doc[: max(1, a.n // 10)]  # the plain loop is slow: a tenth is enough for its rate
    plain = _rate(_plain_anls, sample)
    assert all(abs(anls(p, t) - _plain_anls(p, t)) < 1e-12 for p, t in sample[:2000])
    print(f"anls: {fast:,.0f} predictions/s  plain Python loop {plain:,.0f}/s  "
          f"ratio {fast / plain:.1f} (target >= 10)  (n={a.n})")  # fmt: skip
    print(f"vqa_accuracy: {_rate(vqa_accuracy, vqa):,.0f} predictions/s (10 answers each)")
    print(f"relaxed_accuracy: {_rate(relaxed_accuracy, chart):,.0f} predictions/s")


if __name__ == "__main__":
    main()
